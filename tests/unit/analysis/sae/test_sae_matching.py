"""Feature matching between two dictionaries, against planted permutations, a brute-force search over every
one-to-one pairing, and numpy's correlation coefficients."""

import itertools

import numpy as np
import pytest
import torch

from interp.analysis.sae import matching as matching_module
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.matching import activation_correlation, decoder_cosines, match_features, optimal_assignment
from interp.core.errors import ConfigError, DataError


def dictionary(decoder: torch.Tensor, encoder: torch.Tensor | None = None) -> SparseDictionary:
    """A ReLU SAE with the given decoder rows [features d] (and encoder columns, by default the decoder's)."""
    n_features, d = decoder.shape
    sae = SparseDictionary(d_in=d, n_features=n_features, kind="relu", seed=123)
    with torch.no_grad():
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_((decoder if encoder is None else encoder).T)
    return sae


def random_rows(n: int, d: int, seed: int) -> torch.Tensor:
    rows = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    return rows / rows.norm(dim=-1, keepdim=True)


def test_recovers_a_planted_permutation_exactly():
    decoder = random_rows(32, 16, seed=0)
    encoder = random_rows(32, 16, seed=1)
    order = torch.randperm(32, generator=torch.Generator().manual_seed(2))
    a = dictionary(decoder, encoder)
    b = dictionary(decoder[order] * 3.0, encoder[order] * 0.5)  # scales must not matter
    result = match_features(a, b)
    assert torch.equal(result.partner_of_b(), order)
    assert torch.equal(result.partner_of_a()[order], torch.arange(32))
    assert torch.equal(result.index_a, torch.arange(32))  # pairs ordered by a's feature
    torch.testing.assert_close(result.decoder_cosine, torch.ones(32))
    torch.testing.assert_close(result.encoder_cosine, torch.ones(32))
    assert result.activation_correlation is None and result.correlation_defined is None


def brute_force(similarity: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Best total over every injective map from rows to columns (rows <= columns): (total, column of each row)."""
    n_rows, n_columns = similarity.shape
    return max(
        (sum(similarity[r, c] for r, c in zip(range(n_rows), columns)), columns)
        for columns in itertools.permutations(range(n_columns), n_rows)
    )


@pytest.mark.parametrize(("n_a", "n_b"), [(5, 5), (5, 7), (7, 5)])
def test_assignment_equals_a_brute_force_search(n_a, n_b):
    # d = 3 < features: the directions overlap, so the greedy choice is often not the optimum
    for seed in range(6):
        a, b = dictionary(random_rows(n_a, 3, seed)), dictionary(random_rows(n_b, 3, seed + 100))
        result = match_features(a, b)
        similarity = decoder_cosines(a, b).numpy()
        if n_a <= n_b:
            best, columns = brute_force(similarity)
            expected_a, expected_b = list(range(n_a)), list(columns)
        else:
            best, rows = brute_force(similarity.T)
            pairs = sorted(zip(rows, range(n_b)))
            expected_a, expected_b = [r for r, _ in pairs], [c for _, c in pairs]
        assert result.n_pairs == min(n_a, n_b)
        assert float(result.decoder_cosine.double().sum()) == pytest.approx(best, abs=1e-5)
        assert result.index_a.tolist() == expected_a and result.index_b.tolist() == expected_b
        assert int((result.partner_of_b() == -1).sum()) == max(n_b - n_a, 0)
        assert int((result.partner_of_a() == -1).sum()) == max(n_a - n_b, 0)


def test_greedy_is_not_optimal_here_but_the_assignment_is():
    similarity = torch.tensor([[0.9, 0.8], [0.85, 0.1]])  # greedy takes (0, 0) then (1, 1): 1.0 < 1.65
    rows, columns = optimal_assignment(similarity)
    assert rows.tolist() == [0, 1] and columns.tolist() == [1, 0]


def test_partial_matching_with_noise():
    d, n = 32, 24
    decoder = random_rows(n, d, seed=3)
    generator = torch.Generator().manual_seed(4)
    noised = decoder + 0.05 * torch.randn(n, d, generator=generator)
    replaced = torch.arange(16, 24)  # these features of b are new directions, unrelated to a
    noised[replaced] = random_rows(8, d, seed=5)
    order = torch.randperm(n, generator=generator)
    result = match_features(dictionary(decoder), dictionary(noised[order]))
    partner = result.partner_of_b()  # b's feature i holds a's feature order[i] (or a new direction)
    kept = order < 16
    assert torch.equal(partner[kept], order[kept])
    cosine = result.pair_values_of_b(result.decoder_cosine)
    direct = torch.nn.functional.cosine_similarity(decoder[order[kept]], noised[order][kept], dim=-1)
    torch.testing.assert_close(cosine[kept], direct)
    assert bool((cosine[kept] > 0.9).all())
    assert bool((cosine[~kept] < 0.7).all())  # a new direction matches only weakly


def test_correlation_equals_numpy_corrcoef_for_matched_pairs(monkeypatch):
    monkeypatch.setattr(matching_module, "TOKEN_CHUNK", 37)  # several chunks of tokens
    generator = torch.Generator().manual_seed(6)
    decoder = random_rows(6, 8, seed=7)
    order = torch.tensor([2, 0, 1, 5, 3, 4])
    acts_a = torch.relu(torch.randn(4, 50, 6, generator=generator))
    acts_a[..., 1] = 0.0  # dead in a
    acts_a[..., 4] = 2.5  # constant in a
    noise = 0.5 * torch.relu(torch.randn(4, 50, 6, generator=generator))
    acts_b = acts_a[..., order] + noise  # b's feature i fires with a's feature order[i]
    result = match_features(dictionary(decoder), dictionary(decoder[order]), activations_a=acts_a, activations_b=acts_b)
    assert torch.equal(result.partner_of_b(), order)
    flat_a, flat_b = acts_a.reshape(-1, 6).double().numpy(), acts_b.reshape(-1, 6).double().numpy()
    for i, (fa, fb) in enumerate(zip(result.index_a.tolist(), result.index_b.tolist())):
        if fa in (1, 4):
            assert not result.correlation_defined[i] and result.activation_correlation[i] == 0.0
        else:
            assert result.correlation_defined[i]
            expected = np.corrcoef(flat_a[:, fa], flat_b[:, fb])[0, 1]
            assert float(result.activation_correlation[i]) == pytest.approx(expected, abs=1e-6)
    assert not bool(result.activation_correlation.isnan().any())
    # the standalone function, columns paired in order, agrees
    values, defined = activation_correlation(acts_a[..., result.index_a], acts_b[..., result.index_b])
    torch.testing.assert_close(values, result.activation_correlation)
    assert torch.equal(defined, result.correlation_defined)


def test_bad_input_is_a_one_line_error():
    a = dictionary(random_rows(4, 8, seed=0))
    with pytest.raises(ConfigError, match="same site"):
        match_features(a, dictionary(random_rows(4, 6, seed=0)))
    with pytest.raises(ConfigError, match="both"):
        match_features(a, a, activations_a=torch.zeros(10, 4))
    with pytest.raises(DataError, match="has 3 features"):
        match_features(a, a, activations_a=torch.zeros(10, 3), activations_b=torch.zeros(10, 4))
    with pytest.raises(DataError, match="same tokens"):
        activation_correlation(torch.zeros(10, 4), torch.zeros(9, 4))
