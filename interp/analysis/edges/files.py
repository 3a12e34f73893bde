"""Save and load circuit timelines: tensors as safetensors, everything else as JSON, in one directory.

`save_timeline` fills a temporary sibling directory and publishes it in one rename, so an interrupted write
leaves any earlier result untouched. `load_timeline` gives back an equal CircuitTimeline.

>>> import tempfile
>>> import interp
>>> from interp.tasks import induction_task
>>> from interp.analysis.edges.timeline import circuit_timeline
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints
>>> timeline = circuit_timeline(checkpoints, induction_task(16, n=8, half=4), method="eap")
>>> out = save_timeline(timeline, Path(tempfile.mkdtemp()) / "circuit", extra={"task": "induction"})
>>> sorted(p.name for p in out.iterdir())
['timeline.json', 'timeline.safetensors']
>>> back = load_timeline(out)
>>> torch.equal(back.effects, timeline.effects), back.circuit.edge_names == timeline.circuit.edge_names
(True, True)
>>> read_json(out / "timeline.json")["task"]
'induction'
"""

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from interp.analysis.edges.circuit import Circuit
from interp.analysis.edges.faithfulness import FaithfulnessCurve
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.timeline import CircuitTimeline
from interp.core.errors import DataError
from interp.core.io import atomic_directory, commit_directory, json_ready, read_json, write_json

TENSORS, META = "timeline.safetensors", "timeline.json"


def save_timeline(timeline: CircuitTimeline, out_dir: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write `timeline.safetensors` and `timeline.json` to `out_dir` (replacing an earlier result whole)."""
    curve = timeline.curve
    tensors = {
        "effects": timeline.effects,
        "scores": timeline.scores,
        "metric_clean": timeline.metric_clean,
        "metric_corrupted": timeline.metric_corrupted,
        "metric_circuit": timeline.metric_circuit,
        "circuit_faithfulness": timeline.circuit_faithfulness,
        "circuit": timeline.circuit.keep.to(torch.uint8),
        "curve_requested": curve.requested,
        "curve_fractions": curve.fractions,
        "curve_faithfulness": curve.faithfulness,
        "curve_rows": curve.rows,
        "curve_circuits": torch.stack([c.keep for c in curve.circuits]).to(torch.uint8),
    }
    meta = {
        "graph": timeline.graph.to_dict(),
        "edges": list(timeline.graph.edges),
        "method": timeline.method,
        "steps": list(timeline.steps),
        "tokens_seen": list(timeline.tokens_seen),
        "target": timeline.target,
        "circuit_edges": list(timeline.circuit.edge_names),
        "cpr": curve.cpr,
        "cmd": curve.cmd,
        "seconds": timeline.seconds,
        **(extra or {}),
    }
    out_dir = Path(out_dir)
    tmp = atomic_directory(out_dir)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp / TENSORS))
    write_json(tmp / META, json_ready(meta))
    commit_directory(tmp, out_dir)
    return out_dir


def load_timeline(out_dir: Path) -> CircuitTimeline:
    """The timeline saved in `out_dir` by save_timeline."""
    out_dir = Path(out_dir)
    if not (out_dir / META).is_file() or not (out_dir / TENSORS).is_file():
        raise DataError(f"{out_dir} holds no circuit timeline ({META} and {TENSORS}); write one with interp circuit")
    meta, t = read_json(out_dir / META), load_file(str(out_dir / TENSORS))
    graph = Graph(**meta["graph"])
    curve = FaithfulnessCurve(
        requested=t["curve_requested"],
        fractions=t["curve_fractions"],
        faithfulness=t["curve_faithfulness"],
        rows=t["curve_rows"],
        circuits=tuple(Circuit(graph, keep.bool()) for keep in t["curve_circuits"]),
    )
    return CircuitTimeline(
        graph=graph,
        method=meta["method"],
        steps=tuple(meta["steps"]),
        tokens_seen=tuple(meta["tokens_seen"]),
        effects=t["effects"],
        metric_clean=t["metric_clean"],
        metric_corrupted=t["metric_corrupted"],
        metric_circuit=t["metric_circuit"],
        circuit=Circuit(graph, t["circuit"].bool()),
        curve=curve,
        target=meta["target"],
        seconds=meta["seconds"],
    )
