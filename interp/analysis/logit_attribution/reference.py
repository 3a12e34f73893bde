"""The reference for our attribution: TransformerLens 4.3's own `direct_logit_attribution`, on a processed copy.

TransformerLens's DLA refuses a raw native bridge ("requires compatibility mode and an identity final norm"): it
needs `enable_compatibility_mode()`, which folds the final norm into W_U and b_U, centres the writing weights and
the unembedding and folds value biases into b_O — changing the weights, so it runs on a deep copy here, never on
the caller's model. It reads one position for every row (a `Slice`), so rows are grouped by read position.

Its numbers match ours where the processing leaves them unchanged: per component (embeddings, each attention and
MLP output) for a logit difference always; per head with `fold_value_biases=False` (folding moves the value
biases' share from the heads to b_O); for one token's logit with `center_unembed=False` (centring shifts every
logit by the mean over the vocabulary). `reference_attribution` takes those options.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.analysis.logit_attribution.decompose import direct_logit_attribution
>>> from interp.analysis.logit_attribution.directions import LogitDirection
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> direction = LogitDirection(torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8]), torch.tensor([7, 7, 5, 5]), "a - b")
>>> labels, values = reference_attribution(model, tokens, direction, unit="component")
>>> labels
['embed', 'pos_embed', '0_attn_out', '1_attn_out']
>>> ours = direct_logit_attribution(model, tokens, direction).components.T
>>> torch.allclose(values, ours.float(), atol=1e-5)
True
"""

import contextlib
import copy
import io

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.logit_attribution.directions import LogitDirection


def processed_copy(model, *, fold_value_biases: bool = True, center_unembed: bool = True):
    """A deep copy of `model` in TransformerLens compatibility mode (the caller's model is left as it was)."""
    twin = copy.deepcopy(model).eval()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        twin.enable_compatibility_mode(disable_warnings=True, fold_value_biases=fold_value_biases, center_unembed=center_unembed)
    return twin


@torch.no_grad()
def reference_attribution(
    model,
    tokens: Int[Tensor, "batch pos"],
    direction: LogitDirection,
    *,
    unit: str = "head",
    fold_value_biases: bool = True,
    center_unembed: bool = True,
) -> tuple[list[str], Float[Tensor, "component batch"]]:
    """TransformerLens's labels and attributions [component batch] of `direction` at each row's read position."""
    from transformer_lens.tools.analysis import direct_logit_attribution as tl_dla

    twin = processed_copy(model, fold_value_biases=fold_value_biases, center_unembed=center_unembed)
    out, labels = None, None
    for position in direction.positions.unique().tolist():
        rows = (direction.positions == position).nonzero()[:, 0]
        incorrect = None if direction.distractor is None else direction.distractor[rows]
        result = tl_dla(
            twin, tokens[rows], answer_tokens=direction.answer[rows], incorrect_tokens=incorrect, unit=unit, pos=position
        )
        if out is None:
            out = torch.zeros(result.attribution.shape[0], tokens.shape[0])
            labels = result.labels
        out[:, rows] = result.attribution.float()
    return labels, out
