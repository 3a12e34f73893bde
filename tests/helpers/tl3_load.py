"""Run under transformer-lens 3.x: load an interp checkpoint into HookedTransformer and write its logits.

Usage: python tl3_load.py CHECKPOINT_DIR TOKENS.safetensors OUT.safetensors
Only the checkpoint's own files are used: config.json -> HookedTransformerConfig, model.safetensors -> strict load.
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig

checkpoint, tokens_file, out_file = map(Path, sys.argv[1:4])
cfg = HookedTransformerConfig(**json.loads((checkpoint / "config.json").read_text()))
model = HookedTransformer(cfg)
state = load_file(str(checkpoint / "model.safetensors"))
# HookedTransformer keeps its causal mask and IGNORE constant as buffers; they are not weights, so keep its own.
for name, buffer in model.state_dict().items():
    if name.endswith((".mask", ".IGNORE")):
        state[name] = buffer
model.load_state_dict(state, strict=True)
model.eval()
tokens = load_file(str(tokens_file))["tokens"]
with torch.no_grad():
    logits = model(tokens)
save_file({"logits": logits.contiguous()}, str(out_file))
