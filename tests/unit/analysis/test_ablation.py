"""Ablation studies: the stacked, layer-skipping implementation against a naive loop of TransformerLens hooks."""

import itertools
import json

import pytest
import torch

from interp.analysis.ablation.files import load_ablation, save_ablation
from interp.analysis.ablation.study import AblationResult, ablation_study, ablation_units
from interp.analysis.core.interventions import MeanAblation, ResampleAblation, ZeroAblation, resample_rows, run_with
from interp.analysis.core.metrics import LogitDiff, logit_diff, mean_loss
from interp.core.errors import DataError
from interp.model.sites import Site

TOLERANCE = 1e-5


@pytest.fixture
def tokens():
    return torch.randint(0, 11, (12, 10), generator=torch.Generator().manual_seed(3))


_memo: dict = {}


def replacement(model, tokens, hook_name: str, method: str, seed: int = 0):
    """What the naive reference substitutes: written from scratch with run_with_cache (memoised per model)."""
    if method == "zero":
        return None
    key = (id(model), tokens.data_ptr(), tuple(tokens.shape), method, seed)
    if key not in _memo:
        source = tokens if method == "mean" else tokens[resample_rows(len(tokens), len(tokens), seed)]
        with torch.no_grad():
            _memo[key] = (model, model.run_with_cache(source)[1])  # the model is kept so its id stays unique
    cache = _memo[key][1]
    return cache[hook_name].mean(0, keepdim=True) if method == "mean" else cache[hook_name]


@pytest.fixture(autouse=True)
def _forget_memo():
    yield
    _memo.clear()


@torch.no_grad()
def naive_loss(model, tokens, ablate: list[tuple[str, int | None]], method: str, seed: int = 0) -> float:
    """One full forward per ablation with hand-written hooks: the reference."""
    hooks = []
    for hook_name, head in ablate:
        value = replacement(model, tokens, hook_name, method, seed)

        def hook(act, hook, head=head, value=value):
            act = act.clone()
            new = torch.zeros_like(act) if value is None else value.expand_as(act)
            if head is None:
                act[:] = new
            else:
                act[:, :, head] = new[:, :, head]
            return act

        hooks.append((hook_name, hook))
    return float(mean_loss(model.run_with_hooks(tokens, fwd_hooks=hooks), tokens))


@pytest.mark.parametrize(
    "model_name, method",
    [("tiny_model", "zero"), ("tiny_model", "mean"), ("tiny_model", "resample"), ("tiny_mlp_model", "mean")],
)
def test_single_heads_match_a_naive_hook_loop(request, model_name, tokens, method):
    tiny_model = request.getfixturevalue(model_name)
    result = ablation_study(tiny_model, tokens, method=method, over="heads", batch_size=5, seed=5)
    assert result.effects.shape == (2, 4)
    with torch.no_grad():
        clean = float(mean_loss(tiny_model(tokens), tokens))
    assert abs(result.baseline - clean) <= TOLERANCE
    for layer, head in itertools.product(range(2), range(4)):
        expected = naive_loss(tiny_model, tokens, [(f"blocks.{layer}.attn.hook_z", head)], method, seed=5)
        assert abs(float(result.values[layer, head]) - expected) <= TOLERANCE
        assert abs(float(result.effects[layer, head]) - (expected - result.baseline)) <= TOLERANCE
    assert tiny_model.list_hooks() == {}


def test_mini_batches_and_stacking_limits_do_not_change_results(tiny_model, tokens):
    whole = ablation_study(tiny_model, tokens, method="zero", batch_size=12)
    split = ablation_study(tiny_model, tokens, method="zero", batch_size=5, max_stacked_rows=5)  # no stacking at all
    torch.testing.assert_close(split.values, whole.values, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("model_name, method", [("tiny_model", "zero"), ("tiny_model", "mean"), ("tiny_mlp_model", "resample")])
def test_pairs_match_a_naive_hook_loop(request, model_name, tokens, method):
    tiny_model = request.getfixturevalue(model_name)
    result = ablation_study(tiny_model, tokens, method=method, over="pairs", batch_size=5)
    assert result.effects.shape == (2, 4, 2, 4)
    torch.testing.assert_close(result.effects, result.effects.permute(2, 3, 0, 1))
    single = ablation_study(tiny_model, tokens, method=method, over="heads", batch_size=5)
    torch.testing.assert_close(torch.diagonal(result.values.view(8, 8)), single.values.flatten(), atol=TOLERANCE, rtol=0)
    for (la, ha), (lb, hb) in [((0, 0), (0, 3)), ((0, 2), (1, 1)), ((1, 0), (1, 3))]:
        expected = naive_loss(tiny_model, tokens, [(f"blocks.{la}.attn.hook_z", ha), (f"blocks.{lb}.attn.hook_z", hb)], method)
        assert abs(float(result.values[la, ha, lb, hb]) - expected) <= TOLERANCE
    rows = result.rows
    assert len(rows) == 28
    row = next(r for r in rows if r["name"] == "L0H2+L1H1")
    assert row["interaction"] == pytest.approx(
        row["effect"] - float(result.effects[0, 2, 0, 2]) - float(result.effects[1, 1, 1, 1])
    )


@pytest.mark.parametrize("method", ["zero", "mean", "resample"])
def test_layers_match_a_naive_hook_loop(tiny_mlp_model, tokens, method):
    result = ablation_study(tiny_mlp_model, tokens, method=method, over="layers", batch_size=len(tokens))
    assert result.components == ("attn", "mlp")
    for layer, (index, component) in itertools.product(range(2), enumerate(result.components)):
        hook_name = f"blocks.{layer}.hook_{component}_out"
        expected = naive_loss(tiny_mlp_model, tokens, [(hook_name, None)], method)
        assert abs(float(result.values[layer, index]) - expected) <= TOLERANCE


def test_agrees_with_the_intervention_values(tiny_model, tokens):
    """The study and the public interventions implement the same ablations."""
    zero = ablation_study(tiny_model, tokens, method="zero", batch_size=len(tokens))
    mean = ablation_study(tiny_model, tokens, method="mean", batch_size=len(tokens))
    resample = ablation_study(tiny_model, tokens, method="resample", seed=2, batch_size=len(tokens))
    for intervention, study in [
        (ZeroAblation(Site.head_out(1), heads=[2]), zero),
        (MeanAblation(Site.head_out(1), reference=tokens, heads=[2]), mean),
        (ResampleAblation(Site.head_out(1), tokens, heads=[2], seed=2), resample),
    ]:
        with torch.no_grad():
            loss = float(mean_loss(run_with(tiny_model, tokens, intervention), tokens))
        assert abs(float(study.values[1, 2]) - loss) <= TOLERANCE


def test_task_metric(tiny_model, tokens):
    correct, incorrect = tokens[:, -1], (tokens[:, -1] + 1) % 11
    metric = LogitDiff(correct, incorrect, positions=-2)
    result = ablation_study(tiny_model, tokens, method="zero", metric=metric, batch_size=5)
    assert result.metric == "LogitDiff"
    with torch.no_grad():
        clean = float(logit_diff(tiny_model(tokens), correct, incorrect, -2).mean())
    assert abs(result.baseline - clean) <= TOLERANCE

    def hook(z, hook):
        z = z.clone()
        z[:, :, 3] = 0
        return z

    with torch.no_grad():
        ablated = tiny_model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_z", hook)])
    assert abs(float(result.values[0, 3]) - float(logit_diff(ablated, correct, incorrect, -2).mean())) <= TOLERANCE


def test_units_and_errors(tiny_model, tiny_mlp_model, tokens):
    assert len(ablation_units(tiny_model, "heads")) == 8
    assert len(ablation_units(tiny_model, "pairs")) == 8 + 28
    assert len(ablation_units(tiny_mlp_model, "layers")) == 4
    with pytest.raises(DataError, match="method"):
        ablation_study(tiny_model, tokens, method="median")
    with pytest.raises(DataError, match="over"):
        ablation_study(tiny_model, tokens, over="neurons")
    with pytest.raises(DataError, match="positions"):
        ablation_study(tiny_model, tokens, method="mean", reference=tokens[:, :4])


def test_save_and_load_round_trip(tiny_model, tokens, tmp_path):
    for over in ("heads", "pairs"):
        result = ablation_study(tiny_model, tokens, method="zero", over=over)
        paths = save_ablation(result, tmp_path / over, extra={"checkpoint": "x"})
        loaded = load_ablation(paths["json"])
        assert isinstance(loaded, AblationResult)
        torch.testing.assert_close(loaded.effects, result.effects)
        assert loaded.rows == result.rows
        data = json.loads(paths["json"].read_text())
        assert data["extra"] == {"checkpoint": "x"} and data["baseline"] == result.baseline
        lines = paths["csv"].read_text().splitlines()
        assert len(lines) == 1 + len(result.rows)
        assert lines[0].split(",")[0] == "name"


def test_the_general_path_matches_the_shortcut(tiny_mlp_model, tokens, monkeypatch):
    """Models whose blocks cannot be run one by one restart through TransformerLens's start_at_layer."""
    from interp.analysis.ablation import engine as ablation_engine

    fast = {over: ablation_study(tiny_mlp_model, tokens, method="mean", over=over, batch_size=5) for over in ("heads", "layers")}
    monkeypatch.setattr(ablation_engine, "_runs_blocks_directly", lambda model: False)
    restarts = []
    run_with_hooks = tiny_mlp_model.run_with_hooks

    def spy(*args, **kwargs):
        restarts.append(kwargs.get("start_at_layer"))
        return run_with_hooks(*args, **kwargs)

    monkeypatch.setattr(tiny_mlp_model, "run_with_hooks", spy)
    for over, expected in fast.items():
        slow = ablation_study(tiny_mlp_model, tokens, method="mean", over=over, batch_size=5)
        torch.testing.assert_close(slow.values, expected.values, atol=TOLERANCE, rtol=0)
    assert {0, 1} <= set(restarts)  # the ablated runs really went through start_at_layer


def test_the_separate_mean_pass_matches_the_fused_one(tiny_mlp_model, tokens, monkeypatch):
    from interp.analysis.ablation import engine as ablation_engine

    fused = ablation_study(tiny_mlp_model, tokens, method="mean", over="pairs", batch_size=5)
    explicit = ablation_study(tiny_mlp_model, tokens, method="mean", over="pairs", batch_size=5, reference=tokens)
    monkeypatch.setattr(ablation_engine, "CLEAN_BUDGET", 0)
    separate = ablation_study(tiny_mlp_model, tokens, method="mean", over="pairs", batch_size=5)
    torch.testing.assert_close(explicit.values, fused.values, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(separate.values, fused.values, atol=TOLERANCE, rtol=0)
