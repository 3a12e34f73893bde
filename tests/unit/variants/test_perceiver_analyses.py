"""What the analyses do with a PerceiverAR: `interp.load` loads it, caching and ablation studies run on it (checked
against a naive intervention loop), the induction analyses refuse it in one line, and a standard loader never
mistakes its checkpoint for a TransformerBridge's (the parameter names and shapes are the same)."""

import pytest
import torch

import interp
from interp.analysis import (
    MeanAblation,
    ResampleAblation,
    Site,
    ZeroAblation,
    ablation_study,
    cache_activations,
    evaluate_model,
    evaluate_series,
    icl_score,
    induction_loss,
    make_probe,
    run_with,
)
from interp.analysis.core.metrics import per_token_loss
from interp.core.errors import CheckpointError, InterpError
from interp.train.checkpoints import CHECKPOINTS_DIR, list_checkpoints, load_model, load_weights
from interp.variants.perceiver_ar import PerceiverAR, PerceiverARConfig
from interp.variants.perceiver_ar_io import save_perceiver

N, M, VOCAB = 12, 4, 11
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def model() -> PerceiverAR:
    cfg = PerceiverARConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=VOCAB, n_latents=M, seed=3, d_mlp=64)
    return PerceiverAR(cfg)


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    return torch.randint(VOCAB, (6, N), generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def run_dir(model, tmp_path_factory):
    """A run directory holding PerceiverAR checkpoints at steps 0 and 5 (what a series would be)."""
    root = tmp_path_factory.mktemp("perceiver_run")
    save_perceiver(root / CHECKPOINTS_DIR / "step_000000", PerceiverAR(model.cfg), step=0)
    save_perceiver(root / CHECKPOINTS_DIR / "step_000005", model, step=5)
    return root


def test_interp_load_takes_run_and_checkpoint_directories(model, run_dir, tokens):
    for loaded in (
        interp.load(run_dir),
        interp.load(run_dir / CHECKPOINTS_DIR / "step_000005"),
        interp.load(list_checkpoints(run_dir)[-1]),
    ):
        assert isinstance(loaded, PerceiverAR) and not loaded.training and loaded.cfg == model.cfg
        assert torch.equal(loaded(tokens), model(tokens))
    first = interp.load(run_dir, step=0)
    assert torch.equal(first(tokens), PerceiverAR(model.cfg)(tokens))
    with pytest.raises(CheckpointError, match="no checkpoint at step 3"):
        interp.load(run_dir, step=3)


def test_standard_loaders_refuse_a_perceiver_checkpoint(run_dir, model):
    path = run_dir / CHECKPOINTS_DIR / "step_000005"
    for load in (lambda: load_model(path), lambda: load_weights(path, list_checkpoints(run_dir)[-1].config)):
        with pytest.raises(CheckpointError, match="holds a PerceiverAR model.*interp.load"):
            load()


def test_cache_activations_runs(model, tokens):
    acts = cache_activations(model, tokens, [Site.pattern(0), Site.z(1)], batch_size=4)
    assert acts["pattern0"].shape == (6, 4, M, N) and acts["z1"].shape == (6, M, 4, 8)


def naive_loss(model, tokens, intervention) -> float:
    """Mean next-token loss on the positions the model predicts, with one intervention hooked in."""
    with torch.no_grad():
        logits = run_with(model, tokens, intervention)
    return float(per_token_loss(logits, tokens[:, -logits.shape[1] :]).mean())


@pytest.mark.parametrize("method", ["zero", "mean", "resample"])
def test_ablation_study_matches_a_naive_intervention_loop(model, tokens, method):
    study = ablation_study(model, tokens, method=method, over="heads", seed=2, batch_size=4)
    with torch.no_grad():
        logits = model(tokens)
    assert abs(study.baseline - float(per_token_loss(logits, tokens[:, -M:]).mean())) <= TOLERANCE
    for layer in range(2):
        for head in range(4):
            intervention = {
                "zero": ZeroAblation(Site.z(layer), heads=[head]),
                "mean": MeanAblation(Site.z(layer), reference=tokens, heads=[head]),
                "resample": ResampleAblation(Site.z(layer), tokens, heads=[head], seed=2),
            }[method]
            assert abs(float(study.values[layer, head]) - naive_loss(model, tokens, intervention)) <= TOLERANCE, (layer, head)


def test_induction_analyses_refuse_it_in_one_line(model, run_dir, tokens):
    probe = make_probe(vocab=torch.arange(VOCAB), n_ctx=16, batch=4, generator=torch.Generator().manual_seed(0))
    calls = {
        "evaluate_model": lambda: evaluate_model(model, probe),
        "induction_loss": lambda: induction_loss(model, probe),
        "icl_score": lambda: icl_score(model, tokens),
        "evaluate_series": lambda: evaluate_series(list_checkpoints(run_dir), probe),
    }
    for name, call in calls.items():
        with pytest.raises(InterpError) as caught:
            call()
        message = str(caught.value)
        assert name in message and "PerceiverAR" in message and "cache_activations" in message and "\n" not in message
