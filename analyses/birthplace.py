# %% [markdown]
# # Does pretraining teach facts that finetuning can extract? The birthplace experiment
#
# The minGPT / CS224N assignment, offline: a character-level model is pretrained with span corruption on
# synthetic Wikipedia-like biographies, then finetuned to answer "Where was X born?" for the train people,
# and scored by exact match on held-out (dev) people, who appear only in the pretraining corpus.
# Three settings: always "London", finetuning only, pretraining + finetuning; then the PerceiverAR-style
# variant, with the same number of pretraining steps and with twice as many (about the same wall-clock time,
# since its steps are about twice as fast at n_ctx 64). Roughly 10 minutes per pretrained setting on one
# CPU thread, 35 minutes in all; every run is deterministic given the config.
#
#     python analyses/birthplace.py [OUT_DIR] [--quick] [--standard-only]    # default models/runs/birthplace

# %%
import json
import sys
import time
from pathlib import Path

from interp.tasks.birthplace.config import BirthplaceConfig
from interp.tasks.birthplace.training import BirthplaceData, format_table, run_setting, write_results

args = [a for a in sys.argv[1:] if not a.startswith("-")]
out = Path(args[0]) if args else Path("models/runs/birthplace")
quick = "--quick" in sys.argv  # a smoke run: tiny corpus and few steps (the numbers mean nothing)
cfg = BirthplaceConfig()
if quick:
    cfg = cfg.with_overrides(
        {"corpus.n_people": 100, "pretrain.steps": 40, "pretrain.eval_every": 20, "scratch_finetune.steps": 20}
    )
data = BirthplaceData.prepare(cfg.corpus)
corpus = data.corpus
print(
    f"{len(corpus.people)} people, {len(corpus.documents)} documents, {len(corpus.train_people)} train / "
    f"{len(corpus.dev_people)} dev; vocabulary {data.tokenizer.vocab_size} characters"
)
print("example document:", corpus.documents[0])
print("example question:", corpus.qa_pairs("dev")[0])

# %% The runs: (folder, settings, config); checkpoints and results.json under OUT_DIR/<folder>/
runs = [("standard", ("london", "finetune_only", "pretrain_finetune"), cfg)]
if "--standard-only" not in sys.argv:
    perceiver = cfg.with_overrides({"architecture": "perceiver_ar"})
    runs += [
        ("perceiver_ar", ("finetune_only", "pretrain_finetune"), perceiver),
        ("perceiver_ar_2x", ("pretrain_finetune",), perceiver.with_overrides({"pretrain.steps": 2 * cfg.pretrain.steps})),
    ]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


results = []
for folder_name, settings, run_cfg in runs:
    folder = out / folder_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "birthplace.json").write_text(json.dumps(run_cfg.to_dict(), indent=2) + "\n")
    done = []
    for setting in settings:
        done.append(run_setting(setting, run_cfg, folder, data=data, log=log))
        write_results(folder, done)
        print(format_table(done[-1:]), flush=True)
    results += done

# %% The table
print(format_table(results))
for r in results:
    if r.examples:
        print(f"\n{r.setting} / {r.architecture} ({r.pretrain_steps} pretraining steps): first dev predictions")
        for question, answer, predicted in r.examples[:5]:
            print(f"  {question:45s} {answer:12s} -> {predicted!r}")
