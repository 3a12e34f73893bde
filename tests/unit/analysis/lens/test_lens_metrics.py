"""The logit lens and the tuned lens equal TransformerLens 4.3's `logit_lens` (and `logit_readout` for head
outputs) in KL to the final prediction, target rank and probability; a lens of a missing layer is one error."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.analysis.lens.metrics import lens_metrics, lens_targets
from interp.analysis.lens.reference import reference_lens
from interp.analysis.lens.translators import LensError, TunedLens
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.tasks import induction_task

CONFIGS = {
    "attn-only LN": {},
    "MLP LN": {"attn_only": False, "d_mlp": 64},
    "MLP RMS": {"attn_only": False, "d_mlp": 64, "normalization_type": "RMS"},
    "no norm": {"normalization_type": None},
}
TOKENS = torch.randint(11, (6, 12), generator=torch.Generator().manual_seed(0))


def perturbed(**changes):
    model = build_model(tiny_config(**changes)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


def random_lens(n_layers=2, d_model=32):
    lens = TunedLens(n_layers, d_model)
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        lens.weight.add_(0.2 * torch.randn(lens.weight.shape, generator=generator))
        lens.bias.add_(0.2 * torch.randn(lens.bias.shape, generator=generator))
    return lens


def assert_equal_to_reference(ours, reference):
    assert list(ours.labels) == ["resid_pre0", "resid_pre1", "final"]
    assert reference["labels"] == ["0_pre", "1_pre", "final_post"]
    torch.testing.assert_close(ours.kl, reference["kl"].clamp(min=0).float(), atol=1e-5, rtol=1e-4)
    known = ours.targets >= 0  # the last position has no next token
    assert known[:, :-1].all() and not known[:, -1].any()
    torch.testing.assert_close(ours.prob[:, :, :-1], reference["prob"][:, :, :-1].float(), atol=1e-6, rtol=1e-4)
    assert torch.equal(ours.rank[:, :, :-1], reference["rank"][:, :, :-1])
    assert (ours.rank[:, :, -1] == -1).all() and ours.prob[:, :, -1].isnan().all()


@pytest.mark.parametrize("changes", CONFIGS.values(), ids=CONFIGS.keys())
def test_logit_lens_equals_transformer_lens(changes):
    model = perturbed(**changes)
    ours = lens_metrics(model, TOKENS, heads=False, batch_size=4)
    assert_equal_to_reference(ours, reference_lens(model, TOKENS))
    assert ours.kl[:, :2].mean() > 0.1 and ours.kl[:, -1].abs().max() < 1e-5  # earlier layers differ, the last is the model


@pytest.mark.parametrize("changes", [CONFIGS["attn-only LN"], CONFIGS["MLP RMS"]], ids=["LN", "RMS"])
def test_tuned_lens_equals_transformer_lens_with_the_same_translators(changes):
    model, lens = perturbed(**changes), random_lens()
    ours = lens_metrics(model, TOKENS, lens=lens, heads=False)
    assert ours.lens == "tuned lens"
    assert_equal_to_reference(ours, reference_lens(model, TOKENS, lens=lens))
    logit = lens_metrics(model, TOKENS, heads=False)
    assert not torch.allclose(ours.kl[:, :2], logit.kl[:, :2])  # the translators change the reading


def test_an_identity_tuned_lens_is_the_logit_lens():
    model = perturbed()
    tuned, logit = lens_metrics(model, TOKENS, lens=TunedLens(2, 32)), lens_metrics(model, TOKENS)
    for name in ("kl", "prob", "head_kl"):
        torch.testing.assert_close(getattr(tuned, name), getattr(logit, name), equal_nan=True, msg=name)


def test_head_outputs_equal_transformer_lens_logit_readout():
    from transformer_lens.tools.analysis.logit_lens import logit_readout

    model = perturbed(attn_only=False, d_mlp=64)
    ours = lens_metrics(model, TOKENS)
    _, cache = model.run_with_cache(TOKENS)
    targets = lens_targets(TOKENS).clamp(min=0)
    for layer in range(2):
        outputs = torch.einsum("bphe,hem->bhpm", cache[f"blocks.{layer}.attn.hook_z"], model.W_O[layer])
        read = logit_readout(model, outputs, targets=targets[:, None].expand(-1, 4, -1), return_type="probs")
        torch.testing.assert_close(ours.head_prob[:, layer, :, :-1], read.values[..., :-1, 0], atol=1e-6, rtol=1e-4)
        assert torch.equal(ours.head_rank[:, layer, :, :-1], read.target_ranks[..., :-1, 0])


def test_task_targets_read_the_answer_at_the_read_position():
    task = induction_task(11, n=6, half=3, seed=0)
    targets = lens_targets(task.clean, task)
    rows = torch.arange(6)
    assert torch.equal(targets[rows, task.metric.positions], task.metric.correct)
    assert torch.equal(targets[:, 0], task.clean[:, 1])
    metrics = lens_metrics(perturbed(), task.clean, targets=targets, read_positions=task.metric.positions)
    mean, _ = metrics.per_layer("prob", at_read=True)
    expected = metrics.prob[rows, :, task.metric.positions].double().mean(0)
    torch.testing.assert_close(mean, expected)


def test_per_layer_summaries():
    metrics = lens_metrics(perturbed(), TOKENS)
    mean, sem = metrics.per_layer("kl")
    torch.testing.assert_close(mean, metrics.kl.double().mean(-1).mean(0))
    torch.testing.assert_close(sem, metrics.kl.double().mean(-1).std(0) / 6**0.5)
    top1, _ = metrics.per_layer("top1")
    torch.testing.assert_close(top1, (metrics.rank[..., :-1] == 0).double().mean(-1).mean(0))
    assert metrics.per_layer("kl", heads=True)[0].shape == (2, 4)
    assert metrics.per_position("kl").shape == (3, 12)


def test_missing_layers_and_mismatched_lenses_are_one_line_errors():
    model = perturbed()
    with pytest.raises(LensError, match=r"lens layer 3 does not exist: the model has layers 0..1 .* and 2 \(the final stream\)"):
        lens_metrics(model, TOKENS, layers=[0, 3])
    with pytest.raises(LensError, match="layer 2 does not exist"):
        TunedLens(2, 32).translate(torch.zeros(32), 2)
    with pytest.raises(LensError, match="trained for 3 layers of width 32"):
        lens_metrics(model, TOKENS, lens=TunedLens(3, 32))
    with pytest.raises(DataError, match="target ids"):
        lens_metrics(model, TOKENS, targets=torch.full_like(TOKENS, 11))
    chosen = lens_metrics(model, TOKENS, layers=[2, 0], heads=False)
    assert chosen.labels == ("resid_pre0", "final") and chosen.kl.shape == (6, 2, 12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_lens_equals_cpu():
    model, lens = perturbed(), random_lens()
    cpu = lens_metrics(model, TOKENS, lens=lens)
    gpu = lens_metrics(model.cuda(), TOKENS, lens=lens)
    assert gpu.kl.device.type == "cpu"
    torch.testing.assert_close(gpu.kl, cpu.kl, atol=1e-4, rtol=1e-4)
