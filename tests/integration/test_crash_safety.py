"""Crash safety: `interp train` killed with SIGKILL at random moments never leaves a torn checkpoint, and
`--resume` reaches the same bytes as an uninterrupted run. Plus the NaN/inf guard seen through the CLI."""

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from interp.train.checkpoints import CHECKPOINTS_DIR, list_checkpoints, load_model, load_training_state, read_checkpoint

HERE = Path(__file__).resolve().parent
TINY = [
    "train", "--preset", "attn-only-1l", "--no-progress",
    "--set", "data.corpus='none'", "--set", "data.repeated_fraction=1.0",
    "--set", "data.span_min=2", "--set", "data.span_max=6",
    "--set", "model.n_ctx=16", "--set", "model.d_model=32", "--set", "model.d_head=8",
    "--set", "train.threads=1", "--set", "train.batch_size=4", "--set", "train.eval_batches=1",
    "--set", "train.eval_every=10", "--set", "train.n_checkpoints=6", "--set", "train.checkpoint_every=10",
]  # fmt: skip
STEPS = 300


class Launcher:
    """Talks to tests/helpers/train_launcher.py: forks `interp train` children from one warm interpreter."""

    def __init__(self, cwd: Path):
        self.errors = cwd / "launcher.err"
        with open(self.errors, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE.parent / "helpers" / "train_launcher.py")],
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        self.pending = b""
        self.child: int | None = None  # the running child's pid

    def _line(self, timeout: float | None) -> str | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            assert chunk, f"the launcher died: {self.errors.read_text()[-2000:]}"
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def start(self, argv: list[str], log: Path) -> int:
        self.proc.stdin.write((json.dumps({"argv": [str(a) for a in argv], "log": str(log)}) + "\n").encode())
        self.proc.stdin.flush()
        self.child = int(self._line(timeout=120).split()[1])
        return self.child

    def exit_code(self, timeout: float | None = 0.0) -> int | None:
        """The child's exit status once it has ended (negative: killed by that signal), else None."""
        line = self._line(timeout)
        if line is None:
            return None
        self.child = None
        return int(line.split()[1])

    def kill(self) -> None:
        try:
            os.kill(self.child, signal.SIGKILL)
        except ProcessLookupError:  # it ended on its own a moment ago
            pass

    def close(self) -> None:
        """Stop the launcher; a child still running (the test failed midway) is killed first."""
        if self.child is not None:
            self.kill()
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _entries(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def _kill_when(launcher: Launcher, folder: Path, ready) -> int:
    """Poll until `ready(names in checkpoints/)` and SIGKILL the child then; its exit status (0 if it finished first)."""
    while True:
        code = launcher.exit_code(timeout=0.0005)
        if code is not None:
            return code
        if ready(_entries(folder)):
            launcher.kill()
            return launcher.exit_code(timeout=60)


def _check_every_checkpoint_loads(run_dir: Path, verified: set[str]) -> None:
    """Every published checkpoint directory (not starting with '.') is whole: metadata, weights, optimizer, RNG."""
    for name in _entries(run_dir / CHECKPOINTS_DIR):
        if name.startswith(".") or name in verified:
            continue
        ckpt = read_checkpoint(run_dir / CHECKPOINTS_DIR / name)
        load_model(ckpt)
        load_training_state(ckpt)
        verified.add(name)


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    rng = random.Random(20240611)
    launcher = Launcher(tmp_path)
    args = TINY + ["--set", f"train.steps={STEPS}"]
    try:
        straight, killed = tmp_path / "straight", tmp_path / "killed"
        launcher.start(args + ["--out", straight], tmp_path / "straight.log")
        assert launcher.exit_code(timeout=300) == 0, (tmp_path / "straight.log").read_text()

        folder, verified, kills, in_write = killed / CHECKPOINTS_DIR, set(), 0, 0
        # "early": any moment from process start (data, model, run.json, checkpoint 0); "write": right after a
        # checkpoint's temporary directory appears, i.e. inside save_checkpoint; "timer": a random moment later on.
        for attempt, plan in enumerate(["early", "write", "timer", "write", "timer", "write"]):
            resume = ["--resume"] if (killed / "run.json").exists() else []
            before = set(_entries(folder))
            launcher.start(args + ["--out", killed] + resume, tmp_path / f"attempt{attempt}.log")
            if plan == "early":
                deadline = time.monotonic() + rng.uniform(0.0, 0.6)
                code = _kill_when(launcher, folder, lambda names, deadline=deadline: time.monotonic() >= deadline)
            elif plan == "write":
                nth, writes = rng.randint(1, 3), set()

                def inside_nth_write(names, writes=writes, nth=nth, before=before):
                    writes.update(n for n in names if ".tmp-" in n and n not in before)
                    return len(writes) >= nth and any(n in writes for n in names if ".tmp-" in n)

                code = _kill_when(launcher, folder, inside_nth_write)
            else:
                delay, started = rng.uniform(0.0, 0.3), []

                def later(names, started=started, delay=delay, before=before):
                    if not started and set(names) - before - {n for n in names if n.startswith(".")}:
                        started.append(time.monotonic())  # the resumed run has made progress
                    return bool(started) and time.monotonic() >= started[0] + delay

                code = _kill_when(launcher, folder, later)
            assert code in (-signal.SIGKILL, 0), (tmp_path / f"attempt{attempt}.log").read_text()
            if code == -signal.SIGKILL:
                kills += 1
                in_write += any(".tmp-" in n and n not in before for n in _entries(folder))  # a torn write it left
            _check_every_checkpoint_loads(killed, verified)

        launcher.start(args + ["--out", killed, "--resume"], tmp_path / "final.log")
        assert launcher.exit_code(timeout=300) == 0, (tmp_path / "final.log").read_text()
    finally:
        launcher.close()

    print(f"kills survived: {kills}, of which inside a checkpoint write: {in_write}")
    assert kills >= 4 and in_write >= 1
    assert not [n for n in _entries(folder) if n.startswith(".")], "leftover temporary checkpoint directories"
    _check_every_checkpoint_loads(killed, verified)
    # Bit-identical: every file of every checkpoint, and the metrics log.
    assert (killed / "metrics.jsonl").read_bytes() == (straight / "metrics.jsonl").read_bytes()
    steps = [c.step for c in list_checkpoints(straight)]
    assert [c.step for c in list_checkpoints(killed)] == steps and steps[-1] == STEPS
    for name in sorted(_entries(straight / CHECKPOINTS_DIR)):
        for file in sorted((straight / CHECKPOINTS_DIR / name).iterdir()):
            assert (killed / CHECKPOINTS_DIR / name / file.name).read_bytes() == file.read_bytes(), f"{name}/{file.name}"


# ---- what a crash leaves behind, one piece at a time (in-process, fast) --------------------------------------


def test_resume_cleans_leftovers_and_drops_a_torn_metrics_line(tmp_path):
    from helpers.cli_run import TINY_TRAIN, run_cli

    run = tmp_path / "run"
    assert run_cli("train", *TINY_TRAIN, "--out", run)[0] == 0
    expected_metrics = (run / "metrics.jsonl").read_bytes()
    last = list_checkpoints(run)[-1]
    # Pretend a kill hit during the last checkpoint write and the metrics append, and an overwrite before that.
    final_files = {p.name: p.read_bytes() for p in last.path.iterdir()}
    for p in last.path.iterdir():
        p.unlink()
    last.path.rename(run / CHECKPOINTS_DIR / f".{last.path.name}.tmp-abc123")
    (run / CHECKPOINTS_DIR / ".step_000003.old-4242").mkdir()
    (run / "metrics.jsonl").write_bytes(expected_metrics + b'{"step": 13, "tokens_se')

    code, _, err = run_cli("train", "--resume", "--out", run)
    assert code == 0, err
    assert [n for n in os.listdir(run / CHECKPOINTS_DIR) if n.startswith(".")] == []
    assert (run / "metrics.jsonl").read_bytes() == expected_metrics
    assert {p.name: p.read_bytes() for p in last.path.iterdir()} == final_files


def test_a_run_killed_before_its_first_checkpoint_resumes_from_scratch(tmp_path):
    from helpers.cli_run import TINY_TRAIN, run_cli

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli("train", *TINY_TRAIN, "--out", straight)[0] == 0
    # what a kill inside the first checkpoint write leaves: run.json, step 0's record, a half-written step 0
    (killed / CHECKPOINTS_DIR / ".step_000000.tmp-xyz").mkdir(parents=True)
    (killed / CHECKPOINTS_DIR / ".step_000000.tmp-xyz" / "model.safetensors").write_bytes(b"\x00" * 10)
    (killed / "run.json").write_text((straight / "run.json").read_text())
    (killed / "metrics.jsonl").write_text('{"step": 0, "tokens_seen": 0, "val_repeated": 4.0}\n')
    code, _, err = run_cli("train", "--resume", "--out", killed)
    assert code == 0, err
    assert (killed / "metrics.jsonl").read_bytes() == (straight / "metrics.jsonl").read_bytes()
    assert [c.step for c in list_checkpoints(killed)] == [c.step for c in list_checkpoints(straight)]


def test_divergence_through_the_cli_is_one_line_exit_2_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from helpers.cli_run import TINY_TRAIN, run_cli

    import interp.train.loop as loop

    real, calls = loop.next_token_loss, [0]

    def exploding(logits, tokens):
        calls[0] += 1
        value = real(logits, tokens)
        return value * float("inf") if calls[0] > 6 else value  # training steps and evaluations share the count

    monkeypatch.setattr(loop, "next_token_loss", exploding)
    run = tmp_path / "run"
    code, _, err = run_cli("train", *TINY_TRAIN, "--out", run)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and ("not finite" in lines[0] or "loss became" in lines[0]), lines[0]
    assert "last good checkpoint is kept" in lines[0] and "Lower train.lr" in lines[0]
    kept = list_checkpoints(run)
    assert kept and kept[-1].step < 12
    for ckpt in kept:
        assert all(torch.isfinite(p).all() for p in load_model(ckpt).parameters())
        assert all(v == v and abs(v) != float("inf") for v in ckpt.metrics.values())


@pytest.mark.parametrize("keep", [1, 2])
def test_resuming_from_an_early_checkpoint_rewrites_the_rest_identically(tmp_path, keep):
    """keep=1: only step 0 survived (resume must not log or save step 0 again)."""
    import shutil

    from helpers.cli_run import TINY_TRAIN, run_cli, tree_digest

    straight = tmp_path / "straight"
    assert run_cli("train", *TINY_TRAIN, "--out", straight)[0] == 0
    killed = Path(shutil.copytree(straight, tmp_path / "killed"))
    for ckpt in list_checkpoints(killed)[keep:]:
        shutil.rmtree(ckpt.path)  # metrics.jsonl keeps the later records, as after a kill between log and save
    assert run_cli("train", "--resume", "--out", killed)[0] == 0
    assert tree_digest(killed) == tree_digest(straight)
