"""Match the features of two dictionaries one to one: decoder cosine with an optimal assignment, then how
alike the matched pairs are (encoder cosine, and the correlation of their activations on the same tokens).

The assignment maximises the total decoder cosine over one-to-one pairings (the Hungarian method, scipy's
`linear_sum_assignment`); with different feature counts, every feature of the smaller dictionary is matched
and the rest of the larger one stay unmatched. Decoder rows and encoder columns are compared as directions
(normalised), so a feature's scale does not matter.

Correlations are computed for the matched pairs only, in chunks of tokens (two passes, sums in float64), never as the
full features × features matrix. A feature that never varies on the tokens (dead, or constant) has no
correlation: its pair gets 0 and `correlation_defined` False, so nothing downstream sees a NaN.

>>> import torch
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> a = SparseDictionary(d_in=8, n_features=6, kind="relu", seed=0)
>>> b = SparseDictionary(d_in=8, n_features=6, kind="relu", seed=1)
>>> order = torch.tensor([3, 0, 5, 1, 4, 2])                 # b's feature i is a's feature order[i]
>>> with torch.no_grad():
...     _ = b.W_dec.copy_(a.W_dec[order]), b.W_enc.copy_(a.W_enc[:, order])
>>> matching = match_features(a, b)
>>> torch.equal(matching.partner_of_b(), order), round(float(matching.decoder_cosine.min()), 4)
(True, 1.0)
"""

from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from interp.analysis.sae.dictionary import SparseDictionary
from interp.core.errors import ConfigError, DataError

TOKEN_CHUNK = 8192  # tokens per pass of the correlation; memory is TOKEN_CHUNK × pairs at most


@dataclass(frozen=True, eq=False)
class FeatureMatching:
    """One-to-one pairs (`index_a[i]`, `index_b[i]`), ordered by `index_a`, and how alike each pair is.

    `activation_correlation` and `correlation_defined` are None when no activations were given; otherwise a
    pair whose either feature has zero variance has correlation 0 and `correlation_defined` False.
    """

    n_features_a: int
    n_features_b: int
    index_a: Int[Tensor, " pair"]
    index_b: Int[Tensor, " pair"]
    decoder_cosine: Float[Tensor, " pair"]
    encoder_cosine: Float[Tensor, " pair"]
    activation_correlation: Float[Tensor, " pair"] | None = None
    correlation_defined: Bool[Tensor, " pair"] | None = None

    @property
    def n_pairs(self) -> int:
        return int(self.index_a.numel())

    def partner_of_a(self) -> Int[Tensor, " features_a"]:
        """For each feature of a, its partner in b (-1 where unmatched)."""
        partner = torch.full((self.n_features_a,), -1, dtype=torch.long)
        partner[self.index_a] = self.index_b
        return partner

    def partner_of_b(self) -> Int[Tensor, " features_b"]:
        """For each feature of b, its partner in a (-1 where unmatched)."""
        partner = torch.full((self.n_features_b,), -1, dtype=torch.long)
        partner[self.index_b] = self.index_a
        return partner

    def pair_values_of_b(self, values: Tensor) -> Tensor:
        """`values [pair]` laid out per feature of b (NaN where unmatched)."""
        out = torch.full((self.n_features_b,), float("nan"), dtype=torch.float32)
        out[self.index_b] = values.float()
        return out

    def to_dict(self) -> dict:
        out = {
            "n_features_a": self.n_features_a,
            "n_features_b": self.n_features_b,
            "index_a": self.index_a.tolist(),
            "index_b": self.index_b.tolist(),
            "decoder_cosine": self.decoder_cosine.tolist(),
            "encoder_cosine": self.encoder_cosine.tolist(),
        }
        if self.activation_correlation is not None:
            out["activation_correlation"] = self.activation_correlation.tolist()
            out["correlation_defined"] = self.correlation_defined.tolist()
        return out


def _unit_rows(matrix: Tensor) -> Tensor:
    matrix = matrix.detach().to(torch.float64).cpu()
    return matrix / matrix.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def decoder_directions(sae: SparseDictionary) -> Float[Tensor, "features d_out"]:
    """Each feature's decoder row as a unit vector (float64, on the CPU)."""
    return _unit_rows(sae.W_dec)


def encoder_directions(sae: SparseDictionary) -> Float[Tensor, "features d_in"]:
    """Each feature's encoder column as a unit vector (float64, on the CPU)."""
    return _unit_rows(sae.W_enc.T)


def decoder_cosines(a: SparseDictionary, b: SparseDictionary) -> Float[Tensor, "features_a features_b"]:
    """Cosine similarity of every decoder row of `a` with every decoder row of `b`.

    >>> from interp.analysis.sae.dictionary import SparseDictionary
    >>> sae = SparseDictionary(d_in=4, n_features=3, kind="relu", seed=1)
    >>> decoder_cosines(sae, sae).diagonal().round(decimals=6).tolist()
    [1.0, 1.0, 1.0]
    """
    _check_widths(a, b)
    return decoder_directions(a) @ decoder_directions(b).T


def _check_widths(a: SparseDictionary, b: SparseDictionary) -> None:
    if a.d_in != b.d_in or a.d_out != b.d_out:
        raise ConfigError(
            f"can only match dictionaries of the same site: widths d_in {a.d_in} vs {b.d_in}, d_out {a.d_out} vs {b.d_out}"
        )


def optimal_assignment(similarity: Float[Tensor, "rows columns"]) -> tuple[Int[Tensor, " pair"], Int[Tensor, " pair"]]:
    """The one-to-one pairing (rows, columns) with the largest total similarity, ordered by row.

    >>> optimal_assignment(torch.tensor([[0.1, 0.9], [0.8, 0.7], [0.0, 0.2]]))
    (tensor([0, 1]), tensor([1, 0]))
    """
    values = similarity.detach().to(torch.float64).cpu().numpy()
    if not np.isfinite(values).all():
        raise DataError("the similarity matrix holds NaN or infinite values; check the dictionaries' weights")
    rows, columns = linear_sum_assignment(values, maximize=True)
    return torch.from_numpy(rows.astype(np.int64)), torch.from_numpy(columns.astype(np.int64))


def _as_tokens(acts: Tensor, name: str) -> Float[Tensor, "tokens features"]:
    if acts.dim() < 2:
        raise DataError(
            f"{name} must be feature activations [tokens features] (or [batch pos features]), got shape {tuple(acts.shape)}"
        )
    return acts.reshape(-1, acts.shape[-1])


def _column_sum(x: Tensor) -> Tensor:
    return sum(x[i : i + TOKEN_CHUNK].sum(0).double() for i in range(0, x.shape[0], TOKEN_CHUNK))


def _columns(x: Tensor, index: Tensor):
    """Select the columns `index` of a chunk (nothing to copy when they are all columns in order)."""
    if index.numel() == x.shape[1] and torch.equal(index, torch.arange(x.shape[1], device=index.device)):
        return lambda chunk: chunk
    return lambda chunk: chunk.index_select(1, index)


def activation_correlation(
    acts_a: Float[Tensor, "... features_a"],
    acts_b: Float[Tensor, "... features_b"],
    index_a: Int[Tensor, " pair"] | None = None,
    index_b: Int[Tensor, " pair"] | None = None,
) -> tuple[Float[Tensor, " pair"], Bool[Tensor, " pair"]]:
    """Pearson correlation, over tokens, of feature `index_a[i]` of `acts_a` with feature `index_b[i]` of `acts_b`.

    Both hold activations on the same tokens. Without indices, column i is paired with column i. Returns the
    correlations (float32) and where they are defined (both features vary); undefined ones are 0.

    >>> x = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> activation_correlation(x, torch.tensor([[4.0, 0.0], [2.0, 1.0], [0.0, 2.0]]))
    (tensor([-1., 0.]), tensor([ True, False]))
    """
    a, b = _as_tokens(acts_a, "acts_a"), _as_tokens(acts_b, "acts_b")
    if a.shape[0] != b.shape[0]:
        raise DataError(f"activations must be on the same tokens: {a.shape[0]} tokens vs {b.shape[0]}")
    if index_a is None or index_b is None:
        if a.shape[1] != b.shape[1]:
            raise DataError(
                f"pairing columns in order needs equal feature counts, got {a.shape[1]} and {b.shape[1]}; pass indices"
            )
        index_a = index_b = torch.arange(a.shape[1])
    index_a, index_b = index_a.to(a.device), index_b.to(b.device)
    n = a.shape[0]
    if n < 2:
        raise DataError(f"a correlation needs at least 2 tokens, got {n}")
    # Two passes: column means, then centred sums over chunks of tokens. Each chunk is reduced in its own
    # dtype (a column reduction in float64 is many times slower) and the chunks' sums are added in float64.
    mean_a = _column_sum(a)[index_a] / n
    mean_b = _column_sum(b)[index_b] / n
    columns_a, columns_b = _columns(a, index_a), _columns(b, index_b)
    centre_a, centre_b = mean_a.to(a.dtype), mean_b.to(b.dtype)
    cross = torch.zeros_like(mean_a)
    var_a, var_b = torch.zeros_like(mean_a), torch.zeros_like(mean_b)
    for i in range(0, n, TOKEN_CHUNK):
        da = columns_a(a[i : i + TOKEN_CHUNK]) - centre_a
        db = columns_b(b[i : i + TOKEN_CHUNK]) - centre_b
        cross += (da * db).sum(0).double()
        var_a += da.square().sum(0).double()
        var_b += db.square().sum(0).double()
    # Zero variance up to float32 rounding (a standard deviation under ~1e-6 of the feature's scale), relative
    # to the mean's size so that a constant non-zero feature counts too.
    floor_a = 1e-12 * n * (1.0 + mean_a.square())
    floor_b = 1e-12 * n * (1.0 + mean_b.square())
    defined = (var_a > floor_a) & (var_b > floor_b)
    correlation = torch.where(defined, cross / (var_a * var_b).clamp_min(1e-300).sqrt(), torch.zeros_like(cross))
    return correlation.clamp(-1.0, 1.0).float().cpu(), defined.cpu()


def match_features(
    a: SparseDictionary,
    b: SparseDictionary,
    *,
    activations_a: Float[Tensor, "... features_a"] | None = None,
    activations_b: Float[Tensor, "... features_b"] | None = None,
) -> FeatureMatching:
    """Pair the features of `a` and `b` one to one, maximising the total decoder cosine; see the module doc."""
    cosines = decoder_cosines(a, b)
    index_a, index_b = optimal_assignment(cosines)
    encoder = (encoder_directions(a)[index_a] * encoder_directions(b)[index_b]).sum(-1)
    correlation = defined = None
    if (activations_a is None) != (activations_b is None):
        raise ConfigError("give activations of both dictionaries (activations_a and activations_b) or of neither")
    if activations_a is not None:
        for name, acts, sae in (("activations_a", activations_a, a), ("activations_b", activations_b, b)):
            if acts.shape[-1] != sae.n_features:
                raise DataError(f"{name} has {acts.shape[-1]} features but its dictionary has {sae.n_features}")
        correlation, defined = activation_correlation(activations_a, activations_b, index_a, index_b)
    return FeatureMatching(
        n_features_a=a.n_features,
        n_features_b=b.n_features,
        index_a=index_a,
        index_b=index_b,
        decoder_cosine=cosines[index_a, index_b].float(),
        encoder_cosine=encoder.float(),
        activation_correlation=correlation,
        correlation_defined=defined,
    )


__all__ = [
    "FeatureMatching",
    "activation_correlation",
    "decoder_cosines",
    "decoder_directions",
    "encoder_directions",
    "match_features",
    "optimal_assignment",
]
