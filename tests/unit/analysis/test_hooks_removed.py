"""After any analysis call that adds hooks — also one that raises midway — no hook remains on the model."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.model.build import build_model

TOKENS = torch.randint(11, (3, 12), generator=torch.Generator().manual_seed(0))


class Boom(Exception):
    pass


def _fail_in_last_block(model, injected: list, on_call: int = 1) -> None:
    """Make the last block raise on its `on_call`-th call: a failure in the middle of a hooked forward pass.
    (Done with a torch pre-hook whose handle goes to `injected`; the test removes it before looking.)"""
    calls = [0]

    def fail(module, args):
        calls[0] += 1
        if calls[0] == on_call:
            raise Boom("failed inside the forward pass")

    injected.append(model.blocks[-1].register_forward_pre_hook(fail))


def _raising_metric(after: int = 0):
    """A row metric that works `after` times, then raises."""
    from interp.analysis.core.metrics import loss_metric

    calls = [0]

    def metric(logits, tokens, rows):
        calls[0] += 1
        if calls[0] > after:
            raise Boom("metric failed")
        return loss_metric(logits, tokens, rows)

    return metric


def _apply_body_raises(model, injected):
    from interp.analysis.core.interventions import ZeroAblation, apply
    from interp.model.sites import Site

    with apply(model, ZeroAblation(Site.z(0), heads=[1]), ZeroAblation(Site.resid_pre(1))):
        model(TOKENS)
        raise Boom("body failed")


def _apply_second_intervention_invalid(model, injected):
    from interp.analysis.core.interventions import MeanAblation, ZeroAblation, apply
    from interp.model.sites import Site

    with apply(model, ZeroAblation(Site.z(0)), MeanAblation(Site.z(1), reference=TOKENS + 100)):
        model(TOKENS)


def _run_with_mismatched_patch(model, injected):
    from interp.analysis.core.interventions import Patch, ZeroAblation, run_with
    from interp.model.sites import Site

    source = torch.zeros(3, 5, 4, 8)  # 5 positions; the run has 12: raises inside the hook, mid-forward
    run_with(model, TOKENS, ZeroAblation(Site.z(0)), Patch(Site.z(1), source))


def _cache_activations_forward_fails(model, injected):
    from interp.analysis.core.cache import cache_activations

    _fail_in_last_block(model, injected, on_call=2)  # the second mini-batch
    cache_activations(model, TOKENS, ["z0", "pattern1", "resid_post1"], batch_size=2)


def _ablation_study_metric_fails(model, injected):
    from interp.analysis.ablation.study import ablation_study

    ablation_study(model, TOKENS, method="mean", metric=_raising_metric(after=1))


def _ablation_study_forward_fails(model, injected):
    from interp.analysis.ablation.study import ablation_study

    _fail_in_last_block(model, injected, on_call=2)
    ablation_study(model, TOKENS, method="resample", over="layers", batch_size=2)


def _compare_heads_metric_fails(model, injected):
    from interp.analysis.ablation.compare import compare_heads

    compare_heads(model, model, TOKENS, metric=_raising_metric(after=3))


def _evaluate_model_forward_fails(model, injected):
    from interp.analysis.induction.probes import make_probe
    from interp.analysis.induction.series import evaluate_model

    probe = make_probe(vocab=torch.arange(11), n_ctx=16, batch=2, generator=torch.Generator().manual_seed(0))
    _fail_in_last_block(model, injected)
    evaluate_model(model, probe)


def _activation_patching_metric_fails(model, injected):
    pytest.importorskip(
        "interp.analysis.patching.activation", reason="interp.analysis.patching.activation is not in this tree yet"
    )
    from interp.analysis.core.metrics import LogitDiff
    from interp.analysis.patching.activation import activation_patching

    calls = [0]

    class FailingDiff(LogitDiff):
        def from_columns(self, picked):  # every metric value goes through here, baselines and sweep alike
            calls[0] += 1
            if calls[0] > 2:  # after the clean and corrupted baselines, during the sweep
                raise Boom("metric failed")
            return super().from_columns(picked)

    metric = FailingDiff(correct=torch.tensor([1, 2, 3]), wrong=torch.tensor([4, 5, 6]), positions=torch.tensor([11, 11, 11]))
    activation_patching(model, TOKENS, (TOKENS + 1) % 11, metric, kind="z")


def _reference_patching_metric_fails(model, injected):
    pytest.importorskip("interp.analysis.patching.reference", reason="not in this tree yet")
    from interp.analysis.patching.reference import reference_patching

    def metric(logits):
        raise Boom("metric failed")

    reference_patching(model, TOKENS, (TOKENS + 1) % 11, metric, kind="z")


def _attention_example_forward_fails(model, injected):
    from interp.analysis.run_analysis import attention_example

    _fail_in_last_block(model, injected)
    attention_example(model, TOKENS[0], "example", None)


CALLS = {f.__name__.lstrip("_"): f for f in [
    _apply_body_raises,
    _apply_second_intervention_invalid,
    _run_with_mismatched_patch,
    _cache_activations_forward_fails,
    _ablation_study_metric_fails,
    _ablation_study_forward_fails,
    _compare_heads_metric_fails,
    _evaluate_model_forward_fails,
    _activation_patching_metric_fails,
    _reference_patching_metric_fails,
    _attention_example_forward_fails,
]}  # fmt: skip


def _hooks(model) -> dict[str, int]:
    """Hooks per module: TransformerLens hooks on HookPoints, and torch hooks on any module."""
    from transformer_lens.hook_points import HookPoint

    counts = {}
    for name, module in model.named_modules():
        n = sum(map(len, [module._forward_hooks, module._forward_pre_hooks, module._backward_hooks, module._backward_pre_hooks]))
        if isinstance(module, HookPoint):
            n += len(module.fwd_hooks) + len(module.bwd_hooks)
        if n:
            counts[name] = n
    return counts


@pytest.fixture(params=["attn-only", "mlp"])
def model(request):
    model = build_model(tiny_config() if request.param == "attn-only" else tiny_config(attn_only=False, d_mlp=64))
    model(TOKENS)  # the bridge adds its own permanent torch hooks (on wrapped LayerNorms) at the first forward
    return model


@pytest.mark.parametrize("call", CALLS)
def test_no_hook_remains_after_a_call_that_raises(model, call):
    from transformer_lens.hook_points import HookPoint

    before = _hooks(model)
    assert not any(isinstance(m, HookPoint) and (m.fwd_hooks or m.bwd_hooks) for m in model.modules())
    injected = []
    try:
        with pytest.raises(Exception) as raised:
            CALLS[call](model, injected)
    finally:
        for handle in injected:
            handle.remove()
    assert raised.type is Boom or "InterpError" in [c.__name__ for c in raised.type.__mro__], raised.value
    assert _hooks(model) == before, call
    model(TOKENS)  # and the model still runs
