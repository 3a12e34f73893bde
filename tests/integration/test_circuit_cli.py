"""`interp circuit` on the planted induction run: the planted edges form the circuit, files and page are written,
and bad input is one line with nothing written."""

import json

import pytest
from helpers.cli_run import run_cli, tree_digest
from helpers.planted_induction import save_planted_run

from interp.analysis.edges.files import load_timeline


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_planted_run(tmp_path_factory.mktemp("runs") / "planted")


@pytest.mark.parametrize("method", ["exact", "eap-ig"])
def test_circuit_command_finds_the_planted_circuit(run_dir, tmp_path, method):
    out = tmp_path / "circuit"
    code, stdout, stderr = run_cli("circuit", run_dir, "--method", method, "--n", "16", "--out", out)
    assert code == 0, stderr
    assert "phase change at steps 20-100" in stdout
    timeline = load_timeline(out)
    assert timeline.steps == (0, 10, 20, 100)
    circuit = set(timeline.circuit.edge_names)
    assert {"L0H0->L1H0.k", "L1H0->logits"} <= circuit
    assert float(timeline.circuit_faithfulness[-1]) >= 0.8
    key = timeline.graph.edge("L0H0->L1H0.k")
    assert timeline.effects[-1, key] > timeline.effects[0, key] + 0.5  # the key edge grows with the planted weights
    meta = json.loads((out / "timeline.json").read_text())
    assert meta["method"].startswith(method) and meta["n"] == 16 and meta["phase"]["detected"]
    html = (out / "circuit.html").read_text()
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html


def test_circuit_command_refuses_a_missing_step_and_writes_nothing(run_dir, tmp_path):
    out = tmp_path / "circuit"
    before = tree_digest(run_dir)
    code, _, stderr = run_cli("circuit", run_dir, "--checkpoints", "0,55", "--out", out)
    assert code == 2 and "no checkpoint at step [55]" in stderr and len(stderr.strip().splitlines()) == 1
    assert not out.exists() and tree_digest(run_dir) == before


def test_circuit_command_refuses_an_unknown_task(run_dir, tmp_path):
    code, _, stderr = run_cli("circuit", run_dir, "--task", "birthdays", "--out", tmp_path / "c")
    assert code == 2 and "unknown task 'birthdays'" in stderr
    assert not (tmp_path / "c").exists()
