"""A hand-wired 2-layer attention-only model with a known previous-token head and a known induction head.

The residual stream (d_model 48, no LayerNorm) has three 16-dim blocks: position one-hot (0..15), token
one-hot (16..31) and "previous token" (32..47).

- L0H0 attends from position i to i-1 (positional QK) and copies the token block into the previous-token
  block: a previous-token head.
- L1H0 matches the query's token block against each key's previous-token block and copies the key's token
  to the logits (W_U reads the token block): an induction head whose OV circuit is the identity.
- Every other head has small random weights.
"""

import torch

from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.model.layout import from_hooked_state_dict, to_hooked_state_dict

N_CTX = 16
D_VOCAB = 16
POS, TOK, PREV = slice(0, 16), slice(16, 32), slice(32, 48)
SHARP = 8.0  # q.k = SHARP**2 / sqrt(d_head) = 16 on the target key: softmax puts > 0.99 there


def planted_config() -> ModelConfig:
    return ModelConfig(
        n_layers=2, d_model=48, n_ctx=N_CTX, d_head=16, n_heads=3, d_vocab=D_VOCAB, attn_only=True, normalization_type=None
    )


def planted_model(*, copy_sign: float = 1.0):
    """The model described in the module docstring; `copy_sign=-1` negates the induction head's OV circuit."""
    cfg = planted_config()
    model = build_model(cfg)
    state = to_hooked_state_dict(model.state_dict(), cfg)
    g = torch.Generator().manual_seed(0)
    eye = torch.eye(16)
    for key, value in state.items():
        state[key] = (
            torch.zeros_like(value)
            if key.endswith(("b_Q", "b_K", "b_V", "b_O", "b_U"))
            else 0.02 * torch.randn(value.shape, generator=g)
        )
    state["embed.W_E"] = torch.zeros(D_VOCAB, 48)
    state["embed.W_E"][:, TOK] = eye
    state["pos_embed.W_pos"] = torch.zeros(N_CTX, 48)
    state["pos_embed.W_pos"][:, POS] = eye
    # L0H0: query at position i matches key at position i-1; value = token block -> previous-token block
    shift = torch.diag(torch.ones(15), 1)  # row p has a one at column p+1: key p is "one before" query p+1
    for name, block in (("W_Q", eye), ("W_K", shift)):
        w = torch.zeros(48, 16)
        w[POS] = SHARP * block
        state[f"blocks.0.attn.{name}"][0] = w
    state["blocks.0.attn.W_V"][0] = torch.zeros(48, 16)
    state["blocks.0.attn.W_V"][0][TOK] = eye
    state["blocks.0.attn.W_O"][0] = torch.zeros(16, 48)
    state["blocks.0.attn.W_O"][0][:, PREV] = eye
    # L1H0: query token block . key previous-token block; value = token block -> token block (to the logits)
    for name, block in (("W_Q", TOK), ("W_K", PREV)):
        w = torch.zeros(48, 16)
        w[block] = SHARP * eye
        state[f"blocks.1.attn.{name}"][0] = w
    state["blocks.1.attn.W_V"][0] = torch.zeros(48, 16)
    state["blocks.1.attn.W_V"][0][TOK] = eye
    state["blocks.1.attn.W_O"][0] = torch.zeros(16, 48)
    state["blocks.1.attn.W_O"][0][:, TOK] = copy_sign * 10 * eye
    state["unembed.W_U"] = torch.zeros(48, D_VOCAB)
    state["unembed.W_U"][TOK] = eye
    model.load_state_dict(from_hooked_state_dict(state, cfg), strict=True)
    return model.eval()


def save_planted_run(run_dir, *, mix=(0.0, 0.1, 0.3, 1.0), steps=(0, 10, 20, 100)):
    """A run directory whose checkpoints interpolate from random weights to the planted model.

    Saved with a 16-letter char tokenizer and a synthetic-only RunConfig, so commands can rebuild its data.
    """
    from interp.text.config import DataConfig
    from interp.text.tokenizers import CharTokenizer
    from interp.train.checkpoints import CHECKPOINTS_DIR, save_checkpoint
    from interp.train.config import RunConfig, TrainConfig

    cfg = planted_config()
    run = RunConfig(
        model=cfg,
        data=DataConfig(corpus="none", tokenizer="char", repeated_fraction=1.0, span_min=2, span_max=8),
        train=TrainConfig(steps=max(steps), batch_size=4, n_checkpoints=len(steps)),
    )
    tokenizer = CharTokenizer("abcdefghijklmnop").to_dict()
    start, end = build_model(cfg).state_dict(), planted_model().state_dict()
    model = build_model(cfg)
    for step, t in zip(steps, mix):
        model.load_state_dict({k: (1 - t) * start[k] + t * end[k] for k in start})
        save_checkpoint(
            run_dir / CHECKPOINTS_DIR / f"step_{step:06d}",
            model,
            cfg,
            step=step,
            tokens_seen=step * 64,
            run=run,
            tokenizer=tokenizer,
        )
    return run_dir
