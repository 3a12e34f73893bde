"""Next-token loss of a model's logits, one value per predicted token: what training noise and analysis share.

>>> import torch
>>> logits = torch.zeros(1, 3, 4)                        # uniform over 4 tokens
>>> per_token_loss(logits, torch.tensor([[0, 1, 2]])).shape, round(float(per_token_loss(logits, torch.tensor([[0, 1, 2]]))[0, 0]), 4)
(torch.Size([1, 2]), 1.3863)
"""

from jaxtyping import Float, Int
from torch import Tensor


def per_token_loss(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos-1"]:
    """Cross-entropy of predicting tokens[:, 1:] from logits[:, :-1], one value per predicted token."""
    log_probs = logits[:, :-1].float().log_softmax(dim=-1)
    return -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1)
