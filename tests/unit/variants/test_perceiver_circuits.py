"""QK/OV circuits of a PerceiverAR: its weights have HookedTransformer names (`blocks.0.ln1.w`), so
`circuit_weights` reads them as it reads a TransformerBridge's, and on the same weights gives the same numbers."""

import dataclasses

import pytest
import torch

from interp.analysis.circuits.qk_ov import (
    CircuitError,
    CircuitWeights,
    circuit_weights,
    composition_scores,
    full_ov_circuit,
    full_qk_circuit,
    ov_copying_scores,
    positional_qk_circuit,
)
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.model.layout import to_hooked_state_dict
from interp.variants.perceiver_ar import PerceiverAR, PerceiverARConfig


@pytest.fixture(scope="module")
def pair() -> tuple[torch.nn.Module, PerceiverAR]:
    """A standard model with LayerNorm weights away from 1 (so folding does something), and a PerceiverAR
    holding exactly its weights."""
    standard_cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=11, d_mlp=64, seed=5)
    standard = build_model(standard_cfg)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in standard.named_parameters():
            if ("ln" in name) and name.endswith("weight"):
                param.copy_(torch.rand(param.shape, generator=generator) + 0.5)
    perceiver = PerceiverAR(PerceiverARConfig.from_model_config(standard_cfg, n_latents=4))
    perceiver.load_state_dict(to_hooked_state_dict(standard.state_dict(), standard_cfg))
    return standard, perceiver


@pytest.mark.parametrize("fold_layernorm", [True, False])
def test_circuit_weights_equal_the_standard_models_on_the_same_weights(pair, fold_layernorm):
    standard, perceiver = pair
    expected, got = (
        circuit_weights(standard, fold_layernorm=fold_layernorm),
        circuit_weights(perceiver, fold_layernorm=fold_layernorm),
    )
    for field in dataclasses.fields(CircuitWeights):
        a, b = getattr(expected, field.name), getattr(got, field.name)
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(b, a, rtol=0, atol=0, msg=field.name)
        else:
            assert a == b, field.name
    if fold_layernorm:  # the LN weights were folded in, so the folded and raw W_Q differ
        assert not torch.allclose(got.W_Q, circuit_weights(perceiver, fold_layernorm=False).W_Q)


def test_scores_and_circuits_equal_the_standard_models(pair):
    standard, perceiver = pair
    expected, got = circuit_weights(standard), circuit_weights(perceiver)
    # Equal weights (above), but the bridge's W_U is a transposed view (other strides), so the matrix products
    # round differently (3e-7 in the copying scores): float32 tolerances (assert_close's defaults), not bit equality.
    torch.testing.assert_close(ov_copying_scores(got), ov_copying_scores(expected))
    for kind in ("Q", "K", "V"):
        torch.testing.assert_close(composition_scores(got, kind), composition_scores(expected, kind))
    for circuit in (full_ov_circuit, full_qk_circuit, positional_qk_circuit):
        torch.testing.assert_close(circuit(got).AB, circuit(expected).AB)


def test_a_model_without_the_layernorm_weights_is_one_circuit_error(pair, monkeypatch):
    _, perceiver = pair
    full = perceiver.state_dict()
    monkeypatch.setattr(perceiver, "state_dict", lambda: {k: v for k, v in full.items() if not k.startswith("ln_final")})
    with pytest.raises(CircuitError) as error:
        circuit_weights(perceiver)
    message = str(error.value)
    assert "PerceiverAR" in message and "ln_final" in message and "fold_layernorm=False" in message and "\n" not in message
    assert circuit_weights(perceiver, fold_layernorm=False).folded is False
