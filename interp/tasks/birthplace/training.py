"""The birthplace experiment: span-corruption pretraining on biographies, QA finetuning, held-out evaluation.

Three settings, as in the minGPT assignment, all scored by exact match of the greedy answer on the dev
people (who appear only in the pretraining corpus):

- "london": always answer the most common birthplace (London);
- "finetune_only": finetune a freshly initialised model on the train people's QA pairs (`scratch_finetune`);
- "pretrain_finetune": pretrain with span corruption on every biography, then finetune (`finetune`).

Checkpoints are written with `interp.train.checkpoints.save_checkpoint` (standard model) or `save_perceiver`.

>>> import tempfile
>>> small, short = {"n_layers": 1, "d_model": 32, "d_head": 8, "d_mlp": 64}, {"steps": 2, "batch_size": 4}
>>> tiny = BirthplaceConfig.from_dict({"corpus": {"n_people": 20}, "model": small, "pretrain": {"steps": 4, "batch_size": 4},
...     "finetune": short, "scratch_finetune": short})
>>> out = Path(tempfile.mkdtemp()) / "birthplace"
>>> results = run_experiment(tiny, out)                            # a second; the defaults take about 10 minutes
>>> [(r.setting, r.dev_total, r.pretrain_steps) for r in results]  # 30% of the 20 people are held out (dev)
[('london', 6, 0), ('finetune_only', 6, 0), ('pretrain_finetune', 6, 4)]
>>> sorted(path.name for path in out.iterdir()), sorted(path.name for path in (out / "pretrain_finetune").iterdir())
(['birthplace.json', 'finetune_only', 'pretrain_finetune', 'results.json'], ['finetune', 'pretrain'])
"""

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from interp.core.errors import CheckpointError, ConfigError
from interp.core.io import write_json
from interp.model.build import build_model
from interp.tasks.birthplace.biographies import BiographyCorpus, make_corpus, most_common_birthplace
from interp.tasks.birthplace.config import BirthplaceConfig, CorpusConfig
from interp.tasks.birthplace.finetune import BatchFn, LoopResult, train_on_rows
from interp.tasks.birthplace.qa import qa_rows
from interp.tasks.birthplace.qa_eval import QAResult, constant_answer_accuracy, exact_match
from interp.tasks.birthplace.span_corruption import Rows, char_vocabulary, span_corruption_rows
from interp.text.tokenizers import CharTokenizer, tokenizer_from_dict
from interp.train.checkpoints import save_checkpoint
from interp.train.config import TrainConfig
from interp.variants.perceiver_ar import PerceiverAR, PerceiverARConfig
from interp.variants.perceiver_ar_io import load_any_model, read_tokenizer, save_perceiver

SETTINGS = ("london", "finetune_only", "pretrain_finetune")
CONFIG_FILE = "birthplace.json"
RESULTS_FILE = "results.json"
Log = Callable[[str], None]


@dataclass(frozen=True)
class BirthplaceData:
    corpus: BiographyCorpus
    tokenizer: CharTokenizer

    @classmethod
    def prepare(cls, cfg: CorpusConfig) -> "BirthplaceData":
        corpus = make_corpus(
            n_people=cfg.n_people, dev_fraction=cfg.dev_fraction, docs_per_person=cfg.docs_per_person, seed=cfg.seed
        )
        return cls(corpus=corpus, tokenizer=char_vocabulary(corpus.text))


@dataclass(frozen=True)
class SettingResult:
    """One row of the results table."""

    setting: str
    architecture: str
    dev_accuracy: float
    dev_correct: int
    dev_total: int
    train_accuracy: float | None
    n_params: int
    pretrain_steps: int
    pretrain_seconds: float
    finetune_seconds: float
    pretrain_loss: float | None
    finetune_loss: float | None
    examples: tuple[tuple[str, str, str], ...]  # (question, answer, prediction) for a few dev people


def build_birthplace_model(cfg: BirthplaceConfig, vocab_size: int):
    """A freshly initialised standard model or PerceiverAR variant, seeded by `cfg.model.seed`."""
    model_cfg = cfg.model.with_vocab(vocab_size)
    if cfg.architecture == "perceiver_ar":
        return PerceiverAR(PerceiverARConfig.from_model_config(model_cfg, cfg.n_latents))
    return build_model(model_cfg)


def _rng(seed: int, step: int) -> random.Random:
    return random.Random(seed * 1_000_003 + step)


def pretraining_batches(data: BirthplaceData, cfg: BirthplaceConfig) -> BatchFn:
    """Step -> a batch of freshly span-corrupted documents, drawn with replacement (seeded by step)."""
    docs, corpus, train = data.corpus.documents, cfg.corpus, cfg.pretrain

    def batch(step: int) -> Rows:
        rng = _rng(train.seed, step)
        chosen = [docs[rng.randrange(len(docs))] for _ in range(train.batch_size)]
        return span_corruption_rows(chosen, data.tokenizer, block_size=corpus.block_size, rng=rng, side=corpus.pad_side)

    return batch


def finetuning_batches(data: BirthplaceData, cfg: BirthplaceConfig, train: TrainConfig | None = None) -> BatchFn:
    """Step -> a batch of the train people's QA rows, drawn with replacement (seeded by step); batch size and
    seed from `train` (default `cfg.finetune`)."""
    pairs, corpus, train = data.corpus.qa_pairs("train"), cfg.corpus, train or cfg.finetune
    rows = qa_rows(pairs, data.tokenizer, block_size=corpus.block_size, side=corpus.pad_side)

    def batch(step: int) -> Rows:
        index = torch.randint(
            len(pairs), (train.batch_size,), generator=torch.Generator().manual_seed(train.seed * 1_000_003 + step)
        )
        return Rows(inputs=rows.inputs[index], targets=rows.targets[index])

    return batch


def evaluate(model, data: BirthplaceData, cfg: BirthplaceConfig, split: str = "dev", limit: int | None = None) -> QAResult:
    pairs = data.corpus.qa_pairs(split)[:limit]
    return exact_match(model, data.tokenizer, pairs, block_size=cfg.corpus.block_size, side=cfg.corpus.pad_side)


def save_stage(path: Path, model, cfg: BirthplaceConfig, data: BirthplaceData, result: LoopResult) -> Path:
    """Save a trained model with its tokenizer, step count and final loss, and the experiment config
    (`birthplace.json`, next to the checkpoint files) that `evaluate` and `finetune` read back."""
    metrics = {"train_loss": result.final_loss, "seconds": result.seconds}
    tokenizer = data.tokenizer.to_dict()
    if isinstance(model, PerceiverAR):
        path = save_perceiver(path, model, step=result.steps, tokenizer=tokenizer, metrics=metrics)
    else:
        model_cfg = cfg.model.with_vocab(data.tokenizer.vocab_size)
        path = save_checkpoint(
            path, model, model_cfg, step=result.steps, tokens_seen=0, tokenizer=tokenizer, metrics=metrics
        ).path
    write_json(path / CONFIG_FILE, cfg.to_dict())
    return path


def load_stage(path: Path) -> tuple[torch.nn.Module, CharTokenizer, BirthplaceConfig]:
    """A saved model (standard or PerceiverAR), its tokenizer and the experiment config it was trained with."""
    path = Path(path)
    tokenizer = read_tokenizer(path) if (path / "config.json").exists() else None
    if tokenizer is None or not (path / CONFIG_FILE).exists():
        raise CheckpointError(f"{path} is not a checkpoint written by the birthplace experiment (no tokenizer or {CONFIG_FILE})")
    cfg = BirthplaceConfig.from_dict(json.loads((path / CONFIG_FILE).read_text()))
    return load_any_model(path), tokenizer_from_dict(tokenizer), cfg


def _logger(log: Log | None, label: str):
    if log is None:
        return None
    return lambda step, loss: log(f"{label} step {step}: loss {loss:.4f}")


def pretrain(model, data: BirthplaceData, cfg: BirthplaceConfig, *, log: Log | None = None) -> LoopResult:
    return train_on_rows(model, pretraining_batches(data, cfg), cfg.pretrain, on_log=_logger(log, "pretrain"))


def finetune(model, data: BirthplaceData, cfg: BirthplaceConfig, *, pretrained: bool, log: Log | None = None) -> LoopResult:
    """Finetune on the train people's QA pairs with `cfg.finetune` (pretrained) or `cfg.scratch_finetune`."""
    train = cfg.finetune if pretrained else cfg.scratch_finetune
    return train_on_rows(model, finetuning_batches(data, cfg, train), train, on_log=_logger(log, "finetune"))


def run_setting(
    setting: str,
    cfg: BirthplaceConfig,
    out_dir: Path,
    *,
    data: BirthplaceData | None = None,
    log: Log | None = None,
    train_eval_limit: int = 400,
) -> SettingResult:
    """Run one setting end to end, saving its checkpoints under `out_dir/setting/`."""
    if setting not in SETTINGS:
        raise ConfigError(f"setting must be one of {SETTINGS}, got {setting!r}")
    data = data or BirthplaceData.prepare(cfg.corpus)
    dev_pairs = data.corpus.qa_pairs("dev")
    if setting == "london":
        answer = most_common_birthplace(data.corpus.train_people)  # what a baseline can know: the train people
        dev = constant_answer_accuracy(dev_pairs, answer)
        train = constant_answer_accuracy(data.corpus.qa_pairs("train"), answer)
        return SettingResult(
            setting, "none", dev.accuracy, dev.correct, dev.total, train.accuracy, 0, 0, 0.0, 0.0, None, None, ()
        )
    if cfg.pretrain.threads:
        torch.set_num_threads(cfg.pretrain.threads)
    model = build_birthplace_model(cfg, data.tokenizer.vocab_size)
    folder = Path(out_dir) / setting
    pre = None
    if setting == "pretrain_finetune":
        pre = pretrain(model, data, cfg, log=log)
        save_stage(folder / "pretrain", model, cfg, data, pre)
    fine = finetune(model, data, cfg, pretrained=pre is not None, log=log)
    save_stage(folder / "finetune", model, cfg, data, fine)
    dev = evaluate(model, data, cfg, "dev")
    train = evaluate(model, data, cfg, "train", limit=train_eval_limit)
    examples = tuple((q, a, p) for (q, a), p in list(zip(dev_pairs, dev.predictions))[:8])
    return SettingResult(
        setting=setting,
        architecture=cfg.architecture,
        dev_accuracy=dev.accuracy,
        dev_correct=dev.correct,
        dev_total=dev.total,
        train_accuracy=train.accuracy,
        n_params=sum(p.numel() for p in model.parameters()),
        pretrain_steps=pre.steps if pre else 0,
        pretrain_seconds=pre.seconds if pre else 0.0,
        finetune_seconds=fine.seconds,
        pretrain_loss=pre.final_loss if pre else None,
        finetune_loss=fine.final_loss,
        examples=examples,
    )


def run_experiment(
    cfg: BirthplaceConfig, out_dir: Path, *, settings: tuple[str, ...] = SETTINGS, log: Log | None = None
) -> list[SettingResult]:
    """Run the settings one after another; writes `birthplace.json` (config) and `results.json` to out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / CONFIG_FILE, cfg.to_dict())
    data = BirthplaceData.prepare(cfg.corpus)
    results = []
    for setting in settings:
        results.append(run_setting(setting, cfg, out_dir, data=data, log=log))
        write_results(out_dir, results)
    return results


def write_results(out_dir: Path, results: list[SettingResult]) -> Path:
    return write_json(Path(out_dir) / RESULTS_FILE, [asdict(r) for r in results])


def format_table(results: list[SettingResult]) -> str:
    """The results as a fixed-width text table."""
    lines = [
        f"{'setting':<18} {'arch':<13} {'dev acc':>8} {'train acc':>9} {'params':>9} {'pt steps':>8} {'pretrain s':>10} {'finetune s':>10}"
    ]
    for r in results:
        train = "-" if r.train_accuracy is None else f"{r.train_accuracy:.3f}"
        lines.append(
            f"{r.setting:<18} {r.architecture:<13} {r.dev_accuracy:>8.3f} {train:>9} {r.n_params:>9,} {r.pretrain_steps:>8} "
            f"{r.pretrain_seconds:>10.0f} {r.finetune_seconds:>10.0f}"
        )
    return "\n".join(lines)
