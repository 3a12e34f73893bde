"""The training loss of each dictionary kind, on inputs scaled to mean norm sqrt(d_in).

`mse` is the squared error summed over the output vector, averaged over tokens; `l0` the mean number of
active features per token. Per kind (`dictionary_loss`):

- relu: `mse + l1_coefficient * sum|f|` (the trainer keeps decoder rows at unit norm: `remove_parallel_gradient`
  before each step, `normalise_decoder` after it, so the L1 term cannot be cheated by shrinking f).
- topk: `mse + aux_coefficient * AuxK` (Gao et al. 2024): the top `k_aux` pre-activations of the *dead* features
  reconstruct the (detached) residual error `y - y_hat`; `k_aux = min(d_out // 2, n_dead)`, and the term is
  scaled by `min(1, n_dead / (d_out // 2))` so a handful of dead features does not dominate.
- batchtopk: as topk, but the `k * n_tokens` largest activations of the whole batch are kept; the trainer tracks
  the smallest kept activation (an exponential moving average) as the inference threshold.
- jumprelu: `mse + l0_coefficient * L0` with straight-through gradients for the threshold (Rajamanoharan et al.
  2024, a rectangle kernel of width `jumprelu_bandwidth`): `JumpReLUFunction` and `StepFunction` below.

Dead-feature remedy: AuxK for topk and batchtopk. For relu and jumprelu, nothing: the encoder starts as the
decoder's transpose with zero encoder bias (Conerly et al. 2024), which keeps nearly every feature firing at the
sizes interp trains (a few hundred to a few thousand features); the dead fraction is measured and recorded in
the figures (and checked in the tests), so a dictionary that needs resampling shows it rather than hides it.

>>> from interp.analysis.sae.config import SAEConfig
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> sae = SparseDictionary(d_in=8, n_features=32, kind="topk", k=4, seed=0)
>>> config = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4)
>>> x = torch.randn(16, 8)
>>> parts = dictionary_loss(sae, x, x, config, dead=torch.zeros(32, dtype=torch.bool))
>>> float(parts.l0), bool(parts.loss > 0), float(parts.aux)
(4.0, True, 0.0)
"""

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary


@dataclass(frozen=True)
class LossParts:
    """One batch's loss and its parts (0-dim tensors); `features` are the training-rule activations."""

    loss: Tensor
    mse: Tensor
    sparsity: Tensor
    aux: Tensor
    l0: Tensor
    features: Tensor
    fired: Tensor  # [d_sae] bool: the features active on at least one token of the batch
    explained_variance: Tensor
    smallest_kept: Tensor | None = None  # batchtopk: the smallest activation the batch kept


def _rectangle(u: Tensor) -> Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


class JumpReLUFunction(torch.autograd.Function):
    """`pre * H(pre - threshold)`; d/d threshold = -(threshold / bandwidth) K((pre - threshold) / bandwidth)."""

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        pre, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_pre = grad * (pre > threshold).to(pre.dtype)
        grad_threshold = -(threshold / bandwidth) * _rectangle((pre - threshold) / bandwidth) * grad
        return grad_pre, grad_threshold.sum_to_size(threshold.shape), None


class StepFunction(torch.autograd.Function):
    """`H(pre - threshold)`; no gradient to pre, d/d threshold = -(1 / bandwidth) K((pre - threshold) / bandwidth)."""

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        pre, threshold = ctx.saved_tensors
        bandwidth = ctx.bandwidth
        grad_threshold = -(1.0 / bandwidth) * _rectangle((pre - threshold) / bandwidth) * grad
        return torch.zeros_like(pre), grad_threshold.sum_to_size(threshold.shape), None


def batch_topk(pre: Float[Tensor, "token d_sae"], k: int) -> tuple[Tensor, Tensor]:
    """Keep the k * n_tokens largest ReLU'd pre-activations of the whole batch; returns (features, smallest kept)."""
    flat = torch.relu(pre).flatten()
    top = flat.topk(min(k * pre.shape[0], flat.numel()))
    features = torch.zeros_like(flat).scatter(0, top.indices, top.values).view_as(pre)
    positive = top.values[top.values > 0]
    smallest = positive.min().detach() if positive.numel() else torch.zeros((), dtype=pre.dtype)
    return features, smallest


def auxk_loss(
    sae: SparseDictionary,
    pre: Float[Tensor, "token d_sae"],
    residual: Float[Tensor, "token d_out"],
    dead: Bool[Tensor, " d_sae"],
) -> Tensor:
    """Reconstruct the detached residual error from the top k_aux dead features' pre-activations (no b_dec)."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return torch.zeros((), dtype=pre.dtype)
    k_max = max(1, sae.d_out // 2)
    k_aux = min(k_max, n_dead)
    # Only the dead columns: the same terms as masking the live ones, at the cost of the dead features alone.
    index = dead.nonzero().squeeze(-1)
    dead_pre = pre.index_select(-1, index)
    top = dead_pre.topk(k_aux, dim=-1)
    features = torch.zeros_like(dead_pre).scatter(-1, top.indices, torch.relu(top.values))
    estimate = features @ sae.W_dec.index_select(0, index)
    return (estimate - residual.detach()).pow(2).sum(-1).mean() * min(1.0, n_dead / k_max)


def dictionary_loss(
    sae: SparseDictionary,
    inputs: Float[Tensor, "token d_in"],
    targets: Float[Tensor, "token d_out"],
    config: SAEConfig,
    *,
    dead: Bool[Tensor, " d_sae"],
) -> LossParts:
    """The training loss of `sae` on one batch (see the module docstring for each kind's terms)."""
    pre = sae.pre_activations(inputs)
    zero = torch.zeros((), dtype=pre.dtype)
    smallest = None
    if config.kind == "relu":
        features = torch.relu(pre)
    elif config.kind == "topk":  # as sae.activate, keeping the top-k indices: activity is read from them, not the dense matrix
        top = pre.topk(config.k, dim=-1)
        values = torch.relu(top.values)
        features = torch.zeros_like(pre).scatter(-1, top.indices, values)
    elif config.kind == "batchtopk":
        features, smallest = batch_topk(pre, config.k)
    else:
        features = JumpReLUFunction.apply(pre, sae.threshold, config.jumprelu_bandwidth)
    reconstruction = sae.decode(features)
    error = targets - reconstruction
    mse = error.pow(2).sum(-1).mean()
    with torch.no_grad():
        if config.kind == "topk":
            on = values > 0
            l0 = on.sum(-1).to(pre.dtype).mean()
            fired = torch.zeros(pre.shape[-1], dtype=torch.bool, device=pre.device)
            fired[top.indices[on]] = True
        else:
            active = features > 0
            l0 = active.sum(-1).to(pre.dtype).mean()
            fired = active.any(0)
    sparsity, aux = zero, zero
    if config.kind == "relu":
        sparsity = config.l1_coefficient * features.sum(-1).mean()  # features >= 0, so sum == sum |f|
    elif config.kind == "jumprelu":
        sparsity = config.l0_coefficient * StepFunction.apply(pre, sae.threshold, config.jumprelu_bandwidth).sum(-1).mean()
    elif config.aux_coefficient > 0:
        aux = config.aux_coefficient * auxk_loss(sae, pre, error, dead)
    with torch.no_grad():
        variance = (targets - targets.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-12)
        explained = 1 - mse / variance
    return LossParts(
        loss=mse + sparsity + aux,
        mse=mse,
        sparsity=sparsity,
        aux=aux,
        l0=l0,
        features=features,
        fired=fired,
        explained_variance=explained,
        smallest_kept=smallest,
    )


__all__ = ["JumpReLUFunction", "LossParts", "StepFunction", "auxk_loss", "batch_topk", "dictionary_loss"]
