"""The sparse dictionary itself: an encoder into many features, a sparse activation, a linear decoder.

`features = activation(x' @ W_enc + b_enc)` with `x' = x - b_dec` for an SAE (SAELens's
`apply_b_dec_to_input`; a transcoder reads `x` as it is), and `reconstruction = features @ W_dec + b_dec`.
Tensor names and shapes are SAELens's: `W_enc [d_in d_sae]`, `b_enc [d_sae]`, `W_dec [d_sae d_out]`,
`b_dec [d_out]`, and for JumpReLU and BatchTopK a per-feature `threshold [d_sae]`.

`encode` is the inference rule of each kind; training rules that differ (BatchTopK's batch-wide top k,
JumpReLU's straight-through gradient) live with the training losses.

>>> sae = SparseDictionary(d_in=8, n_features=32, kind="topk", k=4, seed=0)
>>> x = torch.randn(3, 5, 8)
>>> features = sae.encode(x)
>>> features.shape, int((features > 0).sum(-1).max()) <= 4, sae(x).shape
(torch.Size([3, 5, 32]), True, torch.Size([3, 5, 8]))
>>> torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(32))     # decoder rows start at unit norm
True
"""

import torch
from jaxtyping import Float
from torch import Tensor, nn

from interp.analysis.sae.config import KINDS, NEEDS_K
from interp.core.errors import ConfigError

THRESHOLD_KINDS = ("jumprelu", "batchtopk")


class SparseDictionary(nn.Module):
    """An SAE (d_out == d_in, reconstructing its input) or a transcoder (predicting another site)."""

    def __init__(
        self,
        *,
        d_in: int,
        n_features: int,
        kind: str,
        k: int | None = None,
        d_out: int | None = None,
        transcoder: bool = False,
        threshold: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"unknown dictionary kind {kind!r}; choose one of {', '.join(KINDS)}")
        if kind in NEEDS_K and (k is None or not 0 < k <= n_features):
            raise ConfigError(f"kind {kind!r} needs 0 < k <= n_features ({n_features}), got k={k}")
        d_out = d_in if d_out is None else d_out
        if not transcoder and d_out != d_in:
            raise ConfigError(f"an SAE reconstructs its input: d_out ({d_out}) must equal d_in ({d_in}); set transcoder=True")
        self.kind, self.k, self.transcoder = kind, k, transcoder
        generator = torch.Generator().manual_seed(seed)
        decoder = torch.randn(n_features, d_out, generator=generator)
        decoder = decoder / decoder.norm(dim=-1, keepdim=True)
        # Encoder initialised as the decoder's transpose (Conerly et al. 2024; Gao et al. 2024); for a
        # transcoder, whose input and output differ, an independent direction per feature.
        encoder = decoder.T.clone() if not transcoder else torch.randn(d_in, n_features, generator=generator) / d_in**0.5
        self.W_enc = nn.Parameter(encoder.contiguous())
        self.b_enc = nn.Parameter(torch.zeros(n_features))
        self.W_dec = nn.Parameter(decoder)
        self.b_dec = nn.Parameter(torch.zeros(d_out))
        if kind in THRESHOLD_KINDS:
            # Stored as a log so training keeps it positive; `threshold` is what files and encode use.
            self.log_threshold = nn.Parameter(torch.full((n_features,), float(torch.tensor(max(threshold, 1e-6)).log())))

    # ---- shape ---------------------------------------------------------------------------------------------

    @property
    def d_in(self) -> int:
        return self.W_enc.shape[0]

    @property
    def d_out(self) -> int:
        return self.W_dec.shape[1]

    @property
    def n_features(self) -> int:
        return self.W_enc.shape[1]

    @property
    def threshold(self) -> Tensor:
        """The per-feature threshold of a JumpReLU or BatchTopK dictionary (zeros for the others)."""
        if self.kind not in THRESHOLD_KINDS:
            return torch.zeros(self.n_features, device=self.W_enc.device)
        return self.log_threshold.exp()

    @property
    def applies_b_dec_to_input(self) -> bool:
        return not self.transcoder

    # ---- the maps ------------------------------------------------------------------------------------------

    def pre_activations(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        if x.shape[-1] != self.d_in:
            raise ConfigError(f"the dictionary reads vectors of width {self.d_in}, got {x.shape[-1]}; is it for another site?")
        if self.applies_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def activate(self, pre: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_sae"]:
        """The inference rule: ReLU, per-token top k, or ReLU gated at the threshold."""
        if self.kind == "relu":
            return torch.relu(pre)
        if self.kind == "topk":
            top = pre.topk(self.k, dim=-1)
            return torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        return torch.relu(pre) * (pre > self.threshold)

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        return self.activate(self.pre_activations(x))

    def decode(self, features: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_out"]:
        return features @ self.W_dec + self.b_dec

    def forward(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        return self.decode(self.encode(x))

    # ---- constraints ---------------------------------------------------------------------------------------

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        """Scale each decoder row to unit norm (the L1 penalty is otherwise cheated by shrinking features)."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        """Drop the part of each decoder row's gradient along the row, so a step keeps its norm to first order."""
        if self.W_dec.grad is None:
            return
        rows = self.W_dec / self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        self.W_dec.grad -= (self.W_dec.grad * rows).sum(-1, keepdim=True) * rows

    def extra_repr(self) -> str:
        k = f", k={self.k}" if self.k else ""
        what = "transcoder" if self.transcoder else "sae"
        return f"{what}, kind={self.kind}{k}, d_in={self.d_in}, n_features={self.n_features}, d_out={self.d_out}"


__all__ = ["SparseDictionary", "THRESHOLD_KINDS"]
