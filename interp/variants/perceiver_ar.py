"""A PerceiverAR-style decoder (Hawthorne et al. 2022) as a TransformerLens `HookedRootModule`.

The first block cross-attends from the last `n_latents` positions (the latents) to the whole input, causally:
latent i, at absolute position n - m + i, reads positions <= n - m + i. Its output keeps only those m
positions, so every later block is ordinary causal self-attention over m positions instead of n — the
"dimensionality reduction" of the minGPT birthplace assignment. Attention then costs O(m n + (L - 1) m^2)
instead of O(L n^2), and the model predicts the next token for the last m positions only:

    logits = model(tokens)          # [batch, min(n_latents, pos), d_vocab]: predictions for tokens[:, -m:]

With inputs no longer than n_latents the model is an ordinary causal transformer.

Hook names and shapes follow HookedTransformer's (`hook_embed`, `blocks.0.attn.hook_pattern`
[batch head m n], `blocks.1.hook_resid_pre` [batch m d_model], `ln_final.hook_normalized`, ...), so
`run_with_cache`, `run_with_hooks`, `hooks()`, interp's typed sites, activation cache and interventions work on
it; weights are exposed as `W_Q`, `W_K`, `W_V`, `W_O` [layer head ...], `W_E`, `W_pos`, `W_U`.

>>> cfg = PerceiverARConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=11, n_latents=4)
>>> model = PerceiverAR(cfg)
>>> model(torch.zeros(2, 10, dtype=torch.long)).shape
torch.Size([2, 4, 11])
>>> _, cache = model.run_with_cache(torch.zeros(1, 10, dtype=torch.long))
>>> tuple(cache["blocks.0.attn.hook_pattern"].shape), tuple(cache["blocks.1.attn.hook_pattern"].shape)
((1, 4, 4, 10), (1, 4, 4, 4))
"""

import math
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from interp.core.errors import ConfigError, DataError
from interp.model.config import ModelConfig
from interp.variants.layers import Block, LayerNorm

ARCHITECTURE = "perceiver_ar"


@dataclass(frozen=True, kw_only=True)
class PerceiverARConfig(ModelConfig):
    """A `ModelConfig` plus `n_latents`, the number of last positions the first block keeps (m)."""

    n_latents: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.n_latents, int) or isinstance(self.n_latents, bool) or not 0 < self.n_latents <= self.n_ctx:
            raise ConfigError(f"n_latents must be an integer in [1, n_ctx={self.n_ctx}], got {self.n_latents!r}")
        if self.normalization_type not in ("LN", None):
            raise ConfigError(
                f"the PerceiverAR variant supports normalization_type 'LN' or none, got {self.normalization_type!r}"
            )
        if self.positional_embedding_type != "standard":
            raise ConfigError("the PerceiverAR variant uses learned absolute positions; set positional_embedding_type='standard'")
        if self.act_fn == "solu" and not self.attn_only:
            raise ConfigError("the PerceiverAR variant has no SoLU; choose act_fn gelu, gelu_new, relu or silu")

    def to_hooked_transformer_dict(self) -> dict[str, Any]:
        return {**super().to_hooked_transformer_dict(), "original_architecture": ARCHITECTURE, "n_latents": self.n_latents}

    @classmethod
    def from_hooked_transformer_dict(cls, data: dict[str, Any]) -> "PerceiverARConfig":
        base = ModelConfig.from_hooked_transformer_dict(data)
        fields = {name: getattr(base, name) for name in base.__dataclass_fields__}
        return cls(**fields, n_latents=data["n_latents"])

    @classmethod
    def from_model_config(cls, cfg: ModelConfig, n_latents: int) -> "PerceiverARConfig":
        """The variant of the same width, depth and vocabulary as a standard model's config."""
        return cls(**{name: getattr(cfg, name) for name in ModelConfig.__dataclass_fields__}, n_latents=n_latents)


class Embed(nn.Module):
    def __init__(self, d_vocab: int, d_model: int):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(d_vocab, d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.W_E[tokens]


class PosEmbed(nn.Module):
    def __init__(self, n_ctx: int, d_model: int):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(n_ctx, d_model))

    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        return self.W_pos[: tokens.shape[1]].unsqueeze(0).expand(tokens.shape[0], -1, -1)


class Unembed(nn.Module):
    def __init__(self, d_model: int, d_vocab: int):
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(d_model, d_vocab))
        self.b_U = nn.Parameter(torch.zeros(d_vocab))

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_vocab"]:
        return x @ self.W_U + self.b_U


class PerceiverAR(HookedRootModule):
    """See the module docstring. Built in eval mode, initialised from `cfg.seed` without touching global RNG."""

    def __init__(self, cfg: PerceiverARConfig):
        super().__init__()
        if cfg.d_vocab <= 0:
            raise ConfigError("resolve d_vocab (ModelConfig.with_vocab) before building a model")
        self.cfg = cfg
        self.embed = Embed(cfg.d_vocab, cfg.d_model)
        self.hook_embed = HookPoint()
        self.pos_embed = PosEmbed(cfg.n_ctx, cfg.d_model)
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(
            [Block(cfg, n_queries=cfg.n_latents if layer == 0 else None) for layer in range(cfg.n_layers)]
        )
        self.ln_final = LayerNorm(cfg.d_model, enabled=cfg.normalization_type == "LN")
        self.unembed = Unembed(cfg.d_model, cfg.d_vocab)
        self._initialise(cfg.seed)
        self.setup()
        self.eval()

    def _initialise(self, seed: int) -> None:
        # GPT-2 style: N(0, 0.8 / sqrt(d_model)) for every matrix (TransformerLens's default range),
        # output projections scaled down by sqrt(2 * n_layers); biases zero, LayerNorm weights one.
        generator = torch.Generator().manual_seed(seed)
        std = 0.8 / math.sqrt(self.cfg.d_model)
        with torch.no_grad():
            for name, param in self.named_parameters():
                leaf = name.rpartition(".")[2]
                if leaf.startswith("W_"):
                    scale = std / math.sqrt(2 * self.cfg.n_layers) if leaf in ("W_O", "W_out") else std
                    param.copy_(torch.randn(param.shape, generator=generator) * scale)

    @property
    def n_latents(self) -> int:
        return self.cfg.n_latents

    def forward(
        self,
        tokens: Int[Tensor, "batch pos"] | Float[Tensor, "batch pos d_model"],
        *,
        stop_at_layer: int | None = None,
        start_at_layer: int | None = None,
    ) -> Float[Tensor, "batch query_pos d_vocab"]:
        """Logits for the last min(n_latents, pos) positions. As in TransformerLens, `stop_at_layer=L`
        returns the residual stream entering block L, and `start_at_layer=L` takes that stream as input."""
        if start_at_layer is None:
            if tokens.ndim != 2 or tokens.dtype.is_floating_point:
                raise DataError(f"tokens must be an integer tensor [batch pos], got {tuple(tokens.shape)} {tokens.dtype}")
            if tokens.shape[1] > self.cfg.n_ctx:
                raise DataError(f"sequences of {tokens.shape[1]} tokens are longer than the model's n_ctx={self.cfg.n_ctx}")
            resid = self.hook_embed(self.embed(tokens)) + self.hook_pos_embed(self.pos_embed(tokens))
            start_at_layer = 0
        else:
            resid = tokens
        for block in self.blocks[start_at_layer:stop_at_layer]:
            resid = block(resid)
        if stop_at_layer is not None:
            return resid
        return self.unembed(self.ln_final(resid))

    # ---- HookedTransformer-style weight views ([layer ...] stacks) -------------------------------------------

    def _stack(self, name: str) -> Tensor:
        return torch.stack([getattr(block.attn, name) for block in self.blocks])

    @property
    def W_Q(self) -> Float[Tensor, "layer head d_model d_head"]:
        return self._stack("W_Q")

    @property
    def W_K(self) -> Float[Tensor, "layer head d_model d_head"]:
        return self._stack("W_K")

    @property
    def W_V(self) -> Float[Tensor, "layer head d_model d_head"]:
        return self._stack("W_V")

    @property
    def W_O(self) -> Float[Tensor, "layer head d_head d_model"]:
        return self._stack("W_O")

    @property
    def b_Q(self) -> Float[Tensor, "layer head d_head"]:
        return self._stack("b_Q")

    @property
    def b_K(self) -> Float[Tensor, "layer head d_head"]:
        return self._stack("b_K")

    @property
    def b_V(self) -> Float[Tensor, "layer head d_head"]:
        return self._stack("b_V")

    @property
    def b_O(self) -> Float[Tensor, "layer d_model"]:
        return self._stack("b_O")

    @property
    def W_E(self) -> Float[Tensor, "d_vocab d_model"]:
        return self.embed.W_E

    @property
    def W_pos(self) -> Float[Tensor, "n_ctx d_model"]:
        return self.pos_embed.W_pos

    @property
    def W_U(self) -> Float[Tensor, "d_model d_vocab"]:
        return self.unembed.W_U

    @property
    def b_U(self) -> Float[Tensor, " d_vocab"]:
        return self.unembed.b_U
