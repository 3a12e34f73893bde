"""IOI generator invariants: single-token names, aligned positions, disjoint held-out sets, determinism."""

import random

import pytest
import torch

from interp.core.errors import DataError
from interp.tasks.ioi.prompts import CORRUPTIONS, SPLITS, IOISetup, ioi_corpus
from interp.tasks.ioi.templates import IOI_TEMPLATES, compile_ioi_template
from interp.tasks.ioi.vocab import NOT_NAMES, CompactTokenizer, census_names, ioi_tokenizer_from_dict
from interp.text.tokenizers import GPT2Tokenizer


@pytest.fixture(scope="module")
def corpus():
    return ioi_corpus(IOISetup(seed=0))


def test_names_are_single_gpt2_tokens_and_not_words():
    names = census_names(240)
    gpt2 = GPT2Tokenizer()
    assert len(set(names)) == 240 and names[:2] == ["James", "John"]
    assert all(len(gpt2.encode(" " + n)) == 1 for n in names)
    assert not set(names) & NOT_NAMES


def test_held_out_sets_are_disjoint_and_seeded(corpus):
    assert not set(corpus.train_names) & set(corpus.heldout_names)
    assert len(corpus.heldout_names) == 60 and len(corpus.train_names) == 180
    assert not set(corpus.train_templates) & set(corpus.heldout_templates)
    assert sorted(corpus.train_templates + corpus.heldout_templates) == list(range(len(IOI_TEMPLATES)))
    other = ioi_corpus(IOISetup(seed=1))
    assert other.heldout_names != corpus.heldout_names
    assert ioi_corpus(IOISetup(seed=0)).heldout_names == corpus.heldout_names


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_prompt_positions_and_corruptions(corpus, split, corruption):
    p = corpus.prompts(16, split=split, seed=3, corruption=corruption)
    rows = torch.arange(len(p))
    names = torch.tensor(corpus.tokenizer.to_compact(corpus.heldout_names if split in ("names", "both") else corpus.train_names))
    templates = corpus.heldout_templates if split in ("templates", "both") else corpus.train_templates
    assert set(p.template.tolist()) <= set(templates)
    assert torch.equal(p.clean[rows, p.io_pos], p.io) and torch.equal(p.clean[rows, p.s1_pos], p.s)
    assert torch.equal(p.clean[rows, p.s2_pos], p.s) and bool((p.io != p.s).all())
    assert bool(torch.isin(p.io, names).all()) and bool(torch.isin(p.s, names).all())
    assert bool((p.clean[:, 0] == corpus.bos).all()), "every row starts with BOS"
    assert corpus.tokenizer.token_strings(p.clean[rows, p.end_pos].tolist())[0].strip() == "to"
    after = torch.arange(p.clean.shape[1])[None, :] > p.end_pos[:, None]
    assert bool((p.clean[after] == corpus.bos).all()), "right padding after the end position"
    assert p.abba.tolist() == [i % 2 == 0 for i in range(16)]
    assert bool((torch.minimum(p.io_pos, p.s1_pos) < p.s2_pos).all()) and bool((p.s2_pos < p.end_pos).all())
    differ = p.clean != p.corrupted
    slots = torch.zeros_like(differ)
    for pos in (p.io_pos, p.s1_pos, p.s2_pos):
        slots[rows, pos] = True
    assert not bool((differ & ~slots).any()), "corruptions change names only"
    if corruption == "abc":
        for pos in (p.io_pos, p.s1_pos, p.s2_pos):
            new = p.corrupted[rows, pos]
            assert bool((new != p.io).all()) and bool((new != p.s).all())
        assert bool((p.corrupted[rows, p.io_pos] != p.corrupted[rows, p.s2_pos]).all())
    elif corruption == "swap":
        assert torch.equal(p.corrupted[rows, p.io_pos], p.s) and torch.equal(p.corrupted[rows, p.s1_pos], p.io)
    else:
        assert torch.equal(p.corrupted[rows, p.s2_pos], p.io)


def test_prompts_are_deterministic_and_alignable(corpus):
    a = corpus.prompts(8, split="names", seed=5)
    b = corpus.prompts(8, split="names", seed=5)
    assert torch.equal(a.clean, b.clean) and torch.equal(a.corrupted, b.corrupted)
    assert not torch.equal(a.clean, corpus.prompts(8, split="names", seed=6).clean)
    group = corpus.layouts("train")[0]
    aligned = corpus.prompts(8, split="train", templates=group, order="BABA")
    assert aligned.aligned and len(set(aligned.end_pos.tolist())) == 1
    labels = aligned.position_labels(corpus.tokenizer)
    assert labels[int(aligned.s2_pos[0])] == "S2" and labels[int(aligned.io_pos[0])] == "IO"
    with pytest.raises(DataError):
        corpus.prompts(4, split="train", templates=list(corpus.heldout_templates))
    with pytest.raises(DataError):
        corpus.prompts(4, split="nope")


def test_training_text_keeps_heldout_names_out_of_ioi_sentences(corpus):
    heldout = set(corpus.heldout_names)
    rng = random.Random(0)
    for _ in range(300):
        assert not heldout & set(corpus._ioi_sentence(rng)), "a held-out name appeared in an IOI training sentence"
    filler_names = [t for _ in range(300) for t in corpus._filler(rng) if t in heldout]
    assert len(set(filler_names)) > 30, "held-out names must appear in filler sentences"
    rows = corpus.training_rows(16, 24, seed=7)
    assert torch.equal(rows, corpus.training_rows(16, 24, seed=7)) and rows.shape == (16, 24)
    assert int(rows.max()) < corpus.tokenizer.vocab_size


def test_templates_compile_to_the_real_tokenization():
    gpt2 = GPT2Tokenizer()
    for text in IOI_TEMPLATES:
        template = compile_ioi_template(text)
        filled = text
        for slot, word in {"N1": "Mary", "N2": "John", "S": "John", "IO": "Mary", "PLACE": "store", "OBJECT": "ring"}.items():
            filled = filled.replace("{" + slot + "}", word)
        ids = {
            s: gpt2.encode(" " + w)[0]
            for s, w in {"N1": "Mary", "N2": "John", "S": "John", "IO": "Mary", "PLACE": "store", "OBJECT": "ring"}.items()
        }
        assert template.fill(ids) == gpt2.encode(filled), text


def test_compact_tokenizer_round_trips(corpus):
    tok = corpus.tokenizer
    text = "Then, Mary and John went to the store."
    assert tok.decode(tok.encode(text)) == text
    assert CompactTokenizer.from_dict(tok.to_dict()) == tok
    assert ioi_tokenizer_from_dict(tok.to_dict()).vocab_size == tok.vocab_size
    assert ioi_tokenizer_from_dict({"kind": "char", "alphabet": "ab"}).encode("ba") == [1, 0]
    assert tok.bos_token_id == tok.encode("<|endoftext|>")[0]
    with pytest.raises(DataError, match="not in this compact vocabulary"):
        tok.encode(" photosynthesis")


def test_training_data_for_the_preset_is_a_pure_function_of_step():
    from interp.train.data import TrainingData
    from interp.train.presets import run_config

    data = TrainingData.prepare(run_config("ioi-attn-only-3l", overrides={"train.batch_size": 8}))
    assert data.vocab_size == ioi_corpus().tokenizer.vocab_size and data.packed is None
    assert torch.equal(data.batch(3), data.batch(3)) and not torch.equal(data.batch(3), data.batch(4))
    assert set(data.val_batches()) == {"val"}


def test_validation_and_test_halves_split_the_held_out_sets(corpus):
    """Checkpoints are chosen on the validation half and reported on the test half: the two must never share a
    held-out name or template, and together they are the held-out sets."""

    def drawn(split: str, half: str) -> tuple[set[int], set[int]]:
        prompts = corpus.prompts(400, split=split, seed=3, half=half)
        names = set(corpus.tokenizer.to_gpt2(prompts.io.tolist())) | set(corpus.tokenizer.to_gpt2(prompts.s.tolist()))
        return names, set(prompts.template.tolist())

    val_names, val_templates = drawn("both", "validation")
    test_names, test_templates = drawn("both", "test")
    assert not val_names & test_names and not val_templates & test_templates
    assert val_names | test_names == set(corpus.heldout_names)
    assert val_templates | test_templates == set(corpus.heldout_templates)
    assert drawn("names", "test")[1] <= set(corpus.train_templates)  # only the held-out side is halved
    assert torch.equal(
        corpus.prompts(8, split="both", seed=3, half="test").clean, corpus.prompts(8, split="both", seed=3, half="test").clean
    )
    with pytest.raises(DataError, match="half must be one of validation, test"):
        corpus.prompts(4, split="both", half="dev")


def test_extra_training_names_leave_the_held_out_sets_alone(corpus, tmp_path):
    """data.ioi_extra_names adds census names to the training names only: held-out names, templates and both
    evaluation halves are those of the default setup, and analysis loads the corpus the run was trained on."""
    from interp.core.errors import ConfigError
    from interp.tasks.ioi.patching import ioi_model
    from interp.train.checkpoints import resolve_checkpoint
    from interp.train.data import TrainingData
    from interp.train.loop import train
    from interp.train.presets import run_config

    more = ioi_corpus(IOISetup(n_extra_train_names=100))
    assert more.heldout_names == corpus.heldout_names and more.heldout_templates == corpus.heldout_templates
    assert set(more.train_names) > set(corpus.train_names) and len(more.train_names) == len(corpus.train_names) + 100
    for split in ("names", "both"):
        for half in ("validation", "test"):
            a, b = (c.prompts(16, split=split, seed=2, half=half) for c in (corpus, more))
            assert corpus.tokenizer.decode(a.clean[0].tolist()) == more.tokenizer.decode(b.clean[0].tolist())
    assert more.tokenizer.vocab_size == corpus.tokenizer.vocab_size + 100
    run = run_config(
        "ioi-attn-only-3l",
        overrides={
            "data.ioi_extra_names": 100,
            "model.n_layers": 1,
            "model.d_model": 16,
            "model.d_head": 8,
            "model.n_heads": 2,
            "train.steps": 1,
            "train.warmup_steps": 0,
            "train.n_checkpoints": 2,
            "train.eval_batches": 1,
            "train.checkpoint_every": 0,
            "train.batch_size": 4,
        },
    )
    assert TrainingData.prepare(run).vocab_size == more.tokenizer.vocab_size
    train(run, tmp_path / "run", progress=False)
    model, loaded = ioi_model(resolve_checkpoint(tmp_path / "run"))
    assert loaded is more and model.cfg.d_vocab == more.tokenizer.vocab_size
    with pytest.raises(ConfigError, match="ioi_extra_names"):
        run_config("attn-only-1l", overrides={"data.ioi_extra_names": 5})
