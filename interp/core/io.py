"""The one home for writing result files: JSON, CSV and text written atomically, and directories published whole.

Every writer goes through `atomic_file`: the content lands in a hidden temporary sibling (`.NAME.tmp-XXXX`) that
replaces NAME in one rename, so a reader (or a resumed run after a kill) sees the old file or the whole new one,
never half of it. `atomic_directory` + `commit_directory` do the same for a directory (a checkpoint).

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> path = write_json(folder / "result.json", {"loss": 2.5, "nan": float("nan")}, indent=1)
>>> read_json(path)["loss"]
2.5
>>> json_ready({"nan": float("nan"), "rows": [1.0, float("inf")]})
{'nan': None, 'rows': [1.0, None]}
>>> write_csv(folder / "rows.csv", [{"name": "L0H1", "effect": 0.25}]).read_text().splitlines()
['name,effect', 'L0H1,0.25']
"""

import contextlib
import csv
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMPORARY_MARK = ".tmp-"  # in the name of every temporary sibling; what a killed writer leaves carries it


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends without an error it replaces `path`.

    On an error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are private (0600) and the rename would keep that; these get the usual permissions.
    tmp = path.with_name(f".{path.name}{TEMPORARY_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str, *, encoding: str | None = None) -> Path:
    """Write `text` to `path` atomically. `encoding=None` is the platform default, as `Path.write_text` has it."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def json_text(data: Any, *, indent: int | None = 2, allow_nan: bool = True) -> str:
    """The JSON interp writes: `json.dumps` with insertion-ordered keys and one trailing newline."""
    return json.dumps(data, indent=indent, allow_nan=allow_nan) + "\n"


def write_json(path: Path, data: Any, *, indent: int | None = 2, allow_nan: bool = True) -> Path:
    """Write `data` as JSON atomically. With `allow_nan=False` a NaN is an error: pass it through `json_ready`."""
    return write_text(path, json_text(data, indent=indent, allow_nan=allow_nan))


def append_json_line(path: Path, record: Any) -> Path:
    """Append `record` as one line of JSON Lines (`json.dumps` defaults, then a newline) in a single write.

    Not atomic: a process killed mid-append can leave a torn last line, which readers of a .jsonl log drop.

    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> _ = append_json_line(log, {"step": 0}); _ = append_json_line(log, {"step": 1})
    >>> log.read_text()
    '{"step": 0}\\n{"step": 1}\\n'
    """
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    return Path(path)


def remove_leftover_temporaries(path: Path) -> list[Path]:
    """Delete the temporary siblings (`.NAME.tmp-*`) a killed `atomic_file` left beside `path`; returns them.

    Only call this when no other process is writing `path`.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "run.json"
    >>> _ = (target.parent / f".run.json{TEMPORARY_MARK}123-abcd").write_text("{")
    >>> [p.name for p in remove_leftover_temporaries(target)], list(target.parent.iterdir())
    (['.run.json.tmp-123-abcd'], [])
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    prefix = f".{path.name}{TEMPORARY_MARK}"  # startswith, not glob: a name may hold glob characters
    leftovers = sorted(p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.is_file())
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def read_json(path: Path) -> Any:
    """Parse a JSON file (UTF-8). Raises OSError or json.JSONDecodeError; callers turn those into their own error."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_json_object(path: Path, *, error: type[Exception], what: str) -> dict[str, Any]:
    """A JSON object from `path`, or `error` with one line naming the file and `what` it belongs to
    ("the checkpoint", "the dictionary file") when it is missing, is not valid JSON or holds something else."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path.parent} is incomplete: {path.name} is missing ({what})")
    try:
        data = read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{path} is not valid JSON ({problem}); {what} is corrupted") from None
    if not isinstance(data, dict):
        raise error(f"{path} holds a JSON {type(data).__name__}, not an object; {what} is corrupted")
    return data


def json_ready(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (JSON has no NaN), recursively; tuples become lists."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write dict rows as CSV atomically, columns in first-seen order; floats keep full precision."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_file(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return Path(path)


def atomic_directory(final: Path) -> Path:
    """A temporary sibling directory (`.NAME.tmp-XXXX`) to fill, then publish as `final` with `commit_directory`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}{TEMPORARY_MARK}", dir=final.parent))


def commit_directory(tmp: Path, final: Path) -> None:
    """Publish the complete directory `tmp` as `final` (replacing an old one), durably, in one rename."""
    for child in tmp.iterdir():  # make the file contents durable before the rename publishes them
        with open(child, "rb") as handle:
            os.fsync(handle.fileno())
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.rename(final, trash)
        os.rename(tmp, final)
        shutil.rmtree(trash)
    else:
        os.rename(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
