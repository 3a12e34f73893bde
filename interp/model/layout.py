"""The HookedTransformer <-> TransformerBridge parameter layout, and reading a weights file without unpickling.

Checkpoints store weights in the HookedTransformer layout (`embed.W_E`, `blocks.0.attn.W_Q` [head d_model d_head],
...), which transformer-lens 3.x loads directly; the native bridge of 4.x names them `blocks.0.attn.q.weight`
[(head d_head) d_model]. `to_hooked_state_dict` and `from_hooked_state_dict` convert between the two (the second
through TransformerLens's own `convert_tl_checkpoint`). `load_state_dict_file` reads `.safetensors`, or a
`.pt`/`.pth`/`.bin` file through `torch.load(weights_only=True)` only.
"""

import warnings
from pathlib import Path

import einops
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from interp.core.errors import CheckpointError
from interp.model.config import ModelConfig


def to_hooked_state_dict(bridge_state: dict[str, Tensor], cfg: ModelConfig) -> dict[str, Tensor]:
    """Bridge parameter names (`blocks.0.attn.q.weight`) -> HookedTransformer names and shapes."""
    heads = cfg.n_heads
    out: dict[str, Tensor] = {}
    for key, value in bridge_state.items():
        prefix, _, leaf = key.rpartition(".")
        module, _, kind = prefix.rpartition(".")
        if prefix == "embed":
            out["embed.W_E"] = value
        elif prefix == "pos_embed":
            out["pos_embed.W_pos"] = value
        elif prefix == "unembed":
            out["unembed.W_U" if leaf == "weight" else "unembed.b_U"] = value.T if leaf == "weight" else value
        elif kind in ("q", "k", "v") and module.endswith(".attn"):
            name = kind.upper()
            if leaf == "weight":
                w = einops.rearrange(value, "(head d_head) d_model -> head d_model d_head", head=heads)
                out[f"{module}.W_{name}"] = w
            else:
                out[f"{module}.b_{name}"] = einops.rearrange(value, "(head d_head) -> head d_head", head=heads)
        elif kind == "o" and module.endswith(".attn"):
            if leaf == "weight":
                w = einops.rearrange(value, "d_model (head d_head) -> head d_head d_model", head=heads)
                out[f"{module}.W_O"] = w
            else:
                out[f"{module}.b_O"] = value
        elif kind in ("in", "out") and module.endswith(".mlp"):
            name = "in" if kind == "in" else "out"
            out[f"{module}.W_{name}" if leaf == "weight" else f"{module}.b_{name}"] = value.T if leaf == "weight" else value
        elif leaf in ("weight", "bias") and prefix.rpartition(".")[2] in ("ln1", "ln2", "ln_final"):
            out[f"{prefix}.{'w' if leaf == 'weight' else 'b'}"] = value
        else:
            raise CheckpointError(f"no HookedTransformer name for parameter {key!r}; this architecture cannot be saved yet")
    return {k: v.detach().contiguous().clone() for k, v in out.items()}


def from_hooked_state_dict(hooked_state: dict[str, Tensor], cfg: ModelConfig) -> dict[str, Tensor]:
    """HookedTransformer layout -> bridge layout, through TransformerLens's own converter."""
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    from interp.model.build import bridge_config

    try:
        return convert_tl_checkpoint(hooked_state, bridge_config(cfg))
    except ValueError as error:
        raise CheckpointError(f"weights do not match config.json: {error}") from None


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """Tensors from a `.safetensors` file, or from a `.pt`/`.pth`/`.bin` file loaded with
    `torch.load(weights_only=True)`, which refuses any pickle that would build objects other than tensors
    and plain containers (a pickle can run code when it is loaded; these never get the chance).

    >>> import tempfile
    >>> from safetensors.torch import save_file
    >>> path = Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> save_file({"embed.W_E": torch.ones(11, 16)}, str(path))
    >>> {name: tuple(tensor.shape) for name, tensor in load_state_dict_file(path).items()}
    {'embed.W_E': (11, 16)}
    >>> _ = path.write_bytes(path.read_bytes()[:20])                # cut short, as an interrupted copy leaves it
    >>> load_state_dict_file(path)
    Traceback (most recent call last):
    interp.core.errors.CheckpointError: ... cannot be read (...); the file is truncated or corrupted
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise CheckpointError(f"{path} cannot be read ({error}); the file is truncated or corrupted") from None
    if path.suffix not in (".pt", ".pth", ".bin"):
        raise CheckpointError(f"{path}: weights must be a .safetensors file (or .pt/.pth/.bin, loaded as tensors only)")
    warnings.warn(
        f"{path} is a pickle file: loading it with torch.load(weights_only=True), which accepts tensors only; "
        "prefer .safetensors",
        stacklevel=2,
    )
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # UnpicklingError for a refused object; any failure means: not loaded
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} was refused by torch.load(weights_only=True) ({first}); it holds objects other than tensors or "
            "is corrupted. interp never unpickles arbitrary objects: convert the file to .safetensors from a trusted source"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path} does not hold a flat state dict (parameter name -> tensor)")
    return state
