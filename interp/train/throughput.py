"""Model FLOPs per training token, peak dense FLOP/s of common CUDA devices, and model-FLOPs utilisation (MFU).

The accounting is PaLM's (Chowdhery et al. 2022, appendix B), as nanoGPT's `estimate_mfu` uses it: a training
token costs 6 FLOPs per parameter it passes through (2 forward, 4 backward), plus attention's own products,
12 * n_layers * n_ctx * (n_heads * d_head) per token (QK^T and pattern @ V: 2 matmuls of 2 FLOPs per
multiply-add, times 3 for forward and backward). The causal mask is not discounted, as in PaLM.

The parameters counted are the ones a token's matmuls and elementwise ops touch: every parameter except the
token and positional embeddings (a lookup and an add, no multiply), so the unembedding matrix is in (its
d_model x vocab product is real work) and so are biases and norm gains (`counted_parameters` reads the
same number off a built model). Chinchilla's accounting (Hoffmann et
al. 2022, appendix F) counts the same products; it differs in counting the embeddings' 2 * vocab * d_model as
well, which a lookup does not perform.

MFU is achieved model FLOP/s over the device's peak dense FLOP/s at the precision trained in (recomputation and
padding are not model FLOPs).

>>> from interp.model.config import ModelConfig
>>> cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=4, n_heads=2, d_vocab=5, attn_only=True)
>>> non_embedding_parameters(cfg)   # attention 4*(8*8+8) + ln1 and ln_final 2*(2*8) + unembedding 8*5
360
>>> training_flops_per_token(cfg)    # 6*360 + 12*1*4*8
2544
>>> peak_flops("NVIDIA H100 80GB HBM3", "bf16"), peak_flops("NVIDIA H200", "fp32", tf32=True)
(989000000000000.0, 495000000000000.0)
>>> round(mfu(tokens_per_second=1e6, flops_per_token=2544, peak=1e12), 6)
0.002544
"""

import math
import re

import torch

from interp.model.config import ModelConfig

TERA = 1e12

# Peak dense (no 2:4 sparsity) tensor-core FLOP/s in TFLOP/s from NVIDIA's data sheets, by precision: "bf16" and
# "fp16" with float32 accumulation, "tf32" float32 matmuls on TF32 tensor cores, "fp32" plain float32 (CUDA cores).
# Matched against torch.cuda.get_device_name() ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "Tesla T4") as
# regular expressions, first match wins: the specific names come first, and \b keeps A10 off A100 and A10G.
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    (r"H100 PCIe", {"bf16": 756, "fp16": 756, "tf32": 378, "fp32": 51}),
    (r"H100 NVL", {"bf16": 835, "fp16": 835, "tf32": 418, "fp32": 60}),
    (r"H100", {"bf16": 989, "fp16": 989, "tf32": 495, "fp32": 67}),  # SXM ("NVIDIA H100 80GB HBM3")
    (r"H200 NVL", {"bf16": 836, "fp16": 836, "tf32": 418, "fp32": 60}),
    (r"H200", {"bf16": 989, "fp16": 989, "tf32": 495, "fp32": 67}),  # SXM, and GH200
    (r"A100", {"bf16": 312, "fp16": 312, "tf32": 156, "fp32": 19.5}),
    (r"L40S", {"bf16": 362, "fp16": 362, "tf32": 183, "fp32": 91.6}),
    (r"\bL4\b", {"bf16": 121, "fp16": 121, "tf32": 60, "fp32": 30.3}),
    (r"\bA10\b", {"bf16": 125, "fp16": 125, "tf32": 62.5, "fp32": 31.2}),
    (r"RTX 4090", {"bf16": 165, "fp16": 165, "tf32": 82.6, "fp32": 82.6}),
    (r"RTX 3090", {"bf16": 71, "fp16": 71, "tf32": 35.6, "fp32": 35.6}),
    (r"V100", {"fp16": 125, "fp32": 15.7}),  # no bf16, no TF32
    (r"\bT4\b", {"fp16": 65, "fp32": 8.1}),
)


NORM_PARAMETERS = {"LN": 2, "RMS": 1, "LNPre": 0, "RMSPre": 0, None: 0}  # per d_model: gain and bias, gain, none


def non_embedding_parameters(cfg: ModelConfig) -> int:
    """Parameters of `cfg`'s TransformerBridge other than the token and positional embeddings (d_vocab resolved;
    the bridge's unembedding bias is a constant zero buffer, not a parameter)."""
    width = cfg.n_heads * cfg.d_head
    norm = NORM_PARAMETERS[cfg.normalization_type] * cfg.d_model
    attention = 3 * (cfg.d_model * width + width) + width * cfg.d_model + cfg.d_model + norm
    mlp = 0 if cfg.attn_only else cfg.d_model * cfg.d_mlp + cfg.d_mlp + cfg.d_mlp * cfg.d_model + cfg.d_model + norm
    return cfg.n_layers * (attention + mlp) + norm + cfg.d_model * cfg.d_vocab


def counted_parameters(model: torch.nn.Module) -> int:
    """The same count read off a built model: its Parameters except `embed.weight` and `pos_embed.weight`."""
    state = model.state_dict(keep_vars=True)
    return sum(
        v.numel() for k, v in state.items() if isinstance(v, torch.nn.Parameter) and k not in ("embed.weight", "pos_embed.weight")
    )


def training_flops_per_token(cfg: ModelConfig, n_params: int | None = None) -> int:
    """Model FLOPs of one training token (forward and backward): 6 N + 12 n_layers n_ctx (n_heads d_head), with
    N `n_params` (default `non_embedding_parameters(cfg)`)."""
    n = non_embedding_parameters(cfg) if n_params is None else n_params
    return 6 * n + 12 * cfg.n_layers * cfg.n_ctx * cfg.n_heads * cfg.d_head


def peak_key(precision: str, tf32: bool) -> str:
    """Which peak a run's matmuls run at: its autocast dtype, else TF32 or plain float32."""
    return precision if precision != "fp32" else ("tf32" if tf32 else "fp32")


def peak_flops(device_name: str, precision: str, *, tf32: bool = False) -> float | None:
    """Peak dense FLOP/s of the CUDA device called `device_name` at `precision` ("fp32", "bf16", "fp16"; fp32 with
    `tf32` on uses the TF32 peak), or None for a device or precision the table does not know."""
    key = peak_key(precision, tf32)
    for pattern, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            if key == "tf32" and "tf32" not in peaks:  # a GPU before Ampere ignores the TF32 setting
                key = "fp32"
            return peaks[key] * TERA if key in peaks else None
    return None


def mfu(tokens_per_second: float, flops_per_token: float, peak: float) -> float:
    """Model-FLOPs utilisation: achieved model FLOP/s over `peak` FLOP/s (a fraction, 0 to 1 in practice)."""
    if not (peak > 0 and math.isfinite(peak)):
        raise ValueError(f"peak FLOP/s must be a positive number, got {peak!r}")
    return tokens_per_second * flops_per_token / peak
