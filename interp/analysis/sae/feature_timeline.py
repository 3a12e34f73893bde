"""Follow dictionary features across checkpoints: when each feature of the last dictionary appears, how it sharpens.

Given dictionaries of one site at checkpoints in step order, neighbours are matched one to one
(`interp.analysis.sae.matching`). A **track** starts at a feature of the last dictionary and follows its
matches back while the matched decoder cosine stays ≥ `threshold` (0.7); the first checkpoint of that unbroken
chain is where the feature **appears**. Per track and checkpoint:

- `feature_index`: the chained feature (-1 before the chain starts);
- `chain_cosine`: that feature's decoder cosine to the track's final direction (NaN before the chain);
- `nearest_cosine`: the best decoder cosine of any feature of that checkpoint to the final direction (defined
  everywhere, so sharpening shows before the chain starts too);
- with feature statistics (or activations): `density` and `max_activation` of the chained feature;
- with activations on shared held-out tokens and the tokens: the previous/current-token variance explained of
  the chained feature (`interp.analysis.sae.token_features`), and per checkpoint the count of previous- and
  current-token features among all of that dictionary's features.

Summary curves: per checkpoint the fraction of final features present (chained, and cosine to the final
direction ≥ threshold); per pair of neighbours the mean matched decoder cosine, the share of the later
dictionary's features matched at ≥ threshold and, with activations, the mean activation correlation.

`activations` may be any sequence (a lazy one that loads on indexing is fine): each checkpoint's activations
are read once, in order, and at most two are held at a time.

>>> import torch
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> early, middle, late = (SparseDictionary(d_in=16, n_features=4, kind="relu", seed=0) for _ in range(3))
>>> with torch.no_grad():            # feature 3 of the last dictionary is new: a direction no earlier one has
...     _ = late.W_dec[3].copy_(SparseDictionary(d_in=16, n_features=1, kind="relu", seed=9).W_dec[0])
>>> timeline = feature_timeline([(0, early), (100, middle), (1000, late)])
>>> timeline.appearance_step.tolist(), timeline.fraction_present.tolist()
([0, 0, 0, 1000], [0.75, 0.75, 1.0])
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool, Float, Int
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.matching import decoder_directions, match_features
from interp.analysis.sae.token_features import CUTOFF, token_feature_scores
from interp.core.errors import ConfigError, DataError
from interp.core.io import atomic_directory, commit_directory, json_ready, read_json, write_json

THRESHOLD = 0.7  # matched decoder cosine a chain needs at every link
TENSORS, META = "feature_timeline.safetensors", "feature_timeline.json"
NAN = float("nan")


@dataclass(frozen=True, eq=False)
class FeatureStatistics:
    """Per feature: the fraction of tokens it fires on, and its largest activation."""

    density: Float[Tensor, " features"]
    max_activation: Float[Tensor, " features"]

    @classmethod
    def of(cls, activations: Float[Tensor, "... features"]) -> "FeatureStatistics":
        acts = activations.detach().reshape(-1, activations.shape[-1])
        return cls(density=(acts > 0).float().mean(0).cpu(), max_activation=acts.amax(0).float().cpu())


@dataclass(frozen=True, eq=False)
class FeatureTimeline:
    """Tracks of the last dictionary's features back through the checkpoints; see the module doc."""

    steps: tuple[int, ...]
    threshold: float
    n_features: tuple[int, ...]
    feature_index: Int[Tensor, "track step"]
    chain_cosine: Float[Tensor, "track step"]
    nearest_cosine: Float[Tensor, "track step"]
    mean_neighbour_cosine: Float[Tensor, " interval"]
    matched_fraction: Float[Tensor, " interval"]
    mean_neighbour_correlation: Float[Tensor, " interval"] | None = None
    density: Float[Tensor, "track step"] | None = None
    max_activation: Float[Tensor, "track step"] | None = None
    token_cutoff: float = CUTOFF
    previous_explained: Float[Tensor, "track step"] | None = None
    current_explained: Float[Tensor, "track step"] | None = None
    previous_token_features: Int[Tensor, " step"] | None = None
    current_token_features: Int[Tensor, " step"] | None = None

    @property
    def n_tracks(self) -> int:
        return int(self.feature_index.shape[0])

    @property
    def chained(self) -> Bool[Tensor, "track step"]:
        return self.feature_index >= 0

    @property
    def present(self) -> Bool[Tensor, "track step"]:
        """Chained, and the chained feature's decoder cosine to the final direction ≥ threshold."""
        return self.chained & (self.chain_cosine.nan_to_num(-2.0) >= self.threshold)

    @property
    def fraction_present(self) -> Float[Tensor, " step"]:
        return self.present.float().mean(0)

    @property
    def appearance(self) -> Int[Tensor, " track"]:
        """Index (into `steps`) of the first checkpoint of each track's unbroken chain."""
        return len(self.steps) - self.chained.sum(1)

    @property
    def appearance_step(self) -> Int[Tensor, " track"]:
        return torch.tensor(self.steps, dtype=torch.long)[self.appearance]

    @property
    def has_statistics(self) -> bool:
        return self.density is not None

    @property
    def has_token_scores(self) -> bool:
        return self.previous_token_features is not None

    def top_tracks(self, n: int = 8) -> list[int]:
        """`n` tracks worth drawing: the densest at the last checkpoint when statistics were given, otherwise
        tracks spread evenly over the order of appearance (latest first)."""
        n = min(n, self.n_tracks)
        if n <= 0:
            return []
        if self.density is not None:
            return self.density[:, -1].nan_to_num(-1.0).argsort(descending=True, stable=True)[:n].tolist()
        order = self.appearance.argsort(descending=True, stable=True).tolist()
        return [order[round(i * (len(order) - 1) / max(n - 1, 1))] for i in range(n)] if n > 1 else order[:1]

    def tensors(self) -> dict[str, Tensor]:
        """Every tensor field that is set, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), Tensor)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tensors as (nested) lists, NaN as None, plus the derived appearance and presence curves."""
        out: dict[str, Any] = {"steps": list(self.steps), "threshold": self.threshold, "n_features": list(self.n_features)}
        out["token_cutoff"] = self.token_cutoff
        out.update({name: tensor.tolist() for name, tensor in self.tensors().items()})
        out["appearance_step"] = self.appearance_step.tolist()
        out["fraction_present"] = self.fraction_present.tolist()
        return json_ready(out)


def _statistic(stats: Any, name: str) -> Tensor:
    value = stats[name] if isinstance(stats, Mapping) else getattr(stats, name, None)
    if value is None:
        raise DataError(f"feature statistics must give {name!r} per feature (e.g. a FeatureStatistics)")
    return torch.as_tensor(value).detach().float().cpu()


def _check(
    dictionaries: Sequence[tuple[int, SparseDictionary]], activations: Sequence | None, statistics: Sequence | None, tokens
) -> None:
    if not dictionaries:
        raise ConfigError("give at least one (step, dictionary)")
    steps = [step for step, _ in dictionaries]
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ConfigError(f"checkpoints must be in increasing step order without repeats, got steps {steps}")
    for name, given in (("activations", activations), ("statistics", statistics)):
        if given is not None and len(given) != len(dictionaries):
            raise ConfigError(f"give {name} for every checkpoint: {len(given)} for {len(dictionaries)} dictionaries")
    if tokens is not None and activations is None:
        raise ConfigError("token scores need each dictionary's feature activations on those tokens: pass activations")


def feature_timeline(
    dictionaries: Sequence[tuple[int, SparseDictionary]],
    *,
    activations: Sequence[Float[Tensor, "... features"]] | None = None,
    statistics: Sequence[Any] | None = None,
    tokens: Int[Tensor, "batch pos"] | None = None,
    threshold: float = THRESHOLD,
    token_cutoff: float = CUTOFF,
) -> FeatureTimeline:
    """Match neighbours, chain the matches into tracks and measure them; see the module doc.

    `activations[i]` holds dictionary i's feature activations on the same held-out tokens for every i
    ([batch pos features] when `tokens` [batch pos] is given, else any `... features`). `statistics[i]` has
    `density` and `max_activation` per feature (attributes or keys); without it they come from `activations`.
    """
    _check(dictionaries, activations, statistics, tokens)
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
    saes = [sae for _, sae in dictionaries]
    partners, link_cosine, mean_cosine, matched, mean_correlation = [], [], [], [], []
    stats: list[tuple[Tensor, Tensor] | None] = []
    scores = []
    previous_acts = None
    for t, sae in enumerate(saes):
        acts = None if activations is None else activations[t].detach()
        if acts is not None and acts.shape[-1] != sae.n_features:
            raise DataError(f"activations of checkpoint {t} have {acts.shape[-1]} features, its dictionary {sae.n_features}")
        if statistics is not None:
            stats.append((_statistic(statistics[t], "density"), _statistic(statistics[t], "max_activation")))
        elif acts is not None:
            of = FeatureStatistics.of(acts)
            stats.append((of.density, of.max_activation))
        else:
            stats.append(None)
        scores.append(None if tokens is None else token_feature_scores(acts, tokens))
        if t > 0:
            matching = match_features(saes[t - 1], sae, activations_a=previous_acts, activations_b=acts)
            partners.append(matching.partner_of_b())
            link_cosine.append(matching.pair_values_of_b(matching.decoder_cosine))
            mean_cosine.append(float(matching.decoder_cosine.mean()) if matching.n_pairs else NAN)
            matched.append(float((matching.decoder_cosine >= threshold).sum()) / sae.n_features)
            if matching.activation_correlation is not None:
                defined = matching.activation_correlation[matching.correlation_defined]
                mean_correlation.append(float(defined.mean()) if defined.numel() else NAN)
        previous_acts = acts

    n_steps, final = len(saes), decoder_directions(saes[-1])
    index = torch.full((final.shape[0], n_steps), -1, dtype=torch.long)
    index[:, -1] = torch.arange(final.shape[0])
    for t in range(n_steps - 2, -1, -1):
        later = index[:, t + 1]
        safe = later.clamp_min(0)
        candidate, cosine = partners[t][safe], link_cosine[t][safe]
        keep = (later >= 0) & (candidate >= 0) & (cosine.nan_to_num(-2.0) >= threshold)
        index[:, t] = torch.where(keep, candidate, -1)
    chained, safe = index >= 0, index.clamp_min(0)

    def per_track(values: Sequence[Tensor]) -> Tensor:
        columns = [v.float()[safe[:, t]] for t, v in enumerate(values)]
        return torch.where(chained, torch.stack(columns, dim=1), torch.full(index.shape, NAN))

    chain_cosine = torch.empty(index.shape, dtype=torch.float64)
    nearest = torch.empty(index.shape, dtype=torch.float64)
    for t, sae in enumerate(saes):
        directions = decoder_directions(sae)
        chain_cosine[:, t] = (final * directions[safe[:, t]]).sum(-1)
        nearest[:, t] = (final @ directions.T).amax(1)
    has_stats = all(s is not None for s in stats)
    return FeatureTimeline(
        steps=tuple(int(step) for step, _ in dictionaries),
        threshold=float(threshold),
        n_features=tuple(sae.n_features for sae in saes),
        feature_index=index,
        chain_cosine=torch.where(chained, chain_cosine, NAN).float(),
        nearest_cosine=nearest.float(),
        mean_neighbour_cosine=torch.tensor(mean_cosine, dtype=torch.float32),
        matched_fraction=torch.tensor(matched, dtype=torch.float32),
        mean_neighbour_correlation=torch.tensor(mean_correlation, dtype=torch.float32) if activations is not None else None,
        density=per_track([s[0] for s in stats]) if has_stats else None,
        max_activation=per_track([s[1] for s in stats]) if has_stats else None,
        token_cutoff=float(token_cutoff),
        previous_explained=per_track([s.previous_explained for s in scores]) if tokens is not None else None,
        current_explained=per_track([s.current_explained for s in scores]) if tokens is not None else None,
        previous_token_features=(
            torch.tensor([int(s.previous_token_features(token_cutoff).sum()) for s in scores]) if tokens is not None else None
        ),
        current_token_features=(
            torch.tensor([int(s.current_token_features(token_cutoff).sum()) for s in scores]) if tokens is not None else None
        ),
    )


# ---- files -------------------------------------------------------------------------------------------------


def save_feature_timeline(timeline: FeatureTimeline, out_dir: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write `feature_timeline.safetensors` + `feature_timeline.json` to `out_dir`, replacing an earlier one whole.

    >>> import tempfile
    >>> from interp.analysis.sae.dictionary import SparseDictionary
    >>> timeline = feature_timeline([(s, SparseDictionary(d_in=8, n_features=4, kind="relu", seed=s)) for s in (1, 2)])
    >>> out = save_feature_timeline(timeline, Path(tempfile.mkdtemp()) / "features", extra={"site": "resid_post0"})
    >>> back = load_feature_timeline(out)
    >>> torch.equal(back.feature_index, timeline.feature_index), back.steps, read_json(out / META)["site"]
    (True, (1, 2), 'resid_post0')
    """
    meta = {
        "steps": list(timeline.steps),
        "threshold": timeline.threshold,
        "n_features": list(timeline.n_features),
        "token_cutoff": timeline.token_cutoff,
        **(extra or {}),
    }
    out_dir = Path(out_dir)
    tmp = atomic_directory(out_dir)
    save_file({k: v.detach().cpu().contiguous() for k, v in timeline.tensors().items()}, str(tmp / TENSORS))
    write_json(tmp / META, json_ready(meta))
    commit_directory(tmp, out_dir)
    return out_dir


def load_feature_timeline(out_dir: Path) -> FeatureTimeline:
    """The timeline saved in `out_dir` by save_feature_timeline."""
    out_dir = Path(out_dir)
    if not (out_dir / META).is_file() or not (out_dir / TENSORS).is_file():
        raise DataError(f"{out_dir} holds no feature timeline ({META} and {TENSORS}); write one with save_feature_timeline")
    try:
        meta, tensors = read_json(out_dir / META), load_file(str(out_dir / TENSORS))
    except (SafetensorError, OSError, ValueError) as error:
        raise DataError(f"{out_dir} holds an unreadable feature timeline ({error}); write it again") from None
    names = {f.name for f in fields(FeatureTimeline)}
    required = ("feature_index", "chain_cosine", "nearest_cosine", "mean_neighbour_cosine", "matched_fraction")
    missing = [name for name in required if name not in tensors]
    if missing:
        raise DataError(f"{out_dir / TENSORS} is not a feature timeline: it lacks {', '.join(missing)}")
    threshold = meta.get("threshold")
    return FeatureTimeline(
        steps=tuple(meta["steps"]),
        threshold=math.nan if threshold is None else float(threshold),
        n_features=tuple(meta["n_features"]),
        token_cutoff=float(meta.get("token_cutoff", CUTOFF)),
        **{name: tensor for name, tensor in tensors.items() if name in names},
    )


__all__ = [
    "FeatureStatistics",
    "FeatureTimeline",
    "THRESHOLD",
    "feature_timeline",
    "load_feature_timeline",
    "save_feature_timeline",
]
