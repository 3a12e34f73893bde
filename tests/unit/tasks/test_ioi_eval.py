"""IOI scoring: choosing a run on validation prompts, per-template scores."""

import pytest
from helpers.factories import tiny_config

from interp.model.build import build_model
from interp.tasks.ioi.evaluation import (
    EVAL_SEED,
    choose_run,
    per_name_scores,
    per_template_scores,
    score_prompts,
    worst_heldout_accuracy,
)
from interp.tasks.ioi.prompts import ioi_corpus


@pytest.fixture(scope="module")
def tiny_ioi():
    corpus = ioi_corpus()
    return build_model(tiny_config(d_vocab=corpus.tokenizer.vocab_size, n_ctx=26)), corpus


def scores(names: float, templates: float, both: float) -> dict:
    def split(accuracy: float) -> dict:
        return {order: {"accuracy": accuracy, "logit_diff": 3.0} for order in ("all", "ABBA", "BABA")}

    return {"train": split(0.2), "names": split(names), "templates": split(templates), "both": split(both)}


def test_run_choice_maximises_the_worst_held_out_validation_accuracy():
    runs = [
        {"run": "a", "validation": scores(0.99, 0.99, 0.80), "test": scores(1.0, 1.0, 1.0)},  # worst 0.80
        {"run": "b", "validation": scores(0.93, 0.95, 0.92), "test": scores(0.5, 0.5, 0.5)},  # worst 0.92: chosen
        {"run": "c", "validation": scores(0.97, 0.91, 0.99), "test": scores(1.0, 1.0, 1.0)},  # worst 0.91
    ]
    assert worst_heldout_accuracy(runs[0]["validation"]) == 0.80  # the train split does not count
    assert choose_run(runs)["run"] == "b"  # test scores play no part
    runs.append({"run": "d", "validation": scores(0.92, 0.92, 0.92)})  # ties with b: the first wins
    assert choose_run(runs)["run"] == "b"
    with pytest.raises(ValueError):
        choose_run([])


def test_per_template_scores_cover_every_template_and_order_and_agree_with_the_split_score(tiny_ioi):
    model, corpus = tiny_ioi
    rows = per_template_scores(model, corpus, split="templates", n=8)
    assert {(r["template"], r["order"]) for r in rows} == {(t, o) for t in corpus.heldout_templates for o in ("ABBA", "BABA")}
    one = rows[0]
    prompts = corpus.prompts(8, split="templates", seed=EVAL_SEED, order=one["order"], templates=[one["template"]])
    assert one["logit_diff"] == pytest.approx(float(score_prompts(model, prompts).logit_diff.mean()))


def test_per_name_scores_cover_the_split_names_and_average_to_the_split_score(tiny_ioi):
    model, corpus = tiny_ioi
    rows = per_name_scores(model, corpus, split="names", n=512, order="BABA")
    names = set(corpus.name_strings(heldout=True))
    assert {r["name"] for r in rows} <= names and len(rows) > len(names) // 2
    assert [r["accuracy"] for r in rows] == sorted(r["accuracy"] for r in rows) and sum(r["n"] for r in rows) == 512
    split = score_prompts(model, corpus.prompts(512, split="names", seed=EVAL_SEED, order="BABA")).summary()
    assert sum(r["accuracy"] * r["n"] for r in rows) / 512 == pytest.approx(split["accuracy"])
