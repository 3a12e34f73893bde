"""The native TransformerBridge block, implemented once, over a snapshot of the bridge's weights.

- activations.py: the MLP activation table; norms.py: LN, LNPre, RMS, RMSPre, none;
- attention.py: causal attention, fused (SDPA) or explicit (scores, pattern), with query-position offsets;
- weights.py: `Weights`, a live (training) or detached and fused (patching) snapshot, with projections, MLP and
  unembedding (full or selected columns);
- forward.py: embed, block, run_blocks, forward, with `Perturbation`s that see or edit activations at hook names;
- fast_forward.py: the training forward; bridge_blocks.py: the bridge's own blocks from a layer on (the reference).

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.model.engine.forward import forward
>>> from interp.model.engine.weights import Weights
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, d_mlp=32))
>>> tokens = torch.randint(0, 11, (2, 8))
>>> torch.allclose(forward(Weights.of(model), tokens), model(tokens), atol=1e-5)
True
"""
