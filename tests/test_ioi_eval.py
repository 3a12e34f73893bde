"""Choosing an IOI checkpoint on validation prompts: the selection rule and where the analyses load from."""

import json

import pytest

from interp.analysis.ioi_eval import EVAL_SEED, per_template_scores, score_prompts, select_checkpoint, worst_heldout_accuracy
from interp.analysis.ioi_task import TaskError, ioi_checkpoint
from interp.build import build_model
from interp.checkpoints import save_checkpoint
from interp.data.ioi import ioi_corpus

from conftest import tiny_config


@pytest.fixture(scope="module")
def tiny_ioi():
    corpus = ioi_corpus()
    return build_model(tiny_config(d_vocab=corpus.tokenizer.vocab_size, n_ctx=26)), corpus


def scores(names: float, templates: float, both: float) -> dict:
    def split(accuracy: float) -> dict:
        return {order: {"accuracy": accuracy, "logit_diff": 3.0} for order in ("all", "ABBA", "BABA")}

    return {"train": split(0.2), "names": split(names), "templates": split(templates), "both": split(both)}


def test_selection_maximises_the_worst_held_out_accuracy_and_prefers_later_steps():
    records = [
        {"step": 100, "validation": scores(0.99, 0.99, 0.80)},  # worst 0.80
        {"step": 200, "validation": scores(0.93, 0.95, 0.92)},  # worst 0.92: chosen
        {"step": 300, "validation": scores(0.97, 0.91, 0.99)},  # worst 0.91
        {"step": 400, "validation": scores(0.60, 0.99, 0.99)},
    ]
    assert worst_heldout_accuracy(records[0]["validation"]) == 0.80  # the train split does not count
    assert select_checkpoint(records)["step"] == 200
    records.append({"step": 500, "validation": scores(0.92, 0.92, 0.92)})  # ties with step 200: the later wins
    assert select_checkpoint(records)["step"] == 500
    with pytest.raises(ValueError):
        select_checkpoint([])


def test_ioi_checkpoint_loads_the_selected_step_else_the_last(tmp_path, tiny_model, tiny_cfg):
    for step in (0, 5, 10):
        save_checkpoint(tmp_path / "checkpoints" / f"step_{step:06d}", tiny_model, tiny_cfg, step=step, tokens_seen=step)
    assert ioi_checkpoint(tmp_path).step == 10  # no ioi_eval.json: the last
    (tmp_path / "ioi_eval.json").write_text(json.dumps({"selected_step": 5}))
    assert ioi_checkpoint(tmp_path).step == 5
    assert ioi_checkpoint(tmp_path, 0).step == 0  # an explicit step wins
    (tmp_path / "ioi_eval.json").write_text("{not json")
    with pytest.raises(TaskError, match="--rescore"):
        ioi_checkpoint(tmp_path)


def test_per_template_scores_cover_every_template_and_order_and_agree_with_the_split_score(tiny_ioi):
    model, corpus = tiny_ioi
    rows = per_template_scores(model, corpus, split="templates", n=8)
    assert {(r["template"], r["order"]) for r in rows} == {(t, o) for t in corpus.heldout_templates for o in ("ABBA", "BABA")}
    one = rows[0]
    prompts = corpus.prompts(8, split="templates", seed=EVAL_SEED, order=one["order"], templates=[one["template"]])
    assert one["logit_diff"] == pytest.approx(float(score_prompts(model, prompts).logit_diff.mean()))
