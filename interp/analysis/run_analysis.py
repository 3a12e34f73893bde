"""Everything a run report shows, computed in one place: training curves, induction over checkpoints,
circuits and an ablation study at one checkpoint, and attention patterns on example inputs.

Analysis only: `interp.report.run_report` renders the result.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> analysis = analyse_run(run_dir, progress=False, log=lambda line: None)
>>> analysis.series.steps, analysis.ablation.effects.shape
((0, 1, 10), torch.Size([2, 2]))
>>> analysis.phase.message                                 # ten steps teach no induction head
'...'
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from interp.analysis.ablation.study import AblationResult, ablation_study
from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.core.task import Task
from interp.analysis.edges.timeline import CircuitTimeline, circuit_timeline, select_checkpoints
from interp.analysis.induction.phase import PhaseChange
from interp.analysis.induction.series import CheckpointEvaluation, InductionSeries, evaluate_model, evaluate_series, probe_for_run
from interp.analysis.sae.feature_timeline import FeatureTimeline, load_feature_timeline
from interp.analysis.sae.run_dictionaries import DictionaryEntry, run_dictionaries, run_timelines
from interp.analysis.summaries.circuits import CircuitSummary, summarise_circuits
from interp.text.tokenizers import Tokenizer, tokenizer_from_dict
from interp.train.checkpoints import Checkpoint, list_checkpoints, load_model, resolve_checkpoint
from interp.train.config import RunConfig
from interp.train.loop import RUN_FILE, read_metrics

CACHE_DIR = Path("models/cache")


@dataclass(frozen=True)
class AttentionExample:
    """Attention patterns of every layer on one input row, with display strings for its tokens."""

    title: str
    tokens: list[str]
    patterns: Float[Tensor, "layer head query_pos key_pos"]


@dataclass(frozen=True)
class RunAnalysis:
    run_dir: Path
    run: RunConfig | None
    checkpoint: Checkpoint
    metrics: list[dict]
    bigram_val_loss: float | None
    series: InductionSeries
    phase: PhaseChange
    evaluation: CheckpointEvaluation
    circuits: CircuitSummary
    ablation: AblationResult
    ablation_source: str
    attention: list[AttentionExample]
    seconds: dict[str, float] = field(default_factory=dict)
    circuit: CircuitTimeline | None = None
    dictionaries: list[DictionaryEntry] = field(default_factory=list)  # the run's sparse dictionaries (RUN/saes/)
    feature_timelines: list[tuple[str, FeatureTimeline]] = field(default_factory=list)


def display_tokens(tokenizer: Tokenizer | None, ids: list[int]) -> list[str]:
    """Token strings a reader can see: whitespace made visible, unknown tokenizers shown as ids."""
    if tokenizer is None:
        return [str(i) for i in ids]
    visible = {"\n": "⏎", " ": "·", "\t": "⇥"}
    return ["".join(visible.get(ch, ch) for ch in s) or "∅" for s in tokenizer.token_strings(ids)]


@torch.no_grad()
def attention_example(model, tokens: Tensor, title: str, tokenizer: Tokenizer | None) -> AttentionExample:
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens[None], names_filter=lambda name: name in names)
    patterns = torch.stack([cache[name][0] for name in names])
    return AttentionExample(title=title, tokens=display_tokens(tokenizer, tokens.tolist()), patterns=patterns)


def analyse_run(
    run_dir: Path,
    *,
    step: int | None = None,
    ablation_method: str = "mean",
    ablation_rows: int = 64,
    probe_rows: int = 32,
    circuit_task: Task | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RunAnalysis:
    """Analyse every checkpoint of `run_dir` for induction, and checkpoint `step` (default: the last) in depth;
    with `circuit_task`, also the circuit of that task (EAP-IG) at about a dozen log-spaced checkpoints up to it."""
    run_dir = Path(run_dir)
    seconds: dict[str, float] = {}
    checkpoints = list_checkpoints(run_dir)
    target = resolve_checkpoint(run_dir, step)
    tokenizer = tokenizer_from_dict(target.tokenizer) if target.tokenizer else None

    started = time.perf_counter()
    probe = probe_for_run(target, batch=probe_rows, cache_dir=CACHE_DIR)
    bar = tqdm(total=len(checkpoints), desc="induction", unit="ckpt", disable=not progress)
    series = evaluate_series(checkpoints, probe, progress=lambda ckpt: bar.update(1))
    bar.close()
    phase = series.phase_change()
    seconds["induction series"] = time.perf_counter() - started
    log(phase.message)

    started = time.perf_counter()
    model = load_model(target)
    evaluation = evaluate_model(model, probe)
    circuits = summarise_circuits(model, evaluation, probe, step=target.step)
    seconds["circuits"] = time.perf_counter() - started

    started = time.perf_counter()
    rows, source = evaluation_tokens(target, n_rows=ablation_rows, cache_dir=CACHE_DIR)
    ablation = ablation_study(model, rows, method=ablation_method, over="heads", metric="loss")
    seconds["ablation"] = time.perf_counter() - started

    examples = [attention_example(model, probe.repeated[0], "a random sequence repeated twice", tokenizer)]
    if probe.text is not None:
        examples.append(attention_example(model, probe.text[0], "held-out text", tokenizer))

    timeline = None
    if circuit_task is not None:
        started = time.perf_counter()
        chosen = select_checkpoints([c for c in checkpoints if c.step <= target.step], "log")
        bar = tqdm(total=len(chosen), desc="circuit", unit="ckpt", disable=not progress)
        timeline = circuit_timeline(chosen, circuit_task, method="eap-ig", progress=lambda ckpt: bar.update(1))
        bar.close()
        seconds["circuit timeline"] = time.perf_counter() - started

    info = json.loads((run_dir / RUN_FILE).read_text()) if (run_dir / RUN_FILE).exists() else {}
    feature_timelines = [(path.parent.name, load_feature_timeline(path)) for path in run_timelines(run_dir)]
    return RunAnalysis(
        run_dir=run_dir,
        run=target.run,
        checkpoint=target,
        metrics=read_metrics(run_dir),
        bigram_val_loss=info.get("bigram_val_loss"),
        series=series,
        phase=phase,
        evaluation=evaluation,
        circuits=circuits,
        ablation=ablation,
        ablation_source=source,
        attention=examples,
        seconds=seconds,
        circuit=timeline,
        dictionaries=run_dictionaries(run_dir),
        feature_timelines=feature_timelines,
    )
