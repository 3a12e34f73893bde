"""Read any residual-stream-shaped vector as logits: the model's final normalisation (its statistics recomputed
for that vector, as the logit lens does) and unembedding, over a detached weight snapshot.

On the final residual stream this is the model's own output:

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (2, 8), generator=torch.Generator().manual_seed(0))
>>> _, cache = model.run_with_cache(tokens)
>>> readout = Readout.of(model)
>>> torch.allclose(readout.logits(cache["blocks.0.hook_resid_post"]), model(tokens), atol=1e-5)
True
"""

from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.engine.weights import Weights


@dataclass(frozen=True, eq=False)
class Readout:
    """The final norm and unembedding of one model, and each head's z @ W_O."""

    weights: Weights

    @classmethod
    def of(cls, model) -> "Readout":
        return cls(Weights.of(model))

    def logits(self, stream: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
        return self.weights.unembed(self.weights.norm(stream, "ln_final"))

    def head_outputs(self, layer: int, z: Float[Tensor, "batch pos head d_head"]) -> Float[Tensor, "batch pos head d_model"]:
        return einops.einsum(z, self.weights.attn(layer, "W_O"), "batch pos head e, head e m -> batch pos head m")


def kl_to_final(final_log_probs: Float[Tensor, "... vocab"], lens_logits: Float[Tensor, "... vocab"]) -> Float[Tensor, "..."]:
    """KL(final || lens) in nats: how much the lens's prediction misses the model's (0 when they agree)."""
    lens_log_probs = torch.log_softmax(lens_logits.float(), dim=-1)
    return (final_log_probs.exp() * (final_log_probs - lens_log_probs)).sum(-1).clamp(min=0)  # >= 0 up to rounding


def target_rank_and_prob(
    lens_logits: Float[Tensor, "... vocab"], targets: Int[Tensor, "..."]
) -> tuple[Int[Tensor, "..."], Float[Tensor, "..."]]:
    """The target's rank (0 = the top prediction; ties count only strictly larger logits, as TransformerLens does)
    and probability; rank -1 and probability NaN where the target is -1 (no target)."""
    has = targets >= 0
    safe = targets.clamp(min=0)[..., None]
    picked = lens_logits.gather(-1, safe)
    rank = (lens_logits > picked).sum(-1)
    prob = torch.log_softmax(lens_logits.float(), dim=-1).gather(-1, safe).squeeze(-1).exp()
    return torch.where(has, rank, -1), torch.where(has, prob, torch.nan)
