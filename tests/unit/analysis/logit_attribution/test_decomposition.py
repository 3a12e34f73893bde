"""Direct logit attribution is an exact decomposition of the model's own logits, equals TransformerLens 4.3's
`direct_logit_attribution` (on a compatibility-mode copy) per component, per head and per position, and finds the
planted induction head."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.planted_induction import planted_model

from interp.analysis.logit_attribution.decompose import direct_logit_attribution
from interp.analysis.logit_attribution.directions import LogitDirection, task_direction, token_direction
from interp.analysis.logit_attribution.reference import processed_copy, reference_attribution
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.tasks.induction.task import induction_task

CONFIGS = {
    "attn-only LN": {},
    "MLP LN": {"attn_only": False, "d_mlp": 64},
    "MLP RMS": {"attn_only": False, "d_mlp": 64, "normalization_type": "RMS"},
    "LNPre": {"normalization_type": "LNPre"},
    "no norm": {"normalization_type": None},
    "rotary": {"positional_embedding_type": "rotary"},
}


def perturbed(**changes):
    """A tiny model whose every weight (norm gains and biases included) is far from its initial value."""
    model = build_model(tiny_config(**changes)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


def random_direction(batch: int, pos: int, *, distractor: bool = True, seed: int = 0) -> LogitDirection:
    g = torch.Generator().manual_seed(seed)
    answer, wrong = torch.randint(11, (batch,), generator=g), torch.randint(11, (batch,), generator=g)
    return LogitDirection(answer, wrong if distractor else None, torch.randint(pos, (batch,), generator=g), "a - b")


TOKENS = torch.randint(11, (6, 12), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("changes", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("distractor", [True, False], ids=["difference", "one token"])
def test_components_plus_biases_are_the_models_logit_difference(changes, distractor):
    model = perturbed(**changes)
    direction = random_direction(6, 12, distractor=distractor)
    result = direct_logit_attribution(model, TOKENS, direction)
    with torch.no_grad():
        expected = direction.of_logits(model(TOKENS))  # the model's own forward, not the cached run
    assert result.logit_value.abs().mean() > 0.1  # a decomposition of something
    torch.testing.assert_close(result.total, expected.double(), atol=1e-4, rtol=0)
    assert result.error <= 1e-4
    # heads plus b_O make each attention component, and the source split makes each head
    attention = [i for i, label in enumerate(result.component_labels) if label.startswith("attn")]
    torch.testing.assert_close(result.heads.sum(-1) + result.head_biases, result.components[:, attention], atol=1e-5, rtol=0)
    torch.testing.assert_close(result.by_source.sum(-1), result.heads, atol=1e-5, rtol=0)


def test_the_scale_is_frozen_at_the_cached_run():
    """Recomputing the norm per component (the logit lens of each part) would not sum to the logit difference;
    the frozen per-token scale does, and it is what the model's ln_final.hook_scale holds."""
    model = perturbed()
    direction = random_direction(6, 12)
    result = direct_logit_attribution(model, TOKENS, direction)
    _, cache = model.run_with_cache(TOKENS)
    scale = cache["ln_final.hook_scale"][torch.arange(6), direction.positions, 0].double()
    unit = model.W_U.T[direction.answer] - model.W_U.T[direction.distractor]
    pulled = unit.double() * model.ln_final.weight.double()
    pulled = pulled - pulled.mean(-1, keepdim=True)
    embed = cache["hook_embed"][torch.arange(6), direction.positions].double()
    torch.testing.assert_close(result.components[:, 0], (embed * pulled).sum(-1) / scale, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "changes", [CONFIGS["attn-only LN"], CONFIGS["MLP LN"], CONFIGS["MLP RMS"]], ids=["attn-only", "MLP", "RMS"]
)
def test_components_equal_transformer_lens(changes):
    model = perturbed(**changes)
    direction = random_direction(6, 12)
    ours = direct_logit_attribution(model, TOKENS, direction)
    labels, theirs = reference_attribution(model, TOKENS, direction, unit="component")
    assert labels == ["embed", "pos_embed"] + [f"{label[-1]}_{label[:-1]}_out" for label in ours.component_labels[2:]]
    torch.testing.assert_close(theirs, ours.components.T.float(), atol=1e-5, rtol=1e-5)


def test_heads_equal_transformer_lens_without_folding_value_biases():
    model = perturbed(attn_only=False, d_mlp=64)
    direction = random_direction(6, 12)
    ours = direct_logit_attribution(model, TOKENS, direction)
    labels, theirs = reference_attribution(model, TOKENS, direction, unit="head", fold_value_biases=False)
    assert labels[:-1] == [f"L{layer}H{head}" for layer in range(2) for head in range(4)] and labels[-1] == "remainder"
    torch.testing.assert_close(theirs[:-1], ours.heads.flatten(1).T.float(), atol=1e-5, rtol=1e-5)
    # TransformerLens's remainder: embeddings, every b_O and the MLPs (its DLA leaves out b_U and folds ln_final.b into it)
    mlps = [i for i, label in enumerate(ours.component_labels) if label.startswith(("embed", "pos", "mlp"))]
    remainder = ours.components[:, mlps].sum(-1) + ours.head_biases.sum(-1)
    torch.testing.assert_close(theirs[-1], remainder.float(), atol=1e-5, rtol=1e-5)


def test_one_token_equals_transformer_lens_without_centring_the_unembedding():
    model = perturbed()
    direction = random_direction(6, 12, distractor=False)
    ours = direct_logit_attribution(model, TOKENS, direction)
    _, theirs = reference_attribution(model, TOKENS, direction, unit="component", center_unembed=False)
    torch.testing.assert_close(theirs, ours.components.T.float(), atol=1e-5, rtol=1e-5)


def test_every_position_equals_transformer_lens_with_pos_none():
    from transformer_lens.tools.analysis import direct_logit_attribution as tl_dla

    model = perturbed()
    direction = random_direction(6, 12)
    ours = direct_logit_attribution(model, TOKENS, direction)
    twin = processed_copy(model, fold_value_biases=False)
    per_position = lambda ids: ids[:, None].expand(6, 12)  # noqa: E731
    theirs = tl_dla(
        twin,
        TOKENS,
        answer_tokens=per_position(direction.answer),
        incorrect_tokens=per_position(direction.distractor),
        unit="head",
        pos=None,
    ).attribution  # [head+remainder batch pos]
    torch.testing.assert_close(
        theirs[:-1].reshape(2, 4, 6, 12).permute(2, 0, 1, 3).double(), ours.heads_by_position, atol=1e-5, rtol=0
    )


def test_the_reference_leaves_the_callers_model_unchanged():
    model = perturbed()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference_attribution(model, TOKENS, random_direction(6, 12))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_planted_induction_head_carries_the_logit_difference():
    """On the hand-wired model, L1H0 copies the token after the earlier occurrence; it alone writes the answer,
    reading it from the first copy, one position after the read token's earlier occurrence."""
    model = planted_model()
    task = induction_task(16, n=16, half=6, seed=0)
    result = direct_logit_attribution(model, task.clean, task_direction(task))
    heads = result.mean_sem("heads")[0]
    assert result.error < 1e-4
    assert float(heads[1, 0]) > 0.9 * float(result.logit_value.mean()) > 5
    others = heads.clone()
    others[1, 0] = 0
    assert float(others.abs().max()) < 0.05 * float(heads[1, 0])
    source = result.by_source[:, 1, 0].argmax(-1)  # where L1H0's attribution comes from
    expected = task.metric.positions - 6 + 1  # the token after the read token's first occurrence
    assert torch.equal(source, expected)


def test_mini_batches_give_the_same_attribution():
    model = perturbed()
    direction = random_direction(6, 12)
    whole = direct_logit_attribution(model, TOKENS, direction)
    parts = direct_logit_attribution(model, TOKENS, direction, batch_size=4)
    for name in ("components_by_position", "heads_by_position", "by_source", "biases", "logit_value"):
        torch.testing.assert_close(getattr(parts, name), getattr(whole, name), msg=name)


def test_bad_directions_are_one_line_errors():
    model = perturbed()
    with pytest.raises(DataError, match="vocabulary of 11"):
        direct_logit_attribution(model, TOKENS, token_direction(11, torch.zeros(6, dtype=torch.long)))
    with pytest.raises(DataError, match=r"read positions must be in \[0, 12\)"):
        direct_logit_attribution(model, TOKENS, token_direction(1, torch.full((6,), 12)))
    with pytest.raises(DataError, match="the direction has 2 rows but the tokens have 6"):
        direct_logit_attribution(model, TOKENS, token_direction(1, torch.zeros(2, dtype=torch.long)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_attribution_equals_cpu():
    model = perturbed()
    direction = random_direction(6, 12)
    cpu = direct_logit_attribution(model, TOKENS, direction)
    gpu = direct_logit_attribution(model.cuda(), TOKENS, direction)
    assert gpu.heads.device.type == "cpu"
    torch.testing.assert_close(gpu.heads, cpu.heads, atol=1e-4, rtol=1e-4)
