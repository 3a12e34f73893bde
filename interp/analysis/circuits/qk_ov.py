"""QK/OV circuits of attention heads as `FactoredMatrix` products, OV copying scores and composition scores.

All circuits are products of weight matrices (Elhage et al., "A Mathematical Framework for Transformer
Circuits"), in TransformerLens's row-vector convention (a residual vector x is read as x @ W):

    full OV circuit      W_E W_V W_O W_U                 [vocab vocab]  source token -> logits
    full QK circuit      W_E W_Q W_K^T W_E^T             [vocab vocab]  query token x key token
    positional QK        W_pos W_Q W_K^T W_pos^T         [pos pos]      query position x key position
    K-composition path   W_E W_Q1 W_K1^T (W_E W_V0 W_O0)^T   query token x token a layer-0 head moved to the key

LayerNorm is not a linear map, so it cannot be folded exactly. `circuit_weights(model, fold_layernorm=True)`
(the default) folds it approximately, like TransformerLens's `fold_ln` + `center_writing_weights`: the
LN weights multiply the matrices that read the normalised stream (W_Q, W_K, W_V for ln1; W_U for
ln_final), and the matrices that write to the stream (W_E, W_pos, W_O) are centred over d_model,
since LN subtracts the mean. The per-token division by the norm and all biases are left out.
With `fold_layernorm=False` the circuits are the raw, unfolded weight products (what `model.OV`/`model.QK`
give), for comparison with TransformerLens's utilities.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> w = circuit_weights(build_model(ModelConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=20, attn_only=True)))
>>> ov_copying_scores(w).shape, composition_scores(w, "K").shape    # [layer head], [source_layer source_head layer head]
(torch.Size([2, 4]), torch.Size([2, 4, 2, 4]))
"""

from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens.FactoredMatrix import FactoredMatrix

from interp.core.errors import InterpError

COMPOSITION_KINDS = ("Q", "K", "V")


class CircuitError(InterpError, ValueError):
    """A circuit was asked for something the model does not have (a layer, a head, positional embeddings)."""


@dataclass(frozen=True)
class CircuitWeights:
    """The weights circuits are made of, in HookedTransformer shapes, LayerNorm folded or not (see module doc)."""

    W_E: Float[Tensor, "vocab d_model"]
    W_pos: Float[Tensor, "pos d_model"] | None
    W_Q: Float[Tensor, "layer head d_model d_head"]
    W_K: Float[Tensor, "layer head d_model d_head"]
    W_V: Float[Tensor, "layer head d_model d_head"]
    W_O: Float[Tensor, "layer head d_head d_model"]
    W_U: Float[Tensor, "d_model vocab"]
    folded: bool = False

    @property
    def n_layers(self) -> int:
        return self.W_Q.shape[0]

    @property
    def n_heads(self) -> int:
        return self.W_Q.shape[1]

    def check_head(self, layer: int, head: int) -> None:
        if not (0 <= layer < self.n_layers and 0 <= head < self.n_heads):
            raise CircuitError(f"no head L{layer}H{head}: the model has {self.n_layers} layers of {self.n_heads} heads")


def _centre(w: Tensor) -> Tensor:
    return w - w.mean(-1, keepdim=True)


# A TransformerBridge names a LayerNorm's weight `ln1.weight`; HookedTransformer-layout models (the PerceiverAR
# variant, a HookedTransformer) name it `ln1.w`. Same tensor, so the circuits are the same.
_NORM_WEIGHT_LEAVES = ("weight", "w")


def _norm_weight(model: torch.nn.Module, state: dict[str, Tensor], norm: str) -> Tensor:
    """The elementwise weight of the LayerNorm/RMSNorm `norm` (e.g. "blocks.0.ln1"), under either naming."""
    for leaf in _NORM_WEIGHT_LEAVES:
        if f"{norm}.{leaf}" in state:
            return state[f"{norm}.{leaf}"]
    raise CircuitError(
        f"{type(model).__name__} has no {norm}.weight or {norm}.w to fold into the circuits; "
        "pass fold_layernorm=False for the unfolded weight products"
    )


@torch.no_grad()
def circuit_weights(model: torch.nn.Module, *, fold_layernorm: bool = True) -> CircuitWeights:
    """Weights of `model` (a TransformerBridge, or a model in the HookedTransformer layout such as
    `interp.variants.perceiver_ar.PerceiverAR`), with LayerNorm folded approximately unless told not to."""
    cfg = model.cfg
    state = model.state_dict()
    W_E, W_U = model.W_E.detach().clone(), model.W_U.detach().clone()
    W_Q, W_K, W_V, W_O = (getattr(model, n).detach().clone() for n in ("W_Q", "W_K", "W_V", "W_O"))
    try:
        W_pos = model.W_pos.detach().clone()
    except AttributeError:  # rotary models have no positional embedding matrix
        W_pos = None
    norm = getattr(cfg, "normalization_type", None)
    if fold_layernorm and norm is not None:
        if norm in ("LN", "LNPre"):  # LN subtracts the mean: only the centred part of what is written matters
            W_E, W_O = _centre(W_E), _centre(W_O)
            W_pos = None if W_pos is None else _centre(W_pos)
        if norm in ("LN", "RMS"):  # elementwise LN weights scale the rows of the matrices that read the stream
            ln1 = torch.stack([_norm_weight(model, state, f"blocks.{layer}.ln1") for layer in range(cfg.n_layers)])
            scale = ln1[:, None, :, None]
            W_Q, W_K, W_V = W_Q * scale, W_K * scale, W_V * scale
            W_U = W_U * _norm_weight(model, state, "ln_final")[:, None]
    return CircuitWeights(W_E=W_E, W_pos=W_pos, W_Q=W_Q, W_K=W_K, W_V=W_V, W_O=W_O, W_U=W_U, folded=fold_layernorm)


def _rows(W_E: Tensor, vocab: Int[Tensor, " pool"] | None) -> Tensor:
    return W_E if vocab is None else W_E[vocab]


def full_ov_circuit(w: CircuitWeights, *, vocab: Int[Tensor, " pool"] | None = None) -> FactoredMatrix:
    """W_E W_V W_O W_U per head, as a FactoredMatrix [layer head vocab vocab] (rows: source token attended to,
    columns: logit). `vocab` restricts both sides to a pool of token ids (untrained tokens add noise)."""
    W_E = _rows(w.W_E, vocab)
    W_U = w.W_U if vocab is None else w.W_U[:, vocab]
    left = einops.einsum(W_E, w.W_V, "vocab d_model, layer head d_model d_head -> layer head vocab d_head")
    right = einops.einsum(w.W_O, W_U, "layer head d_head d_model, d_model vocab -> layer head d_head vocab")
    return FactoredMatrix(left, right)


def full_qk_circuit(w: CircuitWeights, *, vocab: Int[Tensor, " pool"] | None = None) -> FactoredMatrix:
    """W_E W_Q W_K^T W_E^T per head [layer head query_token key_token]: token-only attention scores (before scaling)."""
    W_E = _rows(w.W_E, vocab)
    query = einops.einsum(W_E, w.W_Q, "vocab d_model, layer head d_model d_head -> layer head vocab d_head")
    key = einops.einsum(W_E, w.W_K, "vocab d_model, layer head d_model d_head -> layer head vocab d_head")
    return FactoredMatrix(query, key.transpose(-1, -2))


def positional_qk_circuit(w: CircuitWeights) -> FactoredMatrix:
    """W_pos W_Q W_K^T W_pos^T per head [layer head query_pos key_pos]: position-only attention scores."""
    if w.W_pos is None:
        raise CircuitError("this model has no learned positional embeddings (rotary?), so there is no positional QK circuit")
    query = einops.einsum(w.W_pos, w.W_Q, "pos d_model, layer head d_model d_head -> layer head pos d_head")
    key = einops.einsum(w.W_pos, w.W_K, "pos d_model, layer head d_model d_head -> layer head pos d_head")
    return FactoredMatrix(query, key.transpose(-1, -2))


def _moved_tokens(w: CircuitWeights, layer: int, head: int, vocab: Tensor | None) -> Float[Tensor, "vocab d_model"]:
    """What head (layer, head) writes to the stream when it attends fully to each token: W_E W_V W_O."""
    return _rows(w.W_E, vocab) @ w.W_V[layer, head] @ w.W_O[layer, head]


def k_composition_circuit(
    w: CircuitWeights, *, layer: int, head: int, source_layer: int, source_head: int, vocab: Tensor | None = None
) -> FactoredMatrix:
    """The K-composition path [query_token moved_token]: W_E W_Q W_K^T (W_E W_V' W_O')^T.

    Row: the query's own token; column: the token the source head moved into the key position. For an
    induction head keyed by a previous-token head this is the "my token = your previous token" matrix and
    is diagonal-heavy.
    """
    w.check_head(layer, head)
    w.check_head(source_layer, source_head)
    query = _rows(w.W_E, vocab) @ w.W_Q[layer, head]
    key = _moved_tokens(w, source_layer, source_head, vocab) @ w.W_K[layer, head]
    return FactoredMatrix(query, key.T)


def q_composition_circuit(
    w: CircuitWeights, *, layer: int, head: int, source_layer: int, source_head: int, vocab: Tensor | None = None
) -> FactoredMatrix:
    """The Q-composition path [moved_token key_token]: (W_E W_V' W_O') W_Q W_K^T W_E^T."""
    w.check_head(layer, head)
    w.check_head(source_layer, source_head)
    query = _moved_tokens(w, source_layer, source_head, vocab) @ w.W_Q[layer, head]
    key = _rows(w.W_E, vocab) @ w.W_K[layer, head]
    return FactoredMatrix(query, key.T)


def v_composition_circuit(
    w: CircuitWeights, *, layer: int, head: int, source_layer: int, source_head: int, vocab: Tensor | None = None
) -> FactoredMatrix:
    """The virtual OV path through two heads [source_token logit]: W_E W_V' W_O' W_V W_O W_U."""
    w.check_head(layer, head)
    w.check_head(source_layer, source_head)
    W_U = w.W_U if vocab is None else w.W_U[:, vocab]
    left = _moved_tokens(w, source_layer, source_head, vocab) @ w.W_V[layer, head]
    return FactoredMatrix(left, w.W_O[layer, head] @ W_U)


def ov_copying_scores(w: CircuitWeights, *, vocab: Tensor | None = None) -> Float[Tensor, "layer head"]:
    """Copying score of each head's full OV circuit: Re(sum of eigenvalues) / sum of |eigenvalues|.

    1 for a circuit proportional to the identity (the head raises the logit of the token it attends to),
    -1 for a negated one, near 0 for a random one. The non-zero eigenvalues of W_E W_V W_O W_U equal those of
    the small [d_head d_head] product W_O W_U W_E W_V, which is what is decomposed.
    """
    eigenvalues = full_ov_circuit(w, vocab=vocab).eigenvalues
    return eigenvalues.sum(-1).real / eigenvalues.abs().sum(-1).clamp_min(1e-12)


def _frobenius(a: Tensor, middle: Tensor, d: Tensor) -> Tensor:
    """||a @ middle @ d||_F for a [.. n r], middle [.. r s], d [.. s n], without forming the n x n product:
    ||a M d||^2 = trace(M^T (a^T a) M (d d^T)) = sum((a^T a M) * (M d d^T))."""
    gram_a = a.transpose(-1, -2) @ a
    gram_d = d @ d.transpose(-1, -2)
    return ((gram_a @ middle) * (middle @ gram_d)).sum((-1, -2)).clamp_min(0).sqrt()


def _pair_score(left_a: Tensor, left_b: Tensor, right_c: Tensor, right_d: Tensor) -> Tensor:
    """||L R||_F / (||L||_F ||R||_F) with L = left_a left_b and R = right_c right_d, for every (source, dest) pair.

    left_* have leading dims [source...] and right_* [dest...]; the result is [source... dest...].
    """
    src = left_a.shape[:-2]
    dst = right_c.shape[:-2]
    la = left_a.reshape(*src, *(1,) * len(dst), *left_a.shape[-2:])
    lb = left_b.reshape(*src, *(1,) * len(dst), *left_b.shape[-2:])
    rc = right_c.reshape(*(1,) * len(src), *dst, *right_c.shape[-2:])
    rd = right_d.reshape(*(1,) * len(src), *dst, *right_d.shape[-2:])
    eye_l = torch.eye(left_a.shape[-1], dtype=left_a.dtype)
    eye_r = torch.eye(right_c.shape[-1], dtype=right_c.dtype)
    product = _frobenius(la, lb @ rc, rd)
    return product / (_frobenius(left_a, eye_l, left_b)[(...,) + (None,) * len(dst)] * _frobenius(right_c, eye_r, right_d))


def _right_factors(w: CircuitWeights, kind: str) -> tuple[Tensor, Tensor]:
    """The destination head's matrix R, as two factors, for each kind of composition (row-vector convention:
    the source head's output o is read by the destination as o @ R)."""
    if kind == "Q":  # output feeds the query: o W_Q W_K^T
        return w.W_Q, w.W_K.transpose(-1, -2)
    if kind == "K":  # output feeds the key: o W_K W_Q^T
        return w.W_K, w.W_Q.transpose(-1, -2)
    if kind == "V":  # output feeds the value: o W_V W_O
        return w.W_V, w.W_O
    raise CircuitError(f"composition kind must be one of {COMPOSITION_KINDS}, got {kind!r}")


@torch.no_grad()
def composition_scores(w: CircuitWeights, kind: str) -> Float[Tensor, "source_layer source_head layer head"]:
    """Elhage et al.'s composition scores ||W_OV' R||_F / (||W_OV'||_F ||R||_F) for every head pair.

    R is the destination head's W_Q W_K^T (Q), W_K W_Q^T (K) or W_V W_O (V). Entry [l', h', l, h] scores
    source head l'.h' against destination head l.h; it is 0 unless l' < l (a head only reads earlier layers).
    Same layout as TransformerLens's `model.all_composition_scores(kind)`.
    """
    right_c, right_d = _right_factors(w, kind)
    scores = _pair_score(w.W_V, w.W_O, right_c, right_d)
    layers = torch.arange(w.n_layers)
    earlier = (layers[:, None, None, None] < layers[None, None, :, None]).to(scores.dtype)
    return scores * earlier


@torch.no_grad()
def random_composition_baseline(*, d_model: int, d_head: int, draws: int = 64, generator: torch.Generator | None = None) -> float:
    """Mean composition score of independent Gaussian factors of the same shapes ([d_model d_head] @ [d_head
    d_model] on both sides): the score two unrelated heads get by chance, to read real scores against.

    >>> round(random_composition_baseline(d_model=64, d_head=16, generator=torch.Generator().manual_seed(0)), 2)
    0.12
    """
    generator = generator or torch.Generator().manual_seed(0)
    factors = [torch.randn(draws, *shape, generator=generator) for shape in [(d_model, d_head), (d_head, d_model)] * 2]
    eye = torch.eye(d_head)
    left = _frobenius(factors[0], eye, factors[1])
    right = _frobenius(factors[2], eye, factors[3])
    return float((_frobenius(factors[0], factors[1] @ factors[2], factors[3]) / (left * right)).mean())


def composition_partners(
    scores: Float[Tensor, "source_layer source_head layer head"], *, layer: int, head: int
) -> list[tuple[int, int, float]]:
    """The heads of earlier layers ranked by their composition score with head (layer, head), strongest first.

    >>> scores = torch.zeros(2, 2, 2, 2); scores[0, 1, 1, 0] = 0.5; scores[0, 0, 1, 0] = 0.25
    >>> composition_partners(scores, layer=1, head=0)      # (source layer, source head, score)
    [(0, 1, 0.5), (0, 0, 0.25)]
    """
    if not 0 <= layer < scores.shape[2] or not 0 <= head < scores.shape[3]:
        raise CircuitError(f"no head L{layer}H{head}: the scores cover {scores.shape[2]} layers of {scores.shape[3]} heads")
    pairs = [(sl, sh, float(scores[sl, sh, layer, head])) for sl in range(layer) for sh in range(scores.shape[1])]
    return sorted(pairs, key=lambda p: -p[2])
