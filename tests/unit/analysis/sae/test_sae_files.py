"""Dictionary files: exact round trips for every kind, SAELens's own files read, atomic saves, one-line errors."""

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import interp.analysis.sae.files as files
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.files import check_source, load_dictionary, save_dictionary
from interp.core.errors import CheckpointError, ConfigError

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "saelens"
D_IN, FEATURES = 8, 24
MODEL = {"d_model": D_IN, "n_layers": 2, "n_heads": 2, "d_head": 4}
SOURCE = {"model_name": "tiny", "n_ctx": 16, "step": 7, "model": MODEL}

# name -> (config, d_out, the architecture cfg.json must name)
KINDS = {
    "relu": (SAEConfig(site="resid_post0", kind="relu", n_features=FEATURES), D_IN, "standard"),
    "topk": (SAEConfig(site="resid_post0", kind="topk", n_features=FEATURES, k=3), D_IN, "topk"),
    "batchtopk": (SAEConfig(site="z1", kind="batchtopk", n_features=FEATURES, k=3), D_IN, "jumprelu"),
    "jumprelu": (SAEConfig(site="head_out1h1", kind="jumprelu", n_features=FEATURES), D_IN, "jumprelu"),
    "relu-transcoder": (SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="relu", n_features=FEATURES), 6, "transcoder"),
    "topk-transcoder": (
        SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="topk", n_features=FEATURES, k=3),
        6,
        "topk_transcoder",
    ),
    "batchtopk-transcoder": (
        SAEConfig(site="resid_mid1", output_site="mlp_out1", kind="batchtopk", n_features=FEATURES, k=3),
        6,
        "jumprelu_transcoder",
    ),
    "jumprelu-transcoder": (
        SAEConfig(site="resid_mid1", output_site="mlp_out1", kind="jumprelu", n_features=FEATURES),
        6,
        "jumprelu_transcoder",
    ),
}


def dictionary(config: SAEConfig, d_out: int = D_IN, seed: int = 0) -> SparseDictionary:
    """Random weights everywhere, a non-zero b_dec, some features gated off, thresholds that matter."""
    sae = SparseDictionary(
        d_in=D_IN, n_features=FEATURES, kind=config.kind, k=config.k, d_out=d_out, transcoder=config.is_transcoder, seed=seed
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sae.named_parameters():
            if name != "log_threshold":
                param.add_(torch.randn(param.shape, generator=generator) * 0.3)
        sae.b_enc[:4] = -50.0
        if config.kind == "jumprelu":
            sae.log_threshold.copy_((torch.rand(FEATURES, generator=generator) * 0.6 + 0.05).log())
        if config.kind == "batchtopk":
            sae.log_threshold.fill_(float(torch.tensor(0.3).log()))
    return sae.eval()


def outputs(sae: SparseDictionary, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        features = sae.encode(x)
        return features, sae.decode(features)


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(32, D_IN, generator=torch.Generator().manual_seed(1)) * 1.5 + 0.2


def one_line_error(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and message
    return message


# ---- round trips ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_round_trips_with_identical_outputs(tmp_path, x, name):
    config, d_out, architecture = KINDS[name]
    sae = dictionary(config, d_out)
    folder = save_dictionary(tmp_path / "sae", sae, config, source=SOURCE, figures={"explained_variance": 0.93})
    assert json.loads((folder / "cfg.json").read_text())["architecture"] == architecture
    saved = load_dictionary(folder)
    assert saved.config == config and saved.source == SOURCE and saved.figures == {"explained_variance": 0.93}
    assert (saved.sae.kind, saved.sae.k, saved.sae.transcoder, saved.sae.d_out) == (sae.kind, sae.k, sae.transcoder, d_out)
    ours, theirs = outputs(sae, x), outputs(saved.sae, x)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    assert torch.allclose(saved.sae.threshold, sae.threshold, rtol=1e-6, atol=0)
    assert (ours[0] > 0).any() and not (ours[0][:, :4] > 0).any()  # features fire; the gated ones never do


@pytest.mark.parametrize("name", list(KINDS))
def test_our_cfg_json_alone_reads_back_as_saelens_would_see_it(tmp_path, x, name):
    """Without interp.json the directory is a plain SAELens one: cfg.json alone must describe the same maps."""
    config, d_out, _ = KINDS[name]
    sae = dictionary(config, d_out, seed=3)
    folder = save_dictionary(tmp_path / "sae", sae, config, source=SOURCE)
    (folder / "interp.json").unlink()
    saved = load_dictionary(folder)
    assert saved.config.input_site == config.input_site and saved.config.output_site == config.output_site
    assert saved.config.kind == ("jumprelu" if config.kind == "batchtopk" else config.kind)
    assert saved.source == {"model_name": "tiny", "n_ctx": 16, "format": "saelens"}
    ours, theirs = outputs(sae, x), outputs(saved.sae, x)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])


SAELENS_SITES = {
    "standard": ("resid_post0", None),
    "topk-rescaled": ("z1h1", None),
    "jumprelu-no-b_dec-input": ("mlp_out0", None),
    "jumprelu-transcoder": ("resid_mid0", "mlp_out0"),
}


@pytest.mark.parametrize("name", list(SAELENS_SITES))
def test_a_directory_saelens_saved_reads_with_saelens_outputs(name):
    """Fixtures written by SAELens 6.54.12's save_model, with its encode and decode of fixed inputs."""
    case = FIXTURES / name
    assert not (case / "sae" / "interp.json").exists()
    saved = load_dictionary(case / "sae")
    assert (saved.config.site, saved.config.output_site) == SAELENS_SITES[name]
    assert saved.config.tokens == SAEConfig(site="resid_post0", kind="relu").tokens  # training fields at their defaults
    x = load_file(str(case / "inputs.safetensors"))["x"]
    expected = load_file(str(case / "out.safetensors"))
    features, reconstruction = outputs(saved.sae, x)
    assert torch.allclose(features, expected["features"], atol=1e-5, rtol=0)
    assert torch.allclose(reconstruction, expected["reconstruction"], atol=1e-5, rtol=0)
    assert (features > 0).any()


def test_saelens_options_folded_without_the_fold_would_differ():
    """The fixtures need the folds: SAELens's raw weights in interp's maps give other features."""
    for name in ("topk-rescaled", "jumprelu-no-b_dec-input"):
        case = FIXTURES / name
        saved = load_dictionary(case / "sae")
        raw = load_file(str(case / "sae" / "sae_weights.safetensors"))
        naive = SparseDictionary(d_in=8, n_features=16, kind=saved.sae.kind, k=saved.sae.k)
        state = {k: v for k, v in raw.items() if k != "threshold"}
        if "threshold" in raw:
            state["log_threshold"] = raw["threshold"].log()
        naive.load_state_dict(state)
        inputs = load_file(str(case / "inputs.safetensors"))["x"]
        expected = load_file(str(case / "out.safetensors"))["features"]
        assert not torch.allclose(outputs(naive, inputs)[0], expected, atol=1e-3)


# ---- atomic writes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["save_file", "write_json"])
def test_a_save_failing_midway_leaves_the_old_directory_as_it_was(tmp_path, x, monkeypatch, failing):
    config, d_out, _ = KINDS["jumprelu"]
    old = dictionary(config, d_out, seed=0)
    folder = save_dictionary(tmp_path / "sae", old, config, source=SOURCE)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    real = getattr(files, failing)

    def fail_after_writing(*args, **kwargs):
        real(*args, **kwargs)  # the file is written, then the disk "fills"
        raise OSError("No space left on device")

    monkeypatch.setattr(files, failing, fail_after_writing)
    with pytest.raises(OSError, match="No space"):
        save_dictionary(folder, dictionary(config, d_out, seed=5), config, source=SOURCE)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sae"]  # no temporary directory left behind
    assert torch.equal(outputs(load_dictionary(folder).sae, x)[1], outputs(old, x)[1])


def test_a_dictionary_that_does_not_match_its_config_is_refused_and_nothing_written(tmp_path):
    sae = dictionary(KINDS["topk"][0])
    with pytest.raises(ConfigError) as error:
        save_dictionary(tmp_path / "sae", sae, KINDS["relu"][0], source=SOURCE)
    assert "does not match" in one_line_error(error)
    assert not any(tmp_path.iterdir())


# ---- bad files: one-line CheckpointError -------------------------------------------------------------------


@pytest.fixture
def saved_folder(tmp_path) -> Path:
    config, d_out, _ = KINDS["jumprelu"]
    return save_dictionary(tmp_path / "sae", dictionary(config, d_out), config, source=SOURCE)


def _truncate(folder: Path) -> None:
    data = (folder / "sae_weights.safetensors").read_bytes()
    (folder / "sae_weights.safetensors").write_bytes(data[: len(data) // 2])


def _drop_threshold(folder: Path) -> None:
    tensors = load_file(str(folder / "sae_weights.safetensors"))
    del tensors["threshold"]
    save_file(tensors, str(folder / "sae_weights.safetensors"))


def _extra_tensor(folder: Path) -> None:
    tensors = load_file(str(folder / "sae_weights.safetensors"))
    save_file(tensors | {"W_skip": torch.zeros(D_IN, D_IN)}, str(folder / "sae_weights.safetensors"))


def _fewer_features(folder: Path) -> None:
    tensors = load_file(str(folder / "sae_weights.safetensors"))
    fewer = {"W_enc": tensors["W_enc"][:, :-1].contiguous(), "W_dec": tensors["W_dec"][:-1]}
    fewer |= {"b_enc": tensors["b_enc"][:-1], "threshold": tensors["threshold"][:-1], "b_dec": tensors["b_dec"]}
    save_file(fewer, str(folder / "sae_weights.safetensors"))


def _wrong_decoder(folder: Path) -> None:
    tensors = load_file(str(folder / "sae_weights.safetensors"))
    save_file(tensors | {"W_dec": torch.zeros(FEATURES, D_IN + 1)}, str(folder / "sae_weights.safetensors"))


def _cfg_only(**changes):
    def corrupt(folder: Path) -> None:
        (folder / "interp.json").unlink()
        cfg = json.loads((folder / "cfg.json").read_text())
        for key, value in changes.items():
            if key.startswith("metadata."):
                cfg["metadata"][key.removeprefix("metadata.")] = value
            else:
                cfg[key] = value
        (folder / "cfg.json").write_text(json.dumps(cfg))

    return corrupt


CORRUPTIONS = {
    "weights missing": (lambda f: (f / "sae_weights.safetensors").unlink(), "sae_weights.safetensors is missing"),
    "weights truncated": (_truncate, "cannot be read"),
    "weights not safetensors": (lambda f: (f / "sae_weights.safetensors").write_bytes(b"\x80\x04junk"), "cannot be read"),
    "threshold missing": (_drop_threshold, "lacks threshold"),
    "a tensor interp lacks": (_extra_tensor, "W_skip"),
    "features disagree": (_fewer_features, "23 features"),
    "decoder of another width": (_wrong_decoder, "does not fit"),
    "interp.json not JSON": (lambda f: (f / "interp.json").write_text("{not json"), "not valid JSON"),
    "interp.json a list": (lambda f: (f / "interp.json").write_text("[1, 2]"), "JSON list"),
    "interp.json bad config": (lambda f: (f / "interp.json").write_text('{"config": {"site": "nowhere9"}}'), "valid SAE config"),
    "both configs missing": (lambda f: [(f / n).unlink() for n in ("interp.json", "cfg.json")], "neither interp.json nor"),
    "another architecture": (_cfg_only(architecture="gated"), "'gated' is not one interp reads"),
    "normalised input": (_cfg_only(normalize_activations="layer_norm"), "normalises its input"),
    "no hook": (_cfg_only(**{"metadata.hook_name": None}), "names no hook"),
    "hook not a site": (_cfg_only(**{"metadata.hook_name": "blocks.0.hook_nothing"}), "not a site interp reads"),
    "transcoder without target": (_cfg_only(architecture="jumprelu_transcoder"), "hook_name_out"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupted_or_incomplete_directory_is_a_one_line_checkpoint_error(saved_folder, name):
    corrupt, expected = CORRUPTIONS[name]
    corrupt(saved_folder)
    with pytest.raises(CheckpointError) as error:
        load_dictionary(saved_folder)
    assert expected in one_line_error(error)


def test_no_directory_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError) as error:
        load_dictionary(tmp_path / "absent")
    assert "interp sae train" in one_line_error(error)


def test_loading_never_unpickles(saved_folder, x, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    assert outputs(load_dictionary(saved_folder).sae, x)[0].shape == (32, FEATURES)
    assert outputs(load_dictionary(FIXTURES / "standard" / "sae").sae, x)[0].shape == (32, 16)


# ---- check_source ----------------------------------------------------------------------------------------------


def test_check_source_refuses_another_model_or_another_site(saved_folder):
    saved = load_dictionary(saved_folder)
    check_source(saved, MODEL, site="head_out1h1")
    check_source(saved, MODEL)
    with pytest.raises(ConfigError) as error:
        check_source(saved, MODEL | {"d_model": 16})
    assert "another model" in one_line_error(error) and "d_model" in str(error.value)
    with pytest.raises(ConfigError) as error:
        check_source(saved, MODEL, site="head_out1h0")
    assert "not head_out1h0" in one_line_error(error)


def test_check_source_reads_a_hook_name_as_the_site_it_names(tmp_path):
    config = KINDS["relu"][0]
    saved = load_dictionary(save_dictionary(tmp_path / "sae", dictionary(config), config, source=SOURCE))
    check_source(saved, MODEL, site="blocks.0.hook_resid_post")
    with pytest.raises(ConfigError):
        check_source(saved, MODEL, site="blocks.0.hook_resid_pre")
