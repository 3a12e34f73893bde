"""The reference for our lenses: TransformerLens 4.3's `logit_lens`, which runs on a raw native bridge.

It reads the accumulated residual stream ('0_pre', '1_pre', ..., 'final_post') through the real `ln_final` module
with recomputed statistics, optionally through a per-entry `lens=` translator: so it is the reference for the logit
lens and, with our translators passed in, for the tuned lens. It gives per-row target ranks and probabilities;
the KL to the final prediction is computed here from its full-vocabulary log-probabilities.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.analysis.lens.metrics import lens_metrics
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> reference = reference_lens(model, tokens)
>>> reference["labels"]
['0_pre', '1_pre', 'final_post']
>>> ours = lens_metrics(model, tokens, heads=False)
>>> torch.allclose(ours.prob[:, :, :-1], reference["prob"][:, :, :-1], atol=1e-5)
True
"""

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.lens.metrics import lens_targets
from interp.analysis.lens.translators import TunedLens, translate


@torch.no_grad()
def reference_lens(model, tokens: Int[Tensor, "batch pos"], *, lens: TunedLens | None = None) -> dict:
    """TransformerLens's labels, and KL to final, next-token rank and probability as [batch layer pos] (the last
    position's rank and probability read token 0: it has no next token)."""
    from transformer_lens.tools.analysis import logit_lens

    n_layers = model.cfg.n_layers
    targets = lens_targets(tokens).clamp(min=0)
    translator = None if lens is None else (lambda entry, index: translate(lens, entry, index, n_layers))
    ranked = logit_lens(model, tokens, positions=None, targets=targets, return_type="probs", lens=translator)
    full = logit_lens(model, tokens, positions=None, return_type="log_probs", lens=translator)
    log_probs = full.values  # layer batch pos vocab
    final = log_probs[-1]
    kl = (final.exp() * (final - log_probs)).sum(-1)
    return {
        "labels": ranked.labels,
        "kl": kl.transpose(0, 1),
        "rank": ranked.readout.target_ranks[..., 0].transpose(0, 1),
        "prob": ranked.values[..., 0].transpose(0, 1),
    }
