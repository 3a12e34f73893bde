"""Which features are about the current token, and which about the previous one.

For each feature, its activations on a token set are grouped by the identity of the token at that position
(current) and, separately, of the token one position earlier (previous). Two measures per grouping:

- `share`: the best single token's share of the feature's activation mass (sum of activations where that token
  sits, over the sum everywhere), with that token in `token`;
- `explained`: the variance the grouping explains, 1 − within-group variance / total variance (the correlation
  ratio η²): 1 when the token alone fixes the activation, near 0 when it says nothing.

A feature "the previous token was X" — what a layer-1 induction head's K-composition reads from a layer-0
residual stream — has `previous_explained` ≈ 1 and a low `current_explained`. Position 0 has no previous token,
so both groupings use positions 1 onward (the same tokens for both). A feature that never varies there (dead)
scores 0 everywhere with token -1. By chance alone a grouping into G tokens explains about (G − 1) / positions
of any feature's variance, so score on many more positions than the vocabulary has tokens.

>>> import torch
>>> tokens = torch.randint(0, 10, (16, 24), generator=torch.Generator().manual_seed(0))
>>> after_5 = torch.zeros(16, 24); after_5[:, 1:] = (tokens[:, :-1] == 5).float()   # "the previous token was 5"
>>> on_7 = (tokens == 7).float() * 2.0                                                # "this token is 7"
>>> scores = token_feature_scores(torch.stack([after_5, on_7], dim=-1), tokens)
>>> int(scores.previous_token[0]), float(scores.previous_share[0]), int(scores.current_token[1])
(5, 1.0, 7)
>>> [round(v, 2) for v in scores.previous_explained.tolist()], [round(v, 2) for v in scores.current_explained.tolist()]
([1.0, 0.02], [0.01, 1.0])
>>> scores.previous_token_features().tolist(), scores.current_token_features().tolist()
([True, False], [False, True])
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.core.errors import DataError

CUTOFF = 0.5  # variance explained above which a feature counts as a token feature
CHUNK_ELEMENTS = 1 << 22  # elements per working block


@dataclass(frozen=True, eq=False)
class TokenFeatureScores:
    """Per feature: activation mass, and for each grouping (current, previous token) the best token, its
    share of the mass, and the variance explained. See the module doc."""

    n_positions: int
    mass: Float[Tensor, " features"]
    current_token: Int[Tensor, " features"]
    current_share: Float[Tensor, " features"]
    current_explained: Float[Tensor, " features"]
    previous_token: Int[Tensor, " features"]
    previous_share: Float[Tensor, " features"]
    previous_explained: Float[Tensor, " features"]

    @property
    def n_features(self) -> int:
        return int(self.mass.numel())

    def previous_token_features(self, cutoff: float = CUTOFF) -> Bool[Tensor, " features"]:
        """Features the previous token explains (≥ `cutoff`) better than the current one does."""
        return (self.previous_explained >= cutoff) & (self.previous_explained > self.current_explained)

    def current_token_features(self, cutoff: float = CUTOFF) -> Bool[Tensor, " features"]:
        """Features the current token explains (≥ `cutoff`) better than the previous one does."""
        return (self.current_explained >= cutoff) & (self.current_explained > self.previous_explained)

    def to_dict(self) -> dict:
        out: dict = {"n_positions": self.n_positions}
        for name in ("mass", "current_token", "current_share", "current_explained", "previous_token", "previous_share"):
            out[name] = getattr(self, name).tolist()
        out["previous_explained"] = self.previous_explained.tolist()
        return out


def _grouped(
    values: Float[Tensor, "tokens features"], groups: Int[Tensor, " tokens"], mass: Tensor, total_variance: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Best group (token id), its share of the mass, and the variance explained, for grouping by `groups`.

    Group sums are added in the activations' dtype (float32: fast), everything after them in float64.
    """
    ids, inverse = torch.unique(groups, return_inverse=True)
    counts = torch.bincount(inverse, minlength=len(ids)).double()
    n_tokens, n_features = values.shape
    overall = mass / n_tokens
    chunk = max(1, min(n_features, CHUNK_ELEMENTS // len(ids)))
    best, share, between = [], [], []
    for start in range(0, n_features, chunk):
        block = values[:, start : start + chunk]
        sums = torch.zeros(len(ids), block.shape[1], dtype=block.dtype, device=block.device).index_add_(0, inverse, block)
        sums = sums.double()
        top = sums.max(0)
        best.append(ids[top.indices])
        share.append(top.values / mass[start : start + chunk].clamp_min(1e-300))
        between.append((counts[:, None] * (sums / counts[:, None] - overall[start : start + chunk]).square()).sum(0))
    alive = total_variance > 0
    explained = torch.where(alive, torch.cat(between) / total_variance.clamp_min(1e-300), torch.zeros_like(total_variance))
    token = torch.where(alive, torch.cat(best), torch.full_like(torch.cat(best), -1))
    share = torch.where(alive & (mass > 0), torch.cat(share), torch.zeros_like(mass))
    return token.cpu(), share.clamp(0.0, 1.0).float().cpu(), explained.clamp(0.0, 1.0).float().cpu()


def token_feature_scores(
    feature_acts: Float[Tensor, "batch pos features"], tokens: Int[Tensor, "batch pos"]
) -> TokenFeatureScores:
    """Score every feature by how much the current and the previous token identity explain it; see the module doc."""
    if feature_acts.dim() != 3 or tuple(feature_acts.shape[:2]) != tuple(tokens.shape):
        raise DataError(
            f"feature activations [batch pos features] must match the tokens [batch pos]: got {tuple(feature_acts.shape)} "
            f"and {tuple(tokens.shape)}"
        )
    if tokens.shape[1] < 2:
        raise DataError(f"scoring the previous token needs rows of at least 2 positions, got {tokens.shape[1]}")
    values = feature_acts[:, 1:].reshape(-1, feature_acts.shape[-1]).detach()
    current = tokens[:, 1:].reshape(-1).to(values.device)
    previous = tokens[:, :-1].reshape(-1).to(values.device)
    if values.dtype not in (torch.float32, torch.float64):
        values = values.float()
    # Column sums over chunks of tokens, each chunk reduced in the activations' dtype, added in float64.
    rows = max(1, CHUNK_ELEMENTS // values.shape[1])
    chunks = range(0, values.shape[0], rows)
    mass = sum(values[i : i + rows].sum(0).double() for i in chunks)
    centre = (mass / values.shape[0]).to(values.dtype)
    total = sum((values[i : i + rows] - centre).square().sum(0).double() for i in chunks)
    # Zero variance up to rounding (a dead or constant feature): nothing to explain.
    total = torch.where(total > 1e-12 * values.shape[0] * (1.0 + centre.double().square()), total, torch.zeros_like(total))
    current_token, current_share, current_explained = _grouped(values, current, mass, total)
    previous_token, previous_share, previous_explained = _grouped(values, previous, mass, total)
    return TokenFeatureScores(
        n_positions=int(values.shape[0]),
        mass=mass.float().cpu(),
        current_token=current_token,
        current_share=current_share,
        current_explained=current_explained,
        previous_token=previous_token,
        previous_share=previous_share,
        previous_explained=previous_explained,
    )


__all__ = ["CUTOFF", "TokenFeatureScores", "token_feature_scores"]
