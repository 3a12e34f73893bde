"""The io additions the training loop uses: appending a JSON line, and clearing what a killed atomic write left."""

import json

from interp.core.io import (
    TEMPORARY_MARK,
    append_json_line,
    atomic_file,
    remove_leftover_temporaries,
)


def test_append_json_line_writes_json_dumps_defaults_and_one_newline(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [{"step": 0, "val": 4.25}, {"step": 1, "loss": float("nan")}]
    for record in records:
        append_json_line(path, record)
    assert path.read_bytes() == "".join(json.dumps(r) + "\n" for r in records).encode()


def test_remove_leftover_temporaries_removes_only_that_files_temporaries(tmp_path):
    target = tmp_path / "run.json"
    target.write_text("{}\n")
    leftover = tmp_path / f".run.json{TEMPORARY_MARK}4242-abcd1234"
    other = tmp_path / f".metrics.jsonl{TEMPORARY_MARK}4242-abcd1234"
    for path in (leftover, other):
        path.write_text("{")
    assert remove_leftover_temporaries(target) == [leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, other.name])
    assert remove_leftover_temporaries(tmp_path / "missing" / "run.json") == []


def test_the_temporaries_removed_are_those_atomic_file_names(tmp_path):
    target = tmp_path / "run.json"
    with atomic_file(target) as tmp:
        tmp.write_text("half")  # what a kill at this moment would leave
        leftover = tmp.with_name(tmp.name + "-copy")
        leftover.write_text("half")
    assert remove_leftover_temporaries(target) == [leftover]
    assert target.read_text() == "half" and list(tmp_path.iterdir()) == [target]
