"""QK/OV circuits, OV copying and composition scores: hand-built weights, TransformerLens's utilities, naive products."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.planted_induction import planted_model
from transformer_lens.utilities.matrix import composition_scores as tl_composition_scores

from interp.analysis.circuits import qk_ov as c
from interp.model.build import build_model


def hand_weights(*, ov_sign: float = 1.0, d_model: int = 8, d_head: int = 4, vocab: int = 4) -> c.CircuitWeights:
    """One layer, one head: tokens embed as the first `vocab` basis vectors, V/O copy them, W_U reads them."""
    eye = torch.eye(d_model)
    W_E = eye[:vocab]
    W_V = eye[:, :d_head][None, None]
    W_O = ov_sign * eye[:d_head][None, None]
    return c.CircuitWeights(W_E=W_E, W_pos=None, W_Q=W_V.clone(), W_K=W_V.clone(), W_V=W_V, W_O=W_O, W_U=eye[:, :vocab].clone())


def test_identity_ov_copies_and_negated_ov_anti_copies():
    assert c.ov_copying_scores(hand_weights()).item() == pytest.approx(1.0)
    assert c.ov_copying_scores(hand_weights(ov_sign=-1.0)).item() == pytest.approx(-1.0)
    torch.testing.assert_close(c.full_ov_circuit(hand_weights()).AB[0, 0], torch.eye(4))


def test_planted_model_circuits():
    w = c.circuit_weights(planted_model())
    ov = c.ov_copying_scores(w)
    assert ov[1, 0] == pytest.approx(1.0) and abs(ov[0, 0]) < 1e-3
    # the previous-token head's positional QK peaks one position back
    positional = c.positional_qk_circuit(w).AB[0, 0]
    assert (positional[1:].argmax(-1) == torch.arange(15)).all()
    # the K-composition path is "query token = the token moved into the key": diagonal
    path = c.k_composition_circuit(w, layer=1, head=0, source_layer=0, source_head=0).AB
    assert (path.argmax(-1) == torch.arange(16)).all()
    k = c.composition_scores(w, "K")
    assert c.composition_partners(k, layer=1, head=0)[0][:2] == (0, 0)
    assert k[0, 0, 1, 0] > 1.5 * k[0, 1:, 1, 0].max()


def test_composition_scores_equal_transformer_lens():
    model = build_model(tiny_config(n_layers=3))
    w = c.circuit_weights(model, fold_layernorm=False)
    for kind in c.COMPOSITION_KINDS:
        torch.testing.assert_close(c.composition_scores(w, kind), model.all_composition_scores(kind).scores, atol=1e-6, rtol=1e-5)
    # and against the bare utility on the factored matrices, for one pair of layers
    ov, qk = model.OV, model.QK
    expected = tl_composition_scores(ov[0], qk[1].T)  # K-composition: [source_head head]
    torch.testing.assert_close(c.composition_scores(w, "K")[0, :, 1], expected, atol=1e-6, rtol=1e-5)


def test_orthogonal_subspaces_do_not_compose():
    d_model, d_head = 16, 4
    g = torch.Generator().manual_seed(0)
    W = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    W_V, W_O = W(2, 1, d_model, d_head), W(2, 1, d_head, d_model)
    W_Q, W_K = W(2, 1, d_model, d_head), W(2, 1, d_model, d_head)
    W_O[0, 0, :, 8:] = 0  # layer 0 writes only into dims 0..7
    W_K[1, 0, :8] = 0  # layer 1 keys read only dims 8..15
    W_Q[1, 0, :8] = 0
    W_V[1, 0, :8] = 0
    w = c.CircuitWeights(W_E=W(5, d_model), W_pos=None, W_Q=W_Q, W_K=W_K, W_V=W_V, W_O=W_O, W_U=W(d_model, 5))
    for kind in c.COMPOSITION_KINDS:
        assert c.composition_scores(w, kind)[0, 0, 1, 0] == pytest.approx(0.0, abs=1e-6)
    W_K[1, 0] = W_O[0, 0].T  # keys read exactly what layer 0 writes: well above chance
    assert c.composition_scores(w, "K")[0, 0, 1, 0] > 2 * c.random_composition_baseline(d_model=d_model, d_head=d_head)


def test_random_baseline_matches_random_heads_and_only_later_layers_score():
    model = build_model(tiny_config(n_layers=2, d_model=64, d_head=16, n_heads=4))
    w = c.circuit_weights(model, fold_layernorm=False)
    baseline = c.random_composition_baseline(d_model=64, d_head=16, draws=32)
    k = c.composition_scores(w, "K")
    assert k[0, :, 1].mean() == pytest.approx(baseline, rel=0.25)
    assert (k[1] == 0).all() and (k[:, :, 0] == 0).all()


def test_full_circuits_equal_naive_products_and_folding():
    model = build_model(tiny_config())
    raw = c.circuit_weights(model, fold_layernorm=False)
    torch.testing.assert_close(c.full_ov_circuit(raw).AB, model.W_E @ model.OV.AB @ model.W_U, atol=1e-5, rtol=1e-4)
    naive_qk = model.W_E @ model.W_Q[1, 2] @ model.W_K[1, 2].T @ model.W_E.T
    torch.testing.assert_close(c.full_qk_circuit(raw).AB[1, 2], naive_qk, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        model.blocks[1].ln1.weight.mul_(3.0)
    folded = c.circuit_weights(model)
    torch.testing.assert_close(folded.W_Q[1], 3.0 * raw.W_Q[1], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(folded.W_E.sum(-1), torch.zeros(11), atol=1e-5, rtol=0)
    vocab = torch.tensor([1, 4, 5])
    torch.testing.assert_close(c.full_ov_circuit(folded, vocab=vocab).AB, c.full_ov_circuit(folded).AB[..., vocab, :][..., vocab])


def test_bad_heads_and_kinds_are_clear_errors():
    w = hand_weights()
    with pytest.raises(c.CircuitError, match="L3H0"):
        c.k_composition_circuit(w, layer=3, head=0, source_layer=0, source_head=0)
    with pytest.raises(c.CircuitError, match="kind"):
        c.composition_scores(w, "X")
    with pytest.raises(c.CircuitError, match="positional"):
        c.positional_qk_circuit(w)
