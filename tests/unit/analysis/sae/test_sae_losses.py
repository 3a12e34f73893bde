"""Losses against planted ground truth and independent computations: each kind recovers planted directions."""

import pytest
import torch

from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.losses import JumpReLUFunction, StepFunction, auxk_loss, batch_topk, dictionary_loss
from interp.analysis.sae.training import train_on_batches
from interp.analysis.sae.training_state import fold_scaling

D_IN, PLANTED, FEATURES = 16, 64, 128


def planted_directions(n: int = PLANTED, seed: int = 123) -> torch.Tensor:
    directions = torch.randn(n, D_IN, generator=torch.Generator().manual_seed(seed))
    return directions / directions.norm(dim=-1, keepdim=True)


def planted_batches(directions: torch.Tensor, batch: int, *, active: int = 3, seed: int = 1):
    """Tokens that are sums of `active` planted directions with magnitudes in [1, 3]."""
    generator = torch.Generator().manual_seed(seed)
    n = directions.shape[0]
    while True:
        chosen = torch.rand(batch, n, generator=generator).argsort(-1)[:, :active]
        magnitudes = 2 * torch.rand(batch, active, generator=generator) + 1
        x = torch.zeros(batch, n).scatter(1, chosen, magnitudes) @ directions
        yield x, x


def median_max_cosine(sae: SparseDictionary, directions: torch.Tensor) -> float:
    decoder = sae.W_dec.detach() / sae.W_dec.detach().norm(dim=-1, keepdim=True)
    return float((directions @ decoder.T).max(-1).values.median())


# TopK kinds: 64 planted directions in d=16, 3 per token, 128 features. ReLU + L1 and JumpReLU learn more slowly
# (the penalty must first push the encoder biases down), so at a unit-test budget they get a smaller planted
# dictionary: 32 directions in d=16, 2 per token, 64 features.
CASES = [
    ("relu", {"l1_coefficient": 1.0}, 32, 64, 2, 500),
    ("topk", {"k": 3}, PLANTED, FEATURES, 3, 300),
    ("batchtopk", {"k": 3}, PLANTED, FEATURES, 3, 500),
    ("jumprelu", {"l0_coefficient": 1.0}, 32, 64, 2, 500),
]


@pytest.mark.parametrize(("kind", "options", "planted", "features", "active", "steps"), CASES)
def test_each_kind_recovers_planted_directions(kind, options, planted, features, active, steps):
    directions = planted_directions(planted)
    config = SAEConfig(
        site="resid_post0",
        kind=kind,
        n_features=features,
        tokens=steps * 128,
        batch_tokens=128,
        buffer_tokens=128,
        lr=1e-2,
        warmup_steps=20,
        dead_tokens=2000,
        **options,
    )
    sae = SparseDictionary(d_in=D_IN, n_features=features, kind=kind, k=config.k, threshold=config.jumprelu_init_threshold)
    before = median_max_cosine(sae, directions)
    trainer = train_on_batches(sae, planted_batches(directions, 128, active=active), config)
    assert before < 0.7  # random directions do not already match
    assert median_max_cosine(sae, directions) > 0.9
    assert trainer.state.step == config.steps
    if kind == "relu":
        assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(features), atol=1e-5)
        assert trainer.dead(window=2000).float().mean() < 0.1  # no resampling needed (module docstring)
    if kind == "batchtopk":  # the running threshold is the dictionary's inference threshold, one value for all
        assert torch.allclose(sae.threshold, sae.threshold[0].expand(features))
        x, _ = next(planted_batches(directions, 512, seed=5))
        l0 = (sae.encode(x) > 0).float().sum(-1).mean()
        assert 1.5 < l0 < 6  # close to k = 3 at inference, without the batch


def test_batch_topk_keeps_the_largest_of_the_whole_batch():
    pre = torch.tensor([[5.0, -1.0, 0.5], [4.0, 3.0, 0.1]])
    features, smallest = batch_topk(pre, k=1)
    assert torch.equal(features, torch.tensor([[5.0, 0.0, 0.0], [4.0, 0.0, 0.0]]))
    assert float(smallest) == 4.0


def test_jumprelu_gradients_match_the_rectangle_kernel():
    pre = torch.tensor([[0.52, 0.40, 0.70]], requires_grad=True)
    threshold = torch.tensor([0.5, 0.5, 0.5], requires_grad=True)
    out = JumpReLUFunction.apply(pre, threshold, 0.1)
    out.sum().backward()
    assert torch.equal(out.detach(), torch.tensor([[0.52, 0.0, 0.70]]))
    assert torch.equal(pre.grad, torch.tensor([[1.0, 0.0, 1.0]]))
    # only 0.52 is within bandwidth / 2 of the threshold: -(threshold / bandwidth) there
    assert torch.allclose(threshold.grad, torch.tensor([-5.0, 0.0, 0.0]))
    pre.grad, threshold.grad = None, None
    StepFunction.apply(pre, threshold, 0.1).sum().backward()
    assert torch.allclose(threshold.grad, torch.tensor([-10.0, 0.0, 0.0]))
    assert torch.equal(pre.grad, torch.zeros_like(pre))


def test_auxk_reconstructs_the_residual_from_dead_features_only():
    sae = SparseDictionary(d_in=4, n_features=8, kind="topk", k=2, seed=0)
    pre = torch.randn(5, 8, generator=torch.Generator().manual_seed(0))
    residual = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    dead = torch.zeros(8, dtype=torch.bool)
    assert float(auxk_loss(sae, pre, residual, dead)) == 0.0
    dead[[1, 6]] = True  # k_aux = min(d_out // 2, n_dead) = 2: both dead features, ReLU'd
    features = torch.zeros_like(pre)
    features[:, [1, 6]] = torch.relu(pre[:, [1, 6]])
    naive = (features @ sae.W_dec - residual).pow(2).sum(-1).mean()
    assert torch.allclose(auxk_loss(sae, pre, residual, dead), naive)


def test_relu_loss_is_mse_plus_l1():
    sae = SparseDictionary(d_in=4, n_features=8, kind="relu", seed=0)
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    config = SAEConfig(site="resid_post0", kind="relu", n_features=8, l1_coefficient=0.5)
    parts = dictionary_loss(sae, x, x, config, dead=torch.zeros(8, dtype=torch.bool))
    f = torch.relu(x @ sae.W_enc)
    mse = ((f @ sae.W_dec - x) ** 2).sum(-1).mean()
    assert torch.allclose(parts.loss, mse + 0.5 * f.abs().sum(-1).mean())
    assert torch.allclose(parts.l0, (f > 0).float().sum(-1).mean())


@pytest.mark.parametrize("kind", ["relu", "topk", "batchtopk", "jumprelu"])
@pytest.mark.parametrize("transcoder", [False, True])
def test_folded_dictionary_on_raw_equals_unfolded_on_scaled(kind, transcoder):
    generator = torch.Generator().manual_seed(0)
    sae = SparseDictionary(
        d_in=6, n_features=12, kind=kind, k=3, d_out=5 if transcoder else 6, transcoder=transcoder, threshold=0.2
    )
    with torch.no_grad():
        for parameter in (sae.b_enc, sae.b_dec):
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    x = torch.randn(7, 6, generator=generator)
    a, c = 2.5, (0.7 if transcoder else 2.5)
    folded = fold_scaling(sae, a, c)
    assert torch.allclose(folded(x), sae(a * x) / c, atol=1e-5)
    assert torch.allclose(folded.encode(x), sae.encode(a * x) / c, atol=1e-5)
    assert torch.equal(folded.W_dec, sae.W_dec)  # decoder rows keep their (unit) norm
