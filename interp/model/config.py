"""The architecture config: `ModelConfig`, in HookedTransformerConfig field names.

A checkpoint's `config.json` loads directly as `HookedTransformerConfig(**json)` in transformer-lens 3.x and as a
`TransformerBridgeConfig` in 4.x.

>>> cfg = ModelConfig(n_layers=2, d_model=64, n_ctx=64, d_head=16, n_heads=4, d_vocab=65, attn_only=True)
>>> cfg.n_params_attention
33280
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from interp.core.config import is_int, one_of, positive_int, require
from interp.core.errors import ConfigError

NORMALIZATION_TYPES = ("LN", "LNPre", "RMS", "RMSPre", None)
ACT_FNS = ("gelu", "gelu_new", "relu", "silu", "solu")
POSITIONAL_EMBEDDINGS = ("standard", "rotary")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture of a decoder-only transformer, in HookedTransformerConfig terms.

    `d_vocab = -1` means "take it from the tokenizer" and is resolved by `with_vocab` before a model is built.
    `d_mlp = None` with `attn_only = False` becomes 4 * d_model.
    """

    n_layers: int
    d_model: int
    n_ctx: int
    d_head: int
    n_heads: int
    d_vocab: int = -1
    d_mlp: int | None = None
    attn_only: bool = False
    act_fn: str = "gelu"
    normalization_type: str | None = "LN"
    positional_embedding_type: str = "standard"
    seed: int = 0
    model_name: str = "interp"

    def __post_init__(self) -> None:
        positive_int(self, "n_layers", "d_model", "n_ctx", "d_head", "n_heads")
        require(
            self.d_model == self.n_heads * self.d_head,
            f"d_model ({self.d_model}) must equal n_heads * d_head ({self.n_heads} * {self.d_head} = "
            f"{self.n_heads * self.d_head}); change one of the three",
        )
        require(
            is_int(self.d_vocab) and (self.d_vocab == -1 or self.d_vocab > 1),
            f"ModelConfig.d_vocab must be > 1, or -1 to take it from the tokenizer; got {self.d_vocab!r}",
        )
        if self.attn_only:
            require(self.d_mlp is None, "an attention-only model has no MLP: leave d_mlp unset or set attn_only=false")
        else:
            if self.d_mlp is None:  # frozen: resolve the HookedTransformer default once, here
                object.__setattr__(self, "d_mlp", 4 * self.d_model)
            positive_int(self, "d_mlp")
        one_of(self, "act_fn", ACT_FNS)
        one_of(self, "normalization_type", NORMALIZATION_TYPES)
        one_of(self, "positional_embedding_type", POSITIONAL_EMBEDDINGS)
        require(
            self.positional_embedding_type != "rotary" or self.d_head % 2 == 0,
            f"rotary embeddings need an even d_head, got {self.d_head}",
        )
        require(
            is_int(self.seed) and 0 <= self.seed < 2**63,
            f"ModelConfig.seed must be an integer in [0, 2**63), got {self.seed!r}",
        )
        require(isinstance(self.attn_only, bool), f"ModelConfig.attn_only must be true or false, got {self.attn_only!r}")
        require(isinstance(self.model_name, str), f"ModelConfig.model_name must be a string, got {self.model_name!r}")

    @property
    def n_params_attention(self) -> int:
        """Parameters in the attention layers (Q, K, V, O weights and biases)."""
        per_layer = 4 * self.d_model * self.n_heads * self.d_head + 3 * self.n_heads * self.d_head + self.d_model
        return self.n_layers * per_layer

    def with_vocab(self, d_vocab: int) -> "ModelConfig":
        """This config with d_vocab set; an explicit d_vocab that disagrees with the tokenizer is an error."""
        if self.d_vocab not in (-1, d_vocab):
            raise ConfigError(
                f"model d_vocab={self.d_vocab} does not match the tokenizer's vocabulary size {d_vocab}; "
                "set model.d_vocab = -1 to take it from the tokenizer"
            )
        return dataclasses.replace(self, d_vocab=d_vocab)

    def to_hooked_transformer_dict(self) -> dict[str, Any]:
        """The fields of a HookedTransformerConfig describing this model (the content of config.json)."""
        require(self.d_vocab > 0, "resolve d_vocab (ModelConfig.with_vocab) before saving or building a model")
        d_mlp = self.d_mlp
        return {
            "model_name": self.model_name,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_ctx": self.n_ctx,
            "d_head": self.d_head,
            "n_heads": self.n_heads,
            "d_mlp": d_mlp,
            "d_vocab": self.d_vocab,
            "d_vocab_out": self.d_vocab,
            "act_fn": None if self.attn_only else self.act_fn,
            "attn_only": self.attn_only,
            "normalization_type": self.normalization_type,
            "positional_embedding_type": self.positional_embedding_type,
            "original_architecture": "interp",
            "seed": self.seed,
            "tokenizer_name": None,
            "default_prepend_bos": False,
        }

    @classmethod
    def from_hooked_transformer_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of `to_hooked_transformer_dict` (extra HookedTransformerConfig fields are ignored)."""
        attn_only = bool(data.get("attn_only", False))
        return cls(
            n_layers=data["n_layers"],
            d_model=data["d_model"],
            n_ctx=data["n_ctx"],
            d_head=data["d_head"],
            n_heads=data["n_heads"],
            d_vocab=data["d_vocab"],
            d_mlp=None if attn_only else data.get("d_mlp"),
            attn_only=attn_only,
            act_fn=data.get("act_fn") or "gelu",
            normalization_type=data.get("normalization_type"),
            positional_embedding_type=data.get("positional_embedding_type", "standard"),
            seed=data.get("seed") or 0,
            model_name=data.get("model_name", "interp"),
        )
