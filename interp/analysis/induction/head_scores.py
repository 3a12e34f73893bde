"""Per-head scores from one forward pass on an `InductionProbe`: where each head attends, and what it copies.

Every attention score is the mean attention probability a head puts on its target keys, over the queries
that have such targets (Olsson et al., "In-context Learning and Induction Heads"):

- previous-token: the key right before the query (every query after the first token of r or of the
  filler, on both kinds of probe rows).
- induction: on rows [bos] r r, the key right after the previous occurrence of the query's token (for the
  second copy: q - half + 1). The usual induction score; with one period for all rows, a layer-0 head that
  attends a fixed distance back can fake it.
- prefix-matching: on repeated-span rows, for queries in the span's copy, the attention mass on every
  earlier key whose previous token is the query's token (Olsson's prefix matching: "attends to tokens that
  were preceded by the current token"). The copy is at a different distance in every row, so a fixed
  positional offset fails here, while a head that matches one or several tokens of prefix succeeds.
- duplicate-token: on repeated-span rows, for queries in the copy, the attention mass on earlier keys that
  hold the query's own token.
- copying: see `copying_scores`.

Each score is reported for every [layer head]; 1 means all attention on the targets, a uniform head scores
about (number of targets)/(number of keys).

>>> previous = torch.eye(4).roll(-1, dims=1).tril()          # query q attends to key q-1 (row 0: nowhere)
>>> previous_token_scores(previous[None, None, None], offset=0)  # [layer batch head query key] -> [layer head]
tensor([[1.]])
"""

from dataclasses import dataclass, fields

import einops
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.analysis.induction.probes import InductionProbe, previous_occurrence

SCORE_NAMES = ("previous_token", "induction", "prefix_matching", "duplicate_token", "copying")


@dataclass(frozen=True)
class HeadScores:
    """Scores per head; the leading `*checkpoint` axis is absent for one model and present for a series."""

    previous_token: Float[Tensor, "*checkpoint layer head"]
    induction: Float[Tensor, "*checkpoint layer head"]
    prefix_matching: Float[Tensor, "*checkpoint layer head"]
    duplicate_token: Float[Tensor, "*checkpoint layer head"]
    copying: Float[Tensor, "*checkpoint layer head"]

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def at(self, index: int) -> "HeadScores":
        """The [layer head] scores of checkpoint `index` of a series."""
        return HeadScores(**{name: value[index] for name, value in self.as_dict().items()})

    @classmethod
    def stack(cls, items: list["HeadScores"]) -> "HeadScores":
        """One HeadScores with a leading checkpoint axis from a list of per-checkpoint scores."""
        return cls(**{name: torch.stack([getattr(s, name) for s in items]) for name in SCORE_NAMES})


def attention_to(
    patterns: Float[Tensor, "layer batch head query key"],
    target: Int[Tensor, "batch query"],
    valid: Bool[Tensor, "batch query"],
) -> Float[Tensor, "layer head"]:
    """Mean attention on key `target[b, q]` over the (b, q) where `valid` (NaN if none is valid)."""
    n_layers, _, n_heads, _, _ = patterns.shape
    index = target.clamp(min=0)[None, :, None, :, None].expand(n_layers, -1, n_heads, -1, 1)
    on_target = patterns.gather(-1, index)[..., 0]
    weight = valid[None, :, None, :].to(on_target.dtype)
    return (on_target * weight).sum((1, 3)) / weight.sum((1, 3))


def previous_token_scores(patterns: Float[Tensor, "layer batch head query key"], *, offset: int) -> Float[Tensor, "layer head"]:
    """Attention to the key right before each query, for queries after position `offset` (skips BOS)."""
    batch, query = patterns.shape[1], patterns.shape[3]
    q = torch.arange(query).expand(batch, query)
    return attention_to(patterns, q - 1, q >= offset + 1)


def after_previous_occurrence_scores(
    patterns: Float[Tensor, "layer batch head query key"],
    tokens: Int[Tensor, "batch pos"],
    previous: Int[Tensor, "batch pos"] | None = None,
) -> Float[Tensor, "layer head"]:
    """Attention to the key right after the previous occurrence of the query's token (the induction target).

    Queries whose previous occurrence is the key right before them are skipped: there, the target is the
    query itself. `previous` (= `previous_occurrence(tokens)`) may be passed in to reuse it.
    """
    previous = previous_occurrence(tokens) if previous is None else previous
    q = torch.arange(tokens.shape[1]).expand_as(tokens)
    return attention_to(patterns, previous + 1, (previous >= 0) & (previous + 1 < q))


def duplicate_token_scores(
    patterns: Float[Tensor, "layer batch head query key"],
    tokens: Int[Tensor, "batch pos"],
    previous: Int[Tensor, "batch pos"] | None = None,
) -> Float[Tensor, "layer head"]:
    """Attention to the previous occurrence of the query's own token."""
    previous = previous_occurrence(tokens) if previous is None else previous
    return attention_to(patterns, previous, previous >= 0)


def copying_scores(
    patterns: Float[Tensor, "layer batch head query key"],
    z: Float[Tensor, "layer batch query head d_head"],
    unembed: Float[Tensor, "layer head d_head pool"],
    tokens: Int[Tensor, "batch pos"],
    vocab: Int[Tensor, " pool"],
    queries: slice,
) -> Float[Tensor, "layer head"]:
    """Does the head's direct output raise the logit of the token it attends to? In [-1, 1].

    At each query in `queries`, take the token at the key the head attends to most, and the head's direct
    logit contribution to every pool token (its output z @ W_O through the folded final LayerNorm and W_U:
    `unembed`). r is the fraction of the other pool tokens whose logit the attended token's beats (ties
    count half). The score is the mean of 2r - 1 over queries whose attended token is in the pool: 1 when
    the attended token always gets the head's largest logit, 0 for an unrelated output, -1 when smallest.
    The per-query norm of the final LayerNorm is a positive factor and does not change r.
    """
    n_layers, batch, n_heads, _, n_keys = patterns.shape
    logits = einops.einsum(
        z[:, :, queries], unembed, "layer batch query head d_head, layer head d_head pool -> layer batch head query pool"
    )
    attended_key = patterns[:, :, :, queries].argmax(-1)
    keys = tokens[:, :n_keys][None, :, None, :].expand(n_layers, batch, n_heads, n_keys)
    attended_token = keys.gather(-1, attended_key)
    lookup = torch.full((int(max(tokens.max(), vocab.max())) + 1,), -1, dtype=torch.long)
    lookup[vocab] = torch.arange(len(vocab))
    pool_index = lookup[attended_token]
    valid = pool_index >= 0
    own = logits.gather(-1, pool_index.clamp(min=0)[..., None])
    below = (logits < own).sum(-1).to(logits.dtype)
    ties = (logits == own).sum(-1).to(logits.dtype) - 1
    rank = (below + 0.5 * ties) / (len(vocab) - 1)
    weight = valid.to(logits.dtype)
    return ((2 * rank - 1) * weight).sum((1, 3)) / weight.sum((1, 3))


def attention_mass_on(
    patterns: Float[Tensor, "layer batch head query key"],
    keys: Bool[Tensor, "batch query key"],
    queries: Bool[Tensor, "batch query"],
) -> Float[Tensor, "layer head"]:
    """Mean over the `queries` of the total attention on the keys marked in `keys`."""
    mass = (patterns * keys[None, :, None].to(patterns.dtype)).sum(-1)
    weight = queries[None, :, None, :].to(mass.dtype)
    return (mass * weight).sum((1, 3)) / weight.sum((1, 3))


def score_heads(
    patterns: Float[Tensor, "layer batch head query key"],
    z: Float[Tensor, "layer batch query head d_head"],
    probe: InductionProbe,
    unembed: Float[Tensor, "layer head d_head pool"],
) -> HeadScores:
    """All five scores from patterns and z on `torch.cat([probe.repeated, probe.spans])` (in that order)."""
    n = len(probe.repeated)
    repeated, spans = patterns[:, :n], patterns[:, n : 2 * n]
    return HeadScores(
        previous_token=previous_token_scores(patterns[:, : 2 * n], offset=probe.offset),
        induction=after_previous_occurrence_scores(repeated, probe.repeated, probe.previous_in_repeated),
        prefix_matching=attention_mass_on(spans, probe.span_prefix_keys, probe.span_queries),
        duplicate_token=attention_mass_on(spans, probe.span_duplicate_keys, probe.span_queries),
        copying=copying_scores(repeated, z[:, :n], unembed, probe.repeated, probe.vocab, probe.second_copy),
    )
