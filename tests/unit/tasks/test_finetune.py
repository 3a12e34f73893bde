import torch
import torch.nn.functional as F
from torch import nn

from interp.tasks.birthplace.config import BirthplaceConfig
from interp.tasks.birthplace.finetune import masked_loss, train_on_rows
from interp.tasks.birthplace.qa_eval import constant_answer_accuracy, exact_match
from interp.tasks.birthplace.span_corruption import IGNORE, MASK_CHAR
from interp.tasks.birthplace.training import (
    BirthplaceData,
    build_birthplace_model,
    finetuning_batches,
    load_stage,
    pretraining_batches,
    run_setting,
)

TINY = {
    "corpus": {"n_people": 40, "dev_fraction": 0.2, "docs_per_person": 2, "block_size": 64},
    "model": {"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64},
    "pretrain": {"steps": 20, "batch_size": 16, "lr": 3e-3, "threads": 0},
    "finetune": {"steps": 20, "batch_size": 16, "lr": 3e-3, "threads": 0},
    "scratch_finetune": {"steps": 3, "batch_size": 16, "threads": 0},
}


def tiny_config(**changes) -> BirthplaceConfig:
    return BirthplaceConfig.from_dict(TINY).with_overrides(changes)


def test_masked_loss_scores_only_kept_targets_and_aligns_last_positions():
    logits = torch.randn(2, 5, 7)
    targets = torch.tensor([[1, IGNORE, 2, 3, IGNORE], [IGNORE, IGNORE, 4, 5, 6]])
    loss, count = masked_loss(logits, targets)
    keep = targets != IGNORE
    assert count == 6
    torch.testing.assert_close(loss, F.cross_entropy(logits[keep], targets[keep]))
    last, count = masked_loss(logits[:, -2:], targets)  # a model predicting the last two positions only
    torch.testing.assert_close(last, F.cross_entropy(logits[:, -2:][keep[:, -2:]], targets[:, -2:][keep[:, -2:]]))
    empty, count = masked_loss(logits, torch.full_like(targets, IGNORE))
    assert count == 0 and empty.item() == 0.0


def test_batches_are_a_function_of_the_step():
    cfg = tiny_config()
    data = BirthplaceData.prepare(cfg.corpus)
    for make in (pretraining_batches, finetuning_batches):
        a, b = make(data, cfg), make(data, cfg)
        assert torch.equal(a(3).inputs, b(3).inputs) and torch.equal(a(3).targets, b(3).targets)
        assert not torch.equal(a(3).inputs, a(4).inputs)
        assert a(0).inputs.shape == (16, 64)


def test_twenty_step_finetune_loss_falls():
    for architecture in ("standard", "perceiver_ar"):
        cfg = tiny_config(architecture=architecture, n_latents=24)
        data = BirthplaceData.prepare(cfg.corpus)
        model = build_birthplace_model(cfg, data.tokenizer.vocab_size)
        result = train_on_rows(model, finetuning_batches(data, cfg), cfg.finetune, log_every=5)
        assert len(result.losses) == 4 and result.log_steps[-1] == 20
        assert result.losses[-1] < 0.8 * result.losses[0], (architecture, result.losses)
        assert not model.training


class Answers(nn.Module):
    """A fake model that always answers `answer` (then a mask), whatever the question: at every position it
    predicts the next character of the answer, counting from the last mask at or before that position."""

    def __init__(self, tokenizer, answer: str):
        super().__init__()
        self.tokenizer, self.script = tokenizer, tokenizer.encode(answer + MASK_CHAR)
        self.mask = tokenizer.encode(MASK_CHAR)[0]

    def forward(self, tokens):
        logits = torch.zeros(*tokens.shape, self.tokenizer.vocab_size)
        for row, ids in enumerate(tokens.tolist()):
            last_mask = None
            for i, token in enumerate(ids):
                last_mask = i if token == self.mask else last_mask
                if last_mask is not None:
                    logits[row, i, self.script[min(i - last_mask, len(self.script) - 1)]] = 1.0
        return logits


def test_exact_match_decodes_greedily_on_both_pad_sides():
    cfg = tiny_config()
    data = BirthplaceData.prepare(cfg.corpus)
    pairs = data.corpus.qa_pairs("dev") + data.corpus.qa_pairs("train")
    fake = Answers(data.tokenizer, "Paris")
    expected = constant_answer_accuracy(pairs, "Paris")
    for side in ("left", "right"):
        result = exact_match(fake, data.tokenizer, pairs, block_size=64, side=side)
        assert set(result.predictions) == {"Paris"}
        assert result.correct == expected.correct and result.accuracy == expected.accuracy


def test_run_setting_saves_checkpoints_that_load_with_identical_logits(tmp_path):
    cfg = tiny_config(**{"pretrain.steps": 3, "finetune.steps": 3})
    result = run_setting("pretrain_finetune", cfg, tmp_path)
    assert 0.0 <= result.dev_accuracy <= 1.0 and result.dev_total == 8
    model, tokenizer, saved = load_stage(tmp_path / "pretrain_finetune" / "finetune")
    assert saved == cfg
    data = BirthplaceData.prepare(cfg.corpus)
    assert tokenizer == data.tokenizer
    again = exact_match(model, tokenizer, data.corpus.qa_pairs("dev"), block_size=64, side=cfg.corpus.pad_side)
    assert again.accuracy == result.dev_accuracy
    london = run_setting("london", cfg, tmp_path)
    assert london.dev_total == 8 and london.n_params == 0
