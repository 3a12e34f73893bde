"""Bad input gets one clear line, exit code 2, and changes nothing already saved.

CLI cases run `interp.cli.app.main` in-process against a tiny trained run and a set of broken copies, hashing every
file under the test's folder before and after. API cases check that the library raises an InterpError subclass
(never an IndexError from deep inside a forward pass). Hypothesis draws configs and token batches.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.cli_run import TINY_TRAIN, run_cli, tree_digest
from helpers.factories import tiny_config
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from interp.core.errors import CheckpointError, ConfigError, DataError
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.text.config import DataConfig
from interp.train.checkpoints import CHECKPOINTS_DIR, list_checkpoints, load_model, save_checkpoint
from interp.train.config import RunConfig, TrainConfig


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A trained tiny run plus broken files and copies next to it; the tests must leave all of it unchanged."""
    root = tmp_path_factory.mktemp("bad_input")
    code, _, err = run_cli("train", *TINY_TRAIN, "--out", root / "run")
    assert code == 0, err
    last = list_checkpoints(root / "run")[-1].path

    def checkpoint_copy(name: str) -> Path:
        return Path(shutil.copytree(last, root / name))

    def run_copy(name: str) -> tuple[Path, Path]:
        copy = Path(shutil.copytree(root / "run", root / name))
        return copy, copy / CHECKPOINTS_DIR / last.name

    (root / "empty").mkdir()
    (root / "badjson").mkdir()
    (root / "badjson" / "run.json").write_text("{bad")
    (root / "badrun").mkdir()
    (root / "badrun" / "run.json").write_text(json.dumps({"run": {"model": 3}}))
    (root / "afile").write_text("not a directory")
    (root / "bad.toml").write_text("[model\nn_layers =")
    (root / "notable.toml").write_text("model = 3\n")

    training = json.loads((last / "training.json").read_text())
    training["tokenizer"]["alphabet"] += "é"  # one more token than the model has
    (checkpoint_copy("ck-vocab") / "training.json").write_text(json.dumps(training))
    training["tokenizer"]["alphabet"] = 42
    (checkpoint_copy("ck-badtokenizer") / "training.json").write_text(json.dumps(training))
    (checkpoint_copy("ck-noweights") / "model.safetensors").unlink()
    weights = (last / "model.safetensors").read_bytes()
    (checkpoint_copy("ck-truncated") / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    flipped = bytearray(weights)
    flipped[12] ^= 0xFF  # inside the JSON header
    (checkpoint_copy("ck-corrupted") / "model.safetensors").write_bytes(bytes(flipped))
    config = json.loads((last / "config.json").read_text())
    (checkpoint_copy("ck-otherconfig") / "config.json").write_text(json.dumps({**config, "n_heads": 8, "d_head": 4}))
    (checkpoint_copy("ck-badconfig") / "config.json").write_bytes(b"\xff\xfe not json")
    (checkpoint_copy("ck-configlist") / "config.json").write_text("[1, 2]")
    (checkpoint_copy("ck-nocfg") / "config.json").unlink()
    training = json.loads((last / "training.json").read_text())
    (checkpoint_copy("ck-badstep") / "training.json").write_text(json.dumps({**training, "step": "twelve"}))

    _, swapped = run_copy("run-swapped")  # last checkpoint replaced by one of another model
    other = ModelConfig.from_hooked_transformer_dict({**config, "n_layers": 2})
    save_checkpoint(swapped, build_model(other), other, step=training["step"], tokens_seen=0, run=None)
    _, noopt = run_copy("run-noopt")
    (noopt / "optimizer.safetensors").unlink()
    _, badopt = run_copy("run-badopt")
    (badopt / "optimizer.safetensors").write_bytes(b"\x00" * 7)

    np.save(root / "ids-too-big.npy", np.full((2, 8), 999, dtype=np.int64))
    np.save(root / "ids-float.npy", np.zeros((2, 8), dtype=np.float32))
    np.save(root / "ids-objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (root / "ids-empty.npy").write_bytes(b"")
    np.save(root / "ids-no-rows.npy", np.zeros((0, 8), dtype=np.int64))
    np.save(root / "ids-strings.npy", np.array([["a", "b"]]))
    np.save(root / "ids-bool.npy", np.ones((2, 8), dtype=bool))
    save_file({"tokens": torch.zeros(2, 8, dtype=torch.long)}, str(root / "ids.safetensors"))
    tokens_file = (root / "ids.safetensors").read_bytes()
    (root / "ids-truncated.safetensors").write_bytes(tokens_file[:-9])
    (root / "ids-header.safetensors").write_bytes(tokens_file[:12] + b"\xff" + tokens_file[13:])  # not UTF-8
    (root / "ids-garbage.safetensors").write_bytes(b"not a safetensors file")
    return root


R = "{root}"
CLI_CASES = {
    # config
    "unknown preset": (["train", "--preset", "nope", "--out", f"{R}/new"], "unknown preset 'nope'"),
    "missing config file": (["train", "--config", f"{R}/missing.toml", "--out", f"{R}/new"], "does not exist"),
    "invalid TOML": (["train", "--config", f"{R}/bad.toml", "--out", f"{R}/new"], "is not valid TOML"),
    "section not a table": (["train", "--config", f"{R}/notable.toml", "--out", f"{R}/new"], "must be a table"),
    "override without a dot": (["train", *TINY_TRAIN, "--set", "nodot", "--out", f"{R}/new"], "must look like section.field"),
    "unknown field": (["train", *TINY_TRAIN, "--set", "model.heads=2", "--out", f"{R}/new"], "unknown field"),
    "string for a number": (
        ["train", *TINY_TRAIN, "--set", "train.weight_decay=abc", "--out", f"{R}/new"],
        "weight_decay must be",
    ),
    "lr out of range": (["train", *TINY_TRAIN, "--set", "train.lr=2", "--out", f"{R}/new"], "lr must be in"),
    "heads do not divide": (["train", *TINY_TRAIN, "--set", "model.d_model=30", "--out", f"{R}/new"], "must equal n_heads"),
    "span too long for n_ctx": (["train", *TINY_TRAIN, "--set", "data.span_max=12", "--out", f"{R}/new"], "at most half"),
    "warmup past the end": (["train", *TINY_TRAIN, "--set", "train.warmup_steps=99", "--out", f"{R}/new"], "warmup_steps"),
    "unknown corpus": (["train", *TINY_TRAIN, "--set", "data.corpus='wiki'", "--out", f"{R}/new"], "unknown corpus 'wiki'"),
    "tokenizer/model vocab": (
        ["train", *TINY_TRAIN, "--set", "model.d_vocab=10", "--out", f"{R}/new"],
        "does not match the tokenizer",
    ),
    "corpus too small": (
        [
            "train",
            *TINY_TRAIN,
            "--set",
            "data.corpus='imdb'",
            "--set",
            "data.max_documents=1",
            "--set",
            "data.repeated_fraction=0.0",
            "--set",
            "model.n_ctx=8192",
            "--out",
            f"{R}/new",
        ],
        "packing needs at least",
    ),  # fmt: skip
    # run directories
    "out exists": (["train", *TINY_TRAIN, "--out", f"{R}/run"], "already holds checkpoints"),
    "out is a file": (["train", *TINY_TRAIN, "--out", f"{R}/afile"], "is a file"),
    "out inside a file": (["train", *TINY_TRAIN, "--out", f"{R}/afile/run"], "Not a directory"),
    "resume without run.json": (["train", "--resume", "--out", f"{R}/empty"], "run.json is missing"),
    "resume, run.json not JSON": (["train", "--resume", "--out", f"{R}/badjson"], "is not valid JSON"),
    "resume, run.json invalid": (["train", "--resume", "--out", f"{R}/badrun"], "invalid config"),
    "resume with changed config": (
        ["train", *TINY_TRAIN, "--set", "train.lr=0.002", "--resume", "--out", f"{R}/run"],
        "different config",
    ),
    "resume onto another model's checkpoint": (
        ["train", "--resume", "--out", f"{R}/run-swapped"],
        "written by a different config",
    ),
    "resume without optimizer state": (["train", "--resume", "--out", f"{R}/run-noopt"], "no optimizer state"),
    "resume with corrupted optimizer": (["train", "--resume", "--out", f"{R}/run-badopt"], "cannot be read"),
    # generate
    "prompt outside the alphabet": (["generate", f"{R}/run", "--prompt", "héllo"], "not in this char tokenizer"),
    "negative temperature": (["generate", f"{R}/run", "--temperature", "-1"], "--temperature must be >= 0"),
    "top-k zero": (["generate", f"{R}/run", "--top-k", "0"], "--top-k must be >= 1"),
    "negative token count": (["generate", f"{R}/run", "--tokens", "-5"], "--tokens must be >= 0"),
    "no such run": (["generate", f"{R}/nowhere"], "does not exist"),
    "no such step": (["generate", f"{R}/run", "--checkpoint", "99"], "no checkpoint at step 99"),
    "not a run directory": (["generate", f"{R}/empty"], "no checkpoints/ folder"),
    "tokenizer bigger than the model": (["generate", f"{R}/ck-vocab", "--prompt", "é"], "does not belong to this model"),
    "tokenizer record not a tokenizer": (["generate", f"{R}/ck-badtokenizer"], "non-empty string alphabet"),
    "weights file missing": (["generate", f"{R}/ck-noweights"], "model.safetensors is missing"),
    "config.json missing": (["generate", f"{R}/ck-nocfg"], "config.json is missing"),
    "truncated safetensors": (["generate", f"{R}/ck-truncated"], "truncated or corrupted"),
    "corrupted safetensors": (["generate", f"{R}/ck-corrupted"], "truncated or corrupted"),
    "checkpoint of another config": (["generate", f"{R}/ck-otherconfig"], "do not match config.json"),
    "config.json not JSON": (["generate", f"{R}/ck-badconfig"], "is not valid JSON"),
    "config.json a list": (["generate", f"{R}/ck-configlist"], "not an object"),
    "training.json step not a number": (["generate", f"{R}/ck-badstep"], "not a valid training record"),
    # analysis commands
    "token ids beyond the vocabulary": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-too-big.npy", "--out", f"{R}/abl"],
        "do not fit",
    ),
    "float token ids": (["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-float.npy", "--out", f"{R}/abl"], "integer token ids"),
    "pickled tokens file": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-objects.npy", "--out", f"{R}/abl"],
        "not a plain .npy",
    ),
    "empty tokens file": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-empty.npy", "--out", f"{R}/abl"],
        "truncated or not a tokens file",
    ),
    "tokens file without rows": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-no-rows.npy", "--out", f"{R}/abl"],
        "both > 0",
    ),
    "tokens file of strings": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-strings.npy", "--out", f"{R}/abl"],
        "integer token ids",
    ),
    "tokens file of booleans": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-bool.npy", "--out", f"{R}/abl"],
        "integer token ids",
    ),
    "truncated tokens file": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-truncated.safetensors", "--out", f"{R}/abl"],
        "truncated",
    ),
    "corrupted tokens file": (
        ["ablate", f"{R}/run", "--tokens-file", f"{R}/ids-header.safetensors", "--out", f"{R}/abl"],
        "cannot be read as safetensors",
    ),
    "tokens file not safetensors": (
        ["compare", f"{R}/run", f"{R}/run", "--tokens-file", f"{R}/ids-garbage.safetensors", "--out", f"{R}/cmp"],
        "cannot be read as safetensors",
    ),
    "unknown metric": (["ablate", f"{R}/run", "--metric", "nope", "--out", f"{R}/abl"], "unknown metric"),
    "induction on an empty folder": (["induction", f"{R}/empty", "--out", f"{R}/ind"], "no checkpoints/ folder"),
    "report on an empty folder": (["report", f"{R}/empty", "--out", f"{R}/r.html", "--no-progress"], "no checkpoints/ folder"),
    "circuits on a broken checkpoint": (["circuits", f"{R}/ck-truncated", "--out", f"{R}/circ"], "truncated or corrupted"),
    "circuits on a head that does not exist": (["circuits", f"{R}/run", "--head", "7.9", "--out", f"{R}/circ"], "no head L7H9"),
    "compare models of different shapes": (["compare", f"{R}/run", f"{R}/run-swapped", "--out", f"{R}/cmp"], "different shapes"),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_bad_input_is_one_line_exit_2_and_changes_nothing(world, case, monkeypatch):
    monkeypatch.chdir(world)  # default output folders (reports/, models/cache) would land here and be seen
    args, expected = CLI_CASES[case]
    before = tree_digest(world)
    code, out, err = run_cli(*[a.format(root=world) if isinstance(a, str) else a for a in args])
    lines = err.strip().splitlines()
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    assert tree_digest(world) == before, "a failed command changed files"


# ---- the Python API -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, error, message",
    [
        ("ck-vocab", None, None),  # loads: the model is intact, only its tokenizer record is wrong
        ("ck-noweights", CheckpointError, "model.safetensors is missing"),
        ("ck-nocfg", CheckpointError, "config.json is missing"),
        ("ck-truncated", CheckpointError, "truncated or corrupted"),
        ("ck-corrupted", CheckpointError, "truncated or corrupted"),
        ("ck-otherconfig", CheckpointError, r"blocks.0.attn.W_Q is \[4, 32, 8\], not \[8, 32, 4\]"),
        ("ck-badconfig", CheckpointError, "not valid JSON"),
        ("ck-configlist", CheckpointError, "not an object"),
        ("ck-badstep", CheckpointError, "not a valid training record"),
    ],
)
def test_load_model_on_broken_checkpoints(world, name, error, message):
    if error is None:
        load_model(world / name)
        return
    with pytest.raises(error, match=message):
        load_model(world / name)


@pytest.fixture(scope="module")
def model():
    return build_model(tiny_config())  # n_ctx 16, d_vocab 11, 2 attention-only layers


def _entry_points():
    from interp.analysis.ablation.study import ablation_study
    from interp.analysis.core.cache import cache_activations
    from interp.analysis.core.interventions import ZeroAblation, run_with
    from interp.model.sites import Site

    return {
        "cache_activations": lambda m, t: cache_activations(m, t, ["z0"]),
        "run_with": lambda m, t: run_with(m, t, ZeroAblation(Site.z(0), heads=[1])),
        "ablation_study": lambda m, t: ablation_study(m, t, method="zero"),
    }


BAD_TOKENS = {
    "id == d_vocab": (torch.tensor([[0, 11]]), "must be in \\[0, 11\\)"),
    "negative id": (torch.tensor([[0, -1]]), "must be in \\[0, 11\\)"),
    "longer than n_ctx": (torch.zeros(1, 17, dtype=torch.long), "longer than the model's n_ctx=16"),
    "floats": (torch.zeros(1, 4), "integer tensor"),
    "1-D": (torch.zeros(4, dtype=torch.long), "shape \\[batch pos\\]"),
    "empty": (torch.zeros(1, 0, dtype=torch.long), "shape \\[batch pos\\]"),
}


@pytest.mark.parametrize("entry", ["cache_activations", "run_with", "ablation_study"])
@pytest.mark.parametrize("bad", BAD_TOKENS)
def test_analysis_entry_points_reject_bad_tokens(model, entry, bad):
    tokens, message = BAD_TOKENS[bad]
    with pytest.raises(DataError, match=message):
        _entry_points()[entry](model, tokens)


@pytest.mark.parametrize("bad", [name for name in BAD_TOKENS if name != "longer than n_ctx"])  # a long prompt is cropped
def test_sample_rejects_bad_tokens(model, bad):
    from interp.model.sampling import sample

    tokens, message = BAD_TOKENS[bad]
    with pytest.raises(DataError, match=message):
        sample(model, tokens, max_new_tokens=2)


def test_unknown_sites_are_errors(model):
    from interp.analysis.core.cache import cache_activations
    from interp.analysis.core.interventions import ZeroAblation, run_with
    from interp.model.sites import Site, SiteError

    tokens = torch.zeros(1, 4, dtype=torch.long)
    for bad in ("blocks.0.attn.hook_zz", "zz1", "z", "blocks.x.hook_resid_pre"):
        with pytest.raises(SiteError):
            cache_activations(model, tokens, [bad])
    with pytest.raises(SiteError, match="out of range"):
        cache_activations(model, tokens, ["z2"])
    with pytest.raises(SiteError, match="has no MLP"):
        run_with(model, tokens, ZeroAblation(Site.mlp_out(0)))
    with pytest.raises(SiteError, match="head 4 is out of range"):
        run_with(model, tokens, ZeroAblation(Site.z(0), heads=[4]))


def test_patching_inputs_of_different_shapes(model):
    pytest.importorskip(
        "interp.analysis.patching.activation", reason="interp.analysis.patching.activation is not in this tree yet"
    )
    from interp.analysis.core.metrics import LogitDiff
    from interp.analysis.patching.activation import PatchingError, activation_patching

    clean, corrupted = torch.zeros(2, 6, dtype=torch.long), torch.ones(2, 5, dtype=torch.long)
    metric = LogitDiff(correct=torch.tensor([1, 2]), wrong=torch.tensor([3, 4]), positions=torch.tensor([4, 4]))
    with pytest.raises(PatchingError, match="same shape"):
        activation_patching(model, clean, corrupted, metric)
    with pytest.raises(PatchingError, match="metric has 2 rows"):
        activation_patching(model, clean[:1], clean[:1] + 1, metric)
    with pytest.raises(DataError, match="one length each"):
        LogitDiff(correct=torch.tensor([1, 2]), wrong=torch.tensor([3]), positions=torch.tensor([4, 4]))
    with pytest.raises(DataError, match="n_ctx"):
        activation_patching(model, torch.zeros(2, 17, dtype=torch.long), torch.ones(2, 17, dtype=torch.long), metric)


def test_empty_and_tiny_corpora():
    import datasets

    from interp.text.packing import pack
    from interp.text.tokenizers import CharTokenizer, load_tokenizer

    tokenizer = CharTokenizer("ab\n")
    with pytest.raises(DataError, match="has 0 tokens"):
        pack(datasets.Dataset.from_dict({"text": []}), tokenizer, n_ctx=8)
    with pytest.raises(DataError, match="has 5 tokens but packing needs at least 16"):
        pack(datasets.Dataset.from_dict({"text": ["ab", "a"]}), tokenizer, n_ctx=8)
    with pytest.raises(DataError, match="empty text"):
        CharTokenizer.from_text("")
    with pytest.raises(DataError, match="needs text"):
        load_tokenizer("char", text="")


# ---- generated configs and token batches ---------------------------------------------------------------------

_SMALL_INT = st.integers(min_value=-2, max_value=24)
_ODD = st.sampled_from([None, True, "2", 2.0, [2], float("nan"), float("inf"), -(2**70)])


def _maybe_bad(good):
    """Mostly valid-looking values, sometimes a wrong type."""
    return st.one_of(good, good, good, _ODD)


MODEL_FIELDS = {
    "n_layers": _maybe_bad(st.integers(0, 3)),
    "n_heads": _maybe_bad(st.integers(0, 4)),
    "d_head": _maybe_bad(st.integers(0, 8)),
    "n_ctx": _maybe_bad(_SMALL_INT),
    "d_vocab": _maybe_bad(st.sampled_from([-1, 0, 1, 2, 7, 40])),
    "attn_only": _maybe_bad(st.booleans()),
    "d_mlp": _maybe_bad(st.sampled_from([None, 0, 8, 16])),
    "act_fn": _maybe_bad(st.sampled_from(["gelu", "gelu_new", "relu", "silu", "solu", "tanh"])),
    "normalization_type": _maybe_bad(st.sampled_from(["LN", "LNPre", "RMS", "RMSPre", None, "BN"])),
    "positional_embedding_type": _maybe_bad(st.sampled_from(["standard", "rotary", "alibi"])),
    "seed": _maybe_bad(st.integers(-1, 2**64)),
}
TRAIN_FIELDS = {
    "steps": _maybe_bad(_SMALL_INT),
    "lr": _maybe_bad(st.floats(-0.5, 1.5)),  # nan comes from _ODD
    "weight_decay": _maybe_bad(st.floats(-1, 1e308)),
    "warmup_steps": _maybe_bad(_SMALL_INT),
    "grad_clip": _maybe_bad(st.floats(-1, 10)),
    "n_checkpoints": _maybe_bad(_SMALL_INT),
    "beta2": _maybe_bad(st.floats(-0.5, 1.5)),
}
DATA_FIELDS = {
    "repeated_fraction": _maybe_bad(st.floats(-0.5, 1.5)),
    "span_min": _maybe_bad(_SMALL_INT),
    "span_max": _maybe_bad(_SMALL_INT),
    "corpus": _maybe_bad(st.sampled_from(["none", "shakespeare", ""])),
}


FIELDS = {
    (section, name): value
    for section, fields in (("model", MODEL_FIELDS), ("train", TRAIN_FIELDS), ("data", DATA_FIELDS))
    for name, value in fields.items()
}


@st.composite
def config_dicts(draw) -> dict:
    """A small valid config with 0-3 fields replaced by drawn values (valid or not), d_model usually kept consistent."""
    heads, d_head = draw(st.integers(1, 4)), draw(st.sampled_from([2, 4, 8]))
    model = dict(
        n_layers=draw(st.integers(1, 2)),
        n_heads=heads,
        d_head=d_head,
        n_ctx=draw(st.integers(12, 24)),
        attn_only=draw(st.booleans()),
    )
    config = {"model": model, "data": dict(corpus="none", repeated_fraction=1.0, span_min=2, span_max=6), "train": dict(steps=20)}
    for section, name in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=3, unique=True)):
        config[section][name] = draw(FIELDS[section, name])
    model["d_model"] = _d_model(model) if draw(st.integers(0, 5)) else draw(_SMALL_INT)
    return config


def _d_model(model: dict):
    heads, d_head = model.get("n_heads"), model.get("d_head")
    if not (type(heads) is int and type(d_head) is int and abs(heads * d_head) < 1000):
        return 8
    return heads * d_head


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(config_dicts())
def test_generated_configs_build_and_run_or_raise_config_error(data):
    try:  # the constructors, as Python users call them
        run = RunConfig(model=ModelConfig(**data["model"]), data=DataConfig(**data["data"]), train=TrainConfig(**data["train"]))
    except ConfigError as error:
        message = str(error)  # one line that names the field at fault
        assert "\n" not in message and any(name in message for _, name in FIELDS) or "d_model" in message, message
        with pytest.raises(ConfigError):
            RunConfig.from_dict(data)  # the TOML / --set path
        event("invalid: ConfigError")
        return
    assert RunConfig.from_dict(data) == run
    event("valid: built and ran")
    cfg = run.model.with_vocab(7) if run.model.d_vocab == -1 else run.model
    model = build_model(cfg)
    tokens = torch.randint(cfg.d_vocab, (2, min(cfg.n_ctx, 5)), generator=torch.Generator().manual_seed(0))
    logits = model(tokens)
    assert logits.shape == (2, tokens.shape[1], cfg.d_vocab) and torch.isfinite(logits).all()


@settings(max_examples=80, deadline=None, derandomize=True)
@given(
    batch=st.integers(0, 3),
    pos=st.integers(0, 19),
    low=st.integers(-3, 10),
    high=st.integers(0, 14),
)
def test_generated_token_batches_pass_or_raise_data_error(model, batch, pos, low, high):
    from interp.analysis.core.cache import check_tokens as cache_check
    from interp.analysis.core.interventions import run_with
    from interp.core.validate import check_tokens

    tokens = torch.randint(min(low, high), max(low, high) + 1, (batch, pos), generator=torch.Generator().manual_seed(pos))
    valid = batch > 0 and 0 < pos <= 16 and int(tokens.min()) >= 0 and int(tokens.max()) < 11
    event("in range" if valid else "bad")
    for check in (lambda t: check_tokens(t, model.cfg), lambda t: cache_check(t, model), lambda t: run_with(model, t)):
        if valid:
            check(tokens)
        else:
            with pytest.raises(DataError):
                check(tokens)
