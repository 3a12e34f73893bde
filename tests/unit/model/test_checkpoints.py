import json

import pytest
import torch
from helpers.factories import tiny_config

from interp.core.errors import CheckpointError
from interp.model.build import build_model
from interp.model.layout import from_hooked_state_dict, to_hooked_state_dict
from interp.train.checkpoints import list_checkpoints, load_model, read_checkpoint, resolve_checkpoint, save_checkpoint

CONFIGS = {
    "attn-only": tiny_config(),
    "mlp": tiny_config(attn_only=False, d_mlp=48, act_fn="gelu_new"),
    "no-norm": tiny_config(normalization_type=None, n_layers=1),
    "rms": tiny_config(normalization_type="RMS", attn_only=False),
}


def _perturbed(cfg):
    """A model whose every parameter differs from init, so a load that silently kept init weights fails."""
    model = build_model(cfg)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_save_load_gives_identical_logits(tmp_path, name):
    cfg = CONFIGS[name]
    model = _perturbed(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx))
    ckpt = save_checkpoint(tmp_path / "step_000007", model, cfg, step=7, tokens_seen=7 * 48)
    loaded = load_model(ckpt.path)
    assert not loaded.training
    assert torch.equal(model.eval()(tokens), loaded(tokens))
    assert ckpt.step == 7 and ckpt.tokens_seen == 336 and ckpt.config == cfg


def test_files_use_the_hooked_transformer_layout(tmp_path):
    from safetensors.torch import load_file

    cfg = CONFIGS["mlp"]
    save_checkpoint(tmp_path / "c", build_model(cfg), cfg, step=0, tokens_seen=0)
    weights = load_file(str(tmp_path / "c" / "model.safetensors"))
    h, m, dh, v = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.d_vocab
    assert weights["embed.W_E"].shape == (v, m)
    assert weights["pos_embed.W_pos"].shape == (cfg.n_ctx, m)
    assert weights["blocks.0.attn.W_Q"].shape == (h, m, dh)
    assert weights["blocks.0.attn.b_K"].shape == (h, dh)
    assert weights["blocks.1.attn.W_O"].shape == (h, dh, m)
    assert weights["blocks.0.mlp.W_in"].shape == (m, cfg.d_mlp)
    assert weights["blocks.0.mlp.W_out"].shape == (cfg.d_mlp, m)
    assert weights["blocks.0.ln1.w"].shape == (m,) and "ln_final.b" in weights
    assert weights["unembed.W_U"].shape == (m, v)
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["d_vocab"] == v and config["n_heads"] == h and config["d_mlp"] == cfg.d_mlp


def test_hooked_layout_matches_the_bridge_weight_views():
    """Our W_Q/W_O per-head layout is the one TransformerLens itself exposes on the model."""
    cfg = CONFIGS["attn-only"]
    model = _perturbed(cfg)
    hooked = to_hooked_state_dict(model.state_dict(), cfg)
    assert torch.equal(hooked["blocks.1.attn.W_Q"], model.W_Q[1].detach())
    assert torch.equal(hooked["blocks.0.attn.W_O"], model.W_O[0].detach())
    assert torch.equal(hooked["unembed.W_U"], model.W_U.detach())


@pytest.mark.parametrize("name", CONFIGS)
def test_conversion_is_the_inverse_of_transformer_lens_convert_tl_checkpoint(name):
    cfg = CONFIGS[name]
    state = _perturbed(cfg).state_dict()
    back = from_hooked_state_dict(to_hooked_state_dict(state, cfg), cfg)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_run_directory_resolution_ignores_half_written_directories(tmp_path):
    cfg = CONFIGS["attn-only"]
    model = build_model(cfg)
    for step in (0, 3, 10):
        save_checkpoint(tmp_path / "checkpoints" / f"step_{step:06d}", model, cfg, step=step, tokens_seen=step)
    (tmp_path / "checkpoints" / ".step_000020.tmp-abc").mkdir()  # what a crash mid-write leaves
    assert [c.step for c in list_checkpoints(tmp_path)] == [0, 3, 10]
    assert resolve_checkpoint(tmp_path).step == 10
    assert resolve_checkpoint(tmp_path, 3).step == 3
    with pytest.raises(CheckpointError, match="no checkpoint at step 4; steps: \\[0, 3, 10\\]"):
        resolve_checkpoint(tmp_path, 4)


def test_overwriting_a_checkpoint_replaces_it_whole(tmp_path):
    cfg = CONFIGS["attn-only"]
    save_checkpoint(tmp_path / "c", build_model(cfg), cfg, step=1, tokens_seen=1)
    save_checkpoint(tmp_path / "c", _perturbed(cfg), cfg, step=2, tokens_seen=2)
    assert read_checkpoint(tmp_path / "c").step == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_missing_truncated_and_mismatched_files_give_clear_errors(tmp_path):
    cfg = CONFIGS["attn-only"]
    path = save_checkpoint(tmp_path / "c", build_model(cfg), cfg, step=0, tokens_seen=0).path
    weights = path / "model.safetensors"
    data = weights.read_bytes()

    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_model(path)

    weights.write_bytes(data)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "n_heads": 8, "d_head": 4}))
    with pytest.raises(CheckpointError, match="do not match config.json"):
        load_model(path)

    weights.unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        load_model(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nowhere")
