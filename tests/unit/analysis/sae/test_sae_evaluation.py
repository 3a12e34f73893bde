"""Dictionary evaluation against a naive per-token loop and dictionaries whose figures are known in advance."""

import dataclasses
import json
import math

import pytest
import torch
from helpers.factories import tiny_config

from interp.analysis.core.cache import cache_activations
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.evaluation import evaluate_dictionary
from interp.core.errors import ConfigError, DataError, InterpError
from interp.model.build import build_model
from interp.model.sites import SiteError

TOKENS = torch.randint(11, (6, 16), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def attn_model():
    return build_model(tiny_config())  # d_model 32, 4 heads of d_head 8, n_ctx 16


@pytest.fixture(scope="module")
def mlp_model():
    return build_model(tiny_config(attn_only=False, d_mlp=64))


def config_for(sae: SparseDictionary, site: str, output_site: str | None = None, skip: int = 0) -> SAEConfig:
    return SAEConfig(site=site, output_site=output_site, kind=sae.kind, n_features=sae.n_features, skip_positions=skip)


def identity_dictionary(d: int) -> SparseDictionary:
    """W_enc = [I, -I], ReLU, W_dec = [I; -I], b = 0: reconstructs its input exactly."""
    sae = SparseDictionary(d_in=d, n_features=2 * d, kind="relu")
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.b_enc.zero_()
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_dec.zero_()
    return sae


def constant_dictionary(d: int, value: torch.Tensor | None = None) -> SparseDictionary:
    """A zero decoder: the output is b_dec whatever the input (0, or a planted mean)."""
    sae = SparseDictionary(d_in=d, n_features=2 * d, kind="relu")
    with torch.no_grad():
        sae.W_dec.zero_()
        sae.b_dec.copy_(torch.zeros(d) if value is None else value)
    return sae


def planted_dictionary(d_in: int, d_out: int | None = None, seed: int = 0) -> SparseDictionary:
    """A random ReLU dictionary with 4 features that always fire (and write nothing) and 4 that never fire."""
    sae = SparseDictionary(d_in=d_in, n_features=48, kind="relu", d_out=d_out, transcoder=d_out is not None, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(48, generator=generator) * 0.5)
        sae.b_enc[:4] = 1e3
        sae.W_dec[:4] = 0.0
        sae.b_enc[-4:] = -1e3
        sae.b_dec.copy_(torch.randn(sae.d_out, generator=generator) * 0.1)
    return sae


# ---- the naive reference ------------------------------------------------------------------------------------


@torch.no_grad()
def naive_figures(sae, xs: torch.Tensor, ys: torch.Tensor, skip: int, dead_window: int, dense_threshold: float) -> dict:
    """Every reconstruction figure from a loop over tokens in row order (xs, ys: [batch pos d], all positions)."""
    err = sq_out = dot = ratio = 0.0
    active, active_window = [0] * sae.n_features, [0] * sae.n_features
    l0 = n = 0
    targets = []
    for row in range(xs.shape[0]):
        for pos in range(skip, xs.shape[1]):
            x, y = xs[row, pos].double(), ys[row, pos].double()
            features = sae.encode(x.float()).double()
            out = sae.decode(features.float()).double()
            err += float(((y - out) ** 2).sum())
            sq_out += float((out**2).sum())
            dot += float((out * y).sum())
            ratio += float(out.norm() / y.norm())
            for i in range(sae.n_features):
                if features[i] > 0:
                    active[i] += 1
                    active_window[i] += n < dead_window
                    l0 += 1
            targets.append(y)
            n += 1
    mean = sum(targets) / n
    variance = sum(float(((y - mean) ** 2).sum()) for y in targets)
    density = [a / n for a in active]
    return dict(
        n_tokens=n,
        explained_variance=1 - err / variance,
        mse=err / (n * ys.shape[-1]),
        l0=l0 / n,
        feature_density=density,
        dead_fraction=sum(a == 0 for a in active_window) / sae.n_features,
        dense_fraction=sum(d > dense_threshold for d in density) / sae.n_features,
        l2_ratio=ratio / n,
        relative_reconstruction_bias=sq_out / dot,
    )


@torch.no_grad()
def naive_loss(model, hooks, skip: int) -> float:
    """Mean next-token cross-entropy over predictions from positions >= skip, one token at a time."""
    logits = model.run_with_hooks(TOKENS, fwd_hooks=hooks).double()
    losses = [
        float(-logits[row, pos].log_softmax(-1)[TOKENS[row, pos + 1]])
        for row in range(TOKENS.shape[0])
        for pos in range(skip, TOKENS.shape[1] - 1)
    ]
    return sum(losses) / len(losses)


def from_position(skip: int, replace):
    """A hook writing `replace(activation[:, skip:])` at positions >= skip."""
    return lambda a, hook: torch.cat([a[:, :skip], replace(a[:, skip:])], dim=1)


def assert_matches(result, expected: dict, ce: dict) -> None:
    for name, value in expected.items():
        got = getattr(result, name)
        if name == "feature_density":
            torch.testing.assert_close(got, torch.tensor(value, dtype=torch.float32), atol=1e-6, rtol=0)
        else:
            assert got == pytest.approx(value, rel=1e-5, abs=1e-6), name
    for name, value in ce.items():
        assert getattr(result, name) == pytest.approx(value, abs=1e-5), name
    zero, mean, clean, spliced = ce["ce_zero_ablated"], ce["ce_mean_ablated"], ce["ce_clean"], ce["ce_spliced"]
    assert result.ce_recovered == pytest.approx((zero - spliced) / (zero - clean), abs=1e-4)
    assert result.ce_recovered_mean == pytest.approx((mean - spliced) / (mean - clean), abs=1e-4)


# ---- every figure against the loop --------------------------------------------------------------------------


def test_residual_sae_figures_equal_a_naive_per_token_loop(attn_model):
    sae, skip, window = planted_dictionary(32), 1, 20
    result = evaluate_dictionary(
        attn_model, sae, config_for(sae, "resid_pre1", skip=skip), TOKENS, batch_size=4, dead_window=window
    )
    xs = cache_activations(attn_model, TOKENS, ["resid_pre1"])["resid_pre1"]
    expected = naive_figures(sae, xs, xs, skip, window, 0.1)
    assert 0 < expected["dead_fraction"] < 1 and 0 < expected["dense_fraction"] < 1  # planted: neither figure is trivial
    mean = xs[:, skip:].double().mean(dim=(0, 1)).float()
    hook = "blocks.1.hook_resid_pre"
    ce = dict(
        ce_clean=naive_loss(attn_model, [], skip),
        ce_spliced=naive_loss(attn_model, [(hook, from_position(skip, sae))], skip),
        ce_zero_ablated=naive_loss(attn_model, [(hook, from_position(skip, torch.zeros_like))], skip),
        ce_mean_ablated=naive_loss(attn_model, [(hook, from_position(skip, lambda a: mean.expand_as(a)))], skip),
    )
    assert_matches(result, expected, ce)
    assert result.n_predictions == 6 * 14 and result.dead_window == window


def test_dead_fraction_without_a_window_counts_every_token(attn_model):
    sae = planted_dictionary(32, seed=3)
    result = evaluate_dictionary(attn_model, sae, config_for(sae, "resid_pre1"), TOKENS, batch_size=5)
    xs = cache_activations(attn_model, TOKENS, ["resid_pre1"])["resid_pre1"]
    expected = naive_figures(sae, xs, xs, 0, 10**9, 0.1)
    assert result.dead_fraction == pytest.approx(expected["dead_fraction"]) and result.dead_window == 96
    torch.testing.assert_close(result.feature_density, torch.tensor(expected["feature_density"], dtype=torch.float32))


def test_a_feature_first_active_on_token_t_is_dead_in_a_window_of_t_tokens_and_alive_in_t_plus_one(attn_model):
    sae, skip = planted_dictionary(32, seed=7), 1
    xs = cache_activations(attn_model, TOKENS, ["resid_pre1"])["resid_pre1"][:, skip:].flatten(0, 1)  # row order
    with torch.no_grad():
        first = [(sae.encode(xs)[:, i] > 0).nonzero() for i in range(sae.n_features)]
    last_to_wake = max(int(f[0]) for f in first if len(f))
    assert last_to_wake > 0
    dead = [
        evaluate_dictionary(attn_model, sae, config_for(sae, "resid_pre1", skip=skip), TOKENS, dead_window=w).dead_fraction
        for w in (last_to_wake, last_to_wake + 1)
    ]
    assert dead[0] - dead[1] == pytest.approx(sum(len(f) > 0 and int(f[0]) == last_to_wake for f in first) / sae.n_features)


def test_transcoder_figures_use_its_targets_and_ablate_its_output_site(mlp_model):
    transcoder, skip = planted_dictionary(32, d_out=32), 2
    config = config_for(transcoder, "resid_mid0", "mlp_out0", skip=skip)
    result = evaluate_dictionary(mlp_model, transcoder, config, TOKENS, batch_size=4, dense_threshold=0.5)
    acts = cache_activations(mlp_model, TOKENS, ["resid_mid0", "mlp_out0"])
    expected = naive_figures(transcoder, acts["resid_mid0"], acts["mlp_out0"], skip, 10**9, 0.5)
    mean = acts["mlp_out0"][:, skip:].double().mean(dim=(0, 1)).float()
    seen = {}
    read = ("blocks.0.hook_resid_mid", lambda a, hook: seen.update(x=a))
    out = "blocks.0.hook_mlp_out"
    ce = dict(
        ce_clean=naive_loss(mlp_model, [], skip),
        ce_spliced=naive_loss(
            mlp_model, [read, (out, lambda a, hook: torch.cat([a[:, :skip], transcoder(seen["x"][:, skip:])], 1))], skip
        ),
        ce_zero_ablated=naive_loss(mlp_model, [(out, from_position(skip, torch.zeros_like))], skip),
        ce_mean_ablated=naive_loss(mlp_model, [(out, from_position(skip, lambda a: mean.expand_as(a)))], skip),
    )
    assert_matches(result, expected, ce)
    assert (result.site, result.output_site) == ("resid_mid0", "mlp_out0")


def test_head_out_figures_ablate_that_head(attn_model):
    sae, skip = planted_dictionary(32, seed=5), 1
    result = evaluate_dictionary(attn_model, sae, config_for(sae, "head_out1h2", skip=skip), TOKENS, batch_size=4)
    acts = cache_activations(attn_model, TOKENS, ["head_out1h2", "z1"])
    xs = acts["head_out1h2"]
    expected = naive_figures(sae, xs, xs, skip, 10**9, 0.1)
    mean_z = acts["z1"][:, skip:, 2].double().mean(dim=(0, 1)).float()

    def set_head(value):
        def hook(z, hook):
            z = z.clone()
            z[:, skip:, 2] = value(z[:, skip:, 2])
            return z

        return hook

    seen = {}
    w_out = attn_model.W_O[1, 2]

    def splice(a, hook):  # attn_out - head_out + reconstruction, at positions >= skip
        head_out = seen["z"][:, :, 2] @ w_out
        return from_position(skip, lambda rest: rest + sae(head_out[:, skip:]) - head_out[:, skip:])(a, hook)

    z, attn_out = "blocks.1.attn.hook_z", "blocks.1.hook_attn_out"
    ce = dict(
        ce_clean=naive_loss(attn_model, [], skip),
        ce_spliced=naive_loss(attn_model, [(z, lambda a, hook: seen.update(z=a)), (attn_out, splice)], skip),
        ce_zero_ablated=naive_loss(attn_model, [(z, set_head(torch.zeros_like))], skip),
        ce_mean_ablated=naive_loss(attn_model, [(z, set_head(lambda v: mean_z.expand_as(v)))], skip),
    )
    assert_matches(result, expected, ce)


# ---- dictionaries with known answers ------------------------------------------------------------------------


SITES = [
    ("resid_pre1", 32, 0),
    ("resid_pre1", 32, 1),
    ("z1", 32, 0),
    ("z1h2", 8, 1),
    ("head_out1h2", 32, 1),
    ("head_out0", 128, 0),
]


@pytest.mark.parametrize(("site", "width", "skip"), SITES)
def test_an_exact_dictionary_explains_everything_and_recovers_all_the_loss(attn_model, site, width, skip):
    sae = identity_dictionary(width)
    result = evaluate_dictionary(attn_model, sae, config_for(sae, site, skip=skip), TOKENS, batch_size=4)
    assert result.explained_variance == pytest.approx(1.0, abs=1e-6) and result.mse == pytest.approx(0.0, abs=1e-10)
    assert result.ce_spliced == pytest.approx(result.ce_clean, abs=1e-5)
    assert result.ce_recovered == pytest.approx(1.0, abs=1e-4) and result.ce_recovered_mean == pytest.approx(1.0, abs=1e-4)
    assert result.l2_ratio == pytest.approx(1.0, abs=1e-6) and result.relative_reconstruction_bias == pytest.approx(1.0, abs=1e-6)
    assert abs(result.ce_zero_ablated - result.ce_clean) > 1e-3  # the baseline is not the clean run: recovered = 1 says something
    assert result.n_tokens == 6 * (16 - skip)


@pytest.mark.parametrize(("site", "width", "skip"), SITES)
def test_a_zero_output_is_the_zero_ablation_and_a_mean_output_the_mean_ablation(attn_model, site, width, skip):
    zero = constant_dictionary(width)
    result = evaluate_dictionary(attn_model, zero, config_for(zero, site, skip=skip), TOKENS, batch_size=4)
    assert result.ce_spliced == pytest.approx(result.ce_zero_ablated, abs=1e-5)
    assert result.ce_recovered == pytest.approx(0.0, abs=1e-4)

    vectors = cache_activations(attn_model, TOKENS, [site])[site]
    mean = vectors.flatten(start_dim=2)[:, skip:].double().mean(dim=(0, 1)).float()  # computed here, independently
    constant = constant_dictionary(width, mean)
    result = evaluate_dictionary(attn_model, constant, config_for(constant, site, skip=skip), TOKENS, batch_size=4)
    assert result.ce_spliced == pytest.approx(result.ce_mean_ablated, abs=1e-5)
    assert result.ce_recovered_mean == pytest.approx(0.0, abs=1e-4)
    assert result.explained_variance == pytest.approx(0.0, abs=1e-5)  # predicting the mean explains nothing


def test_figures_go_to_json(attn_model):
    sae = planted_dictionary(32)
    result = evaluate_dictionary(attn_model, sae, config_for(sae, "resid_post0"), TOKENS)
    figures = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert len(figures["feature_density"]) == 48 and figures["ce_clean"] == result.ce_clean and figures["output_site"] is None
    undefined = dataclasses.replace(result, ce_recovered=math.nan)
    assert undefined.to_dict()["ce_recovered"] is None


# ---- hooks and refusals -------------------------------------------------------------------------------------


def no_hooks_left(model) -> bool:
    from transformer_lens.hook_points import HookPoint

    return not any(isinstance(m, HookPoint) and (m.fwd_hooks or m.bwd_hooks) for m in model.modules())


class Boom(Exception):
    pass


class FailingDictionary(SparseDictionary):
    def forward(self, x):  # encode/decode work (the statistics pass), the spliced forward fails
        raise Boom("the dictionary failed inside the spliced forward")


def test_no_hook_remains_after_an_evaluation_that_fails_midway(attn_model):
    sae = FailingDictionary(d_in=32, n_features=64, kind="relu")
    with pytest.raises(Boom):
        evaluate_dictionary(attn_model, sae, config_for(sae, "head_out1h2"), TOKENS, batch_size=4)
    assert no_hooks_left(attn_model)


@pytest.mark.parametrize(
    ("change", "error", "says"),
    [
        (
            dict(sae=identity_dictionary(16), config=SAEConfig(site="resid_pre1", kind="relu", n_features=32)),
            ConfigError,
            "width 16",
        ),
        (dict(config=SAEConfig(site="resid_pre1", kind="relu", n_features=32)), ConfigError, "does not match its config"),
        (dict(config=SAEConfig(site="resid_pre1", kind="topk", k=4, n_features=64)), ConfigError, "does not match its config"),
        (
            dict(config=SAEConfig(site="resid_pre1", output_site="attn_out1", kind="relu", n_features=64)),
            ConfigError,
            "does not match",
        ),
        (dict(config=SAEConfig(site="resid_pre5", kind="relu", n_features=64)), SiteError, "out of range"),
        (dict(config=SAEConfig(site="mlp_out0", kind="relu", n_features=64)), SiteError, "attention-only"),
        (dict(config=SAEConfig(site="resid_pre1", kind="relu", n_features=64, skip_positions=15)), DataError, "skip_positions"),
        (dict(tokens=TOKENS.float()), DataError, ""),
        (dict(tokens=TOKENS + 100), DataError, ""),
        (dict(batch_size=0), DataError, "batch_size"),
        (dict(dead_window=97), DataError, "dead_window"),
        (dict(dead_window=0), DataError, "dead_window"),
        (dict(dense_threshold=1.5), DataError, "dense_threshold"),
        (dict(sae=torch.nn.Linear(32, 32)), ConfigError, "SparseDictionary"),
    ],
)
def test_bad_evaluations_are_refused_in_one_line(attn_model, change, error, says):
    sae = identity_dictionary(32)
    arguments = dict(sae=sae, config=config_for(sae, "resid_pre1"), tokens=TOKENS) | change
    with pytest.raises(error) as raised:
        evaluate_dictionary(attn_model, arguments.pop("sae"), arguments.pop("config"), arguments.pop("tokens"), **arguments)
    assert isinstance(raised.value, InterpError)
    assert says in str(raised.value) and "\n" not in str(raised.value)
    assert no_hooks_left(attn_model)
