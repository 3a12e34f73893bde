"""Per-head summaries of attention patterns on text: entropy, and attention to the previous, first and same token.

For every [layer head], averaged over the batch and over the query positions where the quantity is defined:

- entropy: -sum_k p log p of the query's attention distribution, in nats (a uniform pattern over the k+1 keys
  of query k gives log(k+1); a head that always looks at one key gives 0). Over all queries.
- previous_token: attention on key q-1, over queries q >= 1.
- first_token: attention on key 0 (BOS when rows start with one, else the first token of the row), over
  queries q >= 1 (query 0 can attend nowhere else).
- same_token: total attention on earlier keys holding the query's own token, over the queries whose token
  occurred earlier in the row (`interp.analysis.induction.probes.duplicate_keys`).

Patterns come from `interp.analysis.core.cache.cache_activations`, one mini-batch at a time, so memory does not grow
with the number of rows. The score helpers of `interp.analysis.induction.head_scores` do the averaging.

>>> uniform = torch.ones(3, 3).tril() / torch.arange(1, 4)[:, None]          # query k: 1/(k+1) on keys 0..k
>>> summary = summarise_patterns(uniform[None, None, None], torch.tensor([[5, 6, 5]]))
>>> summary.entropy.item() == torch.log(torch.tensor([1.0, 2.0, 3.0])).mean().item()
True
>>> summary.same_token.item()                                              # query 2 puts 1/3 on key 0
0.3333333432674408
"""

from dataclasses import dataclass, fields

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import cache_activations, check_tokens
from interp.analysis.induction.head_scores import attention_mass_on, attention_to
from interp.analysis.induction.probes import duplicate_keys
from interp.core.errors import DataError
from interp.model.sites import Site

SUMMARY_NAMES = ("entropy", "previous_token", "first_token", "same_token")


@dataclass(frozen=True)
class AttentionSummary:
    """Mean statistics per head (see the module docstring); NaN where no query qualified (e.g. no repeated token)."""

    entropy: Float[Tensor, "layer head"]
    previous_token: Float[Tensor, "layer head"]
    first_token: Float[Tensor, "layer head"]
    same_token: Float[Tensor, "layer head"]

    def as_dict(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rows(self) -> list[dict]:
        """One dict per head: {"layer", "head", "entropy", ...}, for tables and CSV files."""
        n_layers, n_heads = self.entropy.shape
        return [
            {"layer": layer, "head": head, **{name: float(value[layer, head]) for name, value in self.as_dict().items()}}
            for layer in range(n_layers)
            for head in range(n_heads)
        ]


@dataclass(frozen=True)
class _Totals:
    """Sums over (batch, query) and the number of queries summed, per statistic, so mini-batches add up exactly."""

    sums: dict[str, Tensor]
    counts: dict[str, Tensor]

    def __add__(self, other: "_Totals") -> "_Totals":
        return _Totals(
            sums={k: self.sums[k] + other.sums[k] for k in SUMMARY_NAMES},
            counts={k: self.counts[k] + other.counts[k] for k in SUMMARY_NAMES},
        )

    def means(self) -> AttentionSummary:
        return AttentionSummary(**{k: (self.sums[k] / self.counts[k]).float() for k in SUMMARY_NAMES})


def _totals(patterns: Float[Tensor, "layer batch head query key"], tokens: Int[Tensor, "batch pos"]) -> _Totals:
    """Sums and query counts for one batch of patterns (means times counts, via the head_scores helpers)."""
    patterns = patterns.double()
    batch, n_pos = tokens.shape
    query = torch.arange(n_pos).expand(batch, n_pos)
    after_first = query >= 1
    duplicates = duplicate_keys(tokens)
    repeated = duplicates.any(-1)
    plogp = torch.where(patterns > 0, patterns * patterns.clamp_min(1e-300).log(), torch.zeros_like(patterns))
    entropy_sum = -plogp.sum(-1).sum((1, 3))  # [layer head], summed over batch and query
    counts = {
        "entropy": torch.tensor(float(batch * n_pos)),
        "previous_token": after_first.sum().double(),
        "first_token": after_first.sum().double(),
        "same_token": repeated.sum().double(),
    }
    means = {
        "previous_token": attention_to(patterns, query - 1, after_first),
        "first_token": attention_to(patterns, torch.zeros_like(query), after_first),
        "same_token": attention_mass_on(patterns, duplicates, repeated),
    }
    # a mean over zero queries is NaN; its sum contributes nothing
    sums = {"entropy": entropy_sum, **{k: torch.nan_to_num(v, nan=0.0) * counts[k] for k, v in means.items()}}
    return _Totals(sums=sums, counts=counts)


def summarise_patterns(
    patterns: Float[Tensor, "layer batch head query key"], tokens: Int[Tensor, "batch pos"]
) -> AttentionSummary:
    """The summary of attention patterns already in memory (the rows of `tokens` they were computed on)."""
    if patterns.ndim != 5 or patterns.shape[1] != tokens.shape[0] or patterns.shape[3] != tokens.shape[1]:
        raise DataError(
            f"patterns must be [layer batch head query key] over tokens [batch pos]; got {tuple(patterns.shape)} "
            f"and {tuple(tokens.shape)}"
        )
    return _totals(patterns, tokens).means()


@torch.no_grad()
def attention_summary(model, tokens: Int[Tensor, "batch pos"], *, batch_size: int = 32) -> AttentionSummary:
    """Run `model` over `tokens` in mini-batches, caching only the attention patterns, and summarise every head.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> summary = attention_summary(model, tokens, batch_size=2)
    >>> summary.previous_token.shape                  # [layer head]
    torch.Size([2, 2])
    """
    check_tokens(tokens, model)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    sites = [Site.pattern(layer) for layer in range(model.cfg.n_layers)]
    total = None
    for chunk in tokens.split(batch_size):
        acts = cache_activations(model, chunk, sites)
        patterns = torch.stack([acts[site] for site in sites])
        part = _totals(patterns, chunk)
        total = part if total is None else total + part
    return total.means()
