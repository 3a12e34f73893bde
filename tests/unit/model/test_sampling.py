"""`sample` checks its input as `interp generate` does: token ids against the model, on the last n_ctx tokens
(the ones the model reads; a longer prompt is cropped, not refused), and its settings, each in one DataError."""

import pytest
import torch

from interp.core.errors import DataError
from interp.model.sampling import sample


def test_a_prompt_longer_than_n_ctx_is_cropped_not_refused(tiny_model):
    long = torch.randint(11, (1, 20), generator=torch.Generator().manual_seed(0))  # n_ctx is 16
    out = sample(tiny_model, long, max_new_tokens=3, temperature=0)
    assert out.shape == (1, 23) and torch.equal(out[:, :20], long)
    assert out[0, 20] == tiny_model(long[:, -16:])[0, -1].argmax()


def test_an_id_outside_the_vocabulary_in_the_read_window_is_one_line(tiny_model):
    with pytest.raises(DataError, match=r"token ids must be in \[0, 11\), got ids from 0 to 11"):
        sample(tiny_model, torch.tensor([[0, 11]]), max_new_tokens=1)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"temperature": float("nan")}, "temperature must be >= 0"),
        ({"top_k": 0}, "top_k must be an integer >= 1"),
        ({"max_new_tokens": -1}, "max_new_tokens must be an integer >= 0"),
    ],
)
def test_bad_settings_are_data_errors(tiny_model, settings, message):
    with pytest.raises(DataError, match=message):
        sample(tiny_model, torch.tensor([[1, 2]]), **{"max_new_tokens": 2, **settings})
