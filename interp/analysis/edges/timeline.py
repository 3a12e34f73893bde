"""Circuits across training: edge scores at every chosen checkpoint of a run, and the last circuit through time.

`circuit_timeline(checkpoints, task, method=...)` scores every edge at each checkpoint (one architecture, the model
built once), then takes the circuit of the last checkpoint — the smallest pruned top-k circuit of its
faithfulness curve that reaches `target` (0.8), or the largest if none does — and measures that circuit's
faithfulness at every earlier checkpoint. Early checkpoints barely separate clean from corrupted, so their
faithfulness divides by a small gap; `metric_clean` and `metric_circuit` give the same in metric units.

>>> import tempfile, torch
>>> from pathlib import Path
>>> import interp
>>> from interp.tasks import induction_task
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints   # 1 s
>>> timeline = circuit_timeline(checkpoints, induction_task(checkpoints[-1].config.d_vocab, n=8, half=4), method="eap")
>>> timeline.effects.shape[0] == len(checkpoints), timeline.graph.n_edges      # 2 layers of 2 heads
(True, 29)
"""

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.core.task import Task
from interp.analysis.edges.acdc import check_threshold, prune_greedily
from interp.analysis.edges.attribution import METHODS as ATTRIBUTION_METHODS
from interp.analysis.edges.attribution import attribution_scores, check_options
from interp.analysis.edges.circuit import Circuit
from interp.analysis.edges.exact import exact_scores
from interp.analysis.edges.faithfulness import FaithfulnessCurve, circuit_rows, faithfulness_curve
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.problem import prepare
from interp.analysis.edges.scores import EdgeScores
from interp.core.errors import DataError
from interp.train.checkpoints import Checkpoint, load_into

METHODS = ("exact", "eap", "eap-ig", "acdc")
LOG_CHECKPOINTS = 12  # how many checkpoints "log" keeps


@dataclass(frozen=True, eq=False)
class CircuitTimeline:
    """Edge scores per checkpoint, the last checkpoint's circuit and curve, and that circuit through training."""

    graph: Graph
    method: str
    steps: tuple[int, ...]
    tokens_seen: tuple[int, ...]
    effects: Float[Tensor, "checkpoint edge"]
    metric_clean: Float[Tensor, " checkpoint"]
    metric_corrupted: Float[Tensor, " checkpoint"]
    metric_circuit: Float[Tensor, " checkpoint"]
    circuit: Circuit
    curve: FaithfulnessCurve
    target: float
    seconds: float

    @property
    def scores(self) -> Float[Tensor, "checkpoint edge"]:
        """Effects as shares of each checkpoint's clean-corrupted gap."""
        return self.effects / (self.metric_clean - self.metric_corrupted)[:, None]

    @property
    def circuit_faithfulness(self) -> Float[Tensor, " checkpoint"]:
        """Faithfulness of the last checkpoint's circuit at every checkpoint."""
        return (self.metric_circuit - self.metric_corrupted) / (self.metric_clean - self.metric_corrupted)

    def top_edges(self, k: int = 8) -> list[int]:
        """The k edges of largest |score| at the last checkpoint."""
        return self.scores[-1].abs().argsort(descending=True)[:k].tolist()


def select_checkpoints(checkpoints: Sequence[Checkpoint], which: str = "all") -> list[Checkpoint]:
    """ "all"; "log" (at most LOG_CHECKPOINTS spread evenly over log(step + 1), first and last kept); or steps
    "STEP,STEP,..." (each must exist)."""
    checkpoints = list(checkpoints)
    if not checkpoints:
        raise DataError("the run has no checkpoints; train it first (interp train)")
    if which == "all":
        return checkpoints
    if which == "log":
        if len(checkpoints) <= LOG_CHECKPOINTS:
            return checkpoints
        logs = torch.tensor([math.log1p(c.step) for c in checkpoints])
        wanted = torch.linspace(float(logs[0]), float(logs[-1]), LOG_CHECKPOINTS)
        picked = sorted({int((logs - value).abs().argmin()) for value in wanted})
        return [checkpoints[i] for i in picked]
    by_step = {c.step: c for c in checkpoints}
    try:
        steps = [int(part) for part in which.split(",") if part.strip()]
    except ValueError:
        raise DataError(f"checkpoints must be all, log or steps like 0,100,1000; got {which!r}") from None
    missing = [step for step in steps if step not in by_step]
    if missing or not steps:
        raise DataError(f"no checkpoint at step {missing or which}; the run has steps {', '.join(map(str, by_step))}")
    return [by_step[step] for step in sorted(set(steps))]


def method_scorer(method: str, *, steps: int = 5, ig_on: str = "inputs", threshold: float = 0.01) -> Callable:
    """`scorer(problem) -> EdgeScores` for one of METHODS, on a prepared (noising) problem; options are checked
    here, before any checkpoint is loaded."""
    if method == "exact":
        return exact_scores
    if method in ATTRIBUTION_METHODS:
        check_options(method, steps, ig_on)
        return lambda problem: attribution_scores(problem, method, steps, ig_on)
    if method == "acdc":
        check_threshold(threshold)
        return lambda problem: prune_greedily(problem, threshold).scores
    raise DataError(f"unknown circuit method {method!r}; choose one of {', '.join(METHODS)}")


def circuit_timeline(
    checkpoints: Sequence[Checkpoint],
    task: Task,
    *,
    method: str = "eap-ig",
    target: float = 0.8,
    progress: Callable[[Checkpoint], None] | None = None,
    **options,
) -> CircuitTimeline:
    """Score every edge at each checkpoint with `method` (options: steps, ig_on, threshold; see method_scorer)."""
    from interp.model.build import build_model

    started = time.perf_counter()
    scorer = method_scorer(method, **options)
    if not checkpoints:
        raise DataError("no checkpoints to follow; train a run first (interp train)")
    config = checkpoints[0].config
    if any(c.config != config for c in checkpoints):
        raise DataError("the checkpoints hold different architectures; follow one run at a time")
    model = build_model(config)

    def problems():
        """Each checkpoint's prepared problem, in turn (a snapshot shares the model's tensors: use it before the next)."""
        for ckpt in checkpoints:
            load_into(model, ckpt.path, config)
            yield ckpt, prepare(model.eval(), task)

    results: list[EdgeScores] = []
    for ckpt, problem in problems():
        if progress is not None:
            progress(ckpt)
        results.append(scorer(problem))
    graph = results[-1].graph
    curve = faithfulness_curve(model, task, results[-1].scores)
    circuit = curve.smallest(target) or curve.circuits[int(curve.faithfulness.argmax())]
    metric_circuit = torch.stack([circuit_rows(problem, [circuit])[0].mean() for _, problem in problems()])
    return CircuitTimeline(
        graph=graph,
        method=results[-1].method,
        steps=tuple(c.step for c in checkpoints),
        tokens_seen=tuple(c.tokens_seen for c in checkpoints),
        effects=torch.stack([r.effects for r in results]),
        metric_clean=torch.tensor([r.clean for r in results]),
        metric_corrupted=torch.tensor([r.corrupted for r in results]),
        metric_circuit=metric_circuit,
        circuit=circuit,
        curve=curve,
        target=target,
        seconds=time.perf_counter() - started,
    )
