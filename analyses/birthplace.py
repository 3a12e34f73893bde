# %% [markdown]
# # Does pretraining teach facts that finetuning can extract? The birthplace experiment
#
# The minGPT / CS224N assignment, offline: a character-level model is pretrained with span corruption on
# synthetic Wikipedia-like biographies, then finetuned to answer "Where was X born?" for the train people,
# and scored by exact match on held-out (dev) people, who appear only in the pretraining corpus.
# Three settings per architecture: always "London", finetuning only, pretraining + finetuning; then the same
# for the PerceiverAR-style variant. About 10 minutes per trained setting on one CPU thread.
#
#     python analyses/birthplace.py [OUT_DIR] [--quick] [--standard-only]    # default models/runs/birthplace

# %%
import json
import sys
import time
from pathlib import Path

from interp.train.birthplace import BirthplaceData, format_table, run_setting, write_results
from interp.train.birthplace_config import BirthplaceConfig

args = [a for a in sys.argv[1:] if not a.startswith("-")]
out = Path(args[0]) if args else Path("models/runs/birthplace")
quick = "--quick" in sys.argv  # a two-minute smoke run: tiny corpus and few steps (numbers mean nothing)
cfg = BirthplaceConfig()
if quick:
    cfg = cfg.with_overrides({"corpus.n_people": 200, "pretrain.steps": 60, "finetune.steps": 30, "pretrain.eval_every": 20})
architectures = ("standard",) if "--standard-only" in sys.argv else ("standard", "perceiver_ar")
data = BirthplaceData.prepare(cfg.corpus)
corpus = data.corpus
print(f"{len(corpus.people)} people, {len(corpus.documents)} documents, {len(corpus.train_people)} train / "
      f"{len(corpus.dev_people)} dev; vocabulary {data.tokenizer.vocab_size} characters")
print("example document:", corpus.documents[0])
print("example question:", corpus.qa_pairs("dev")[0])


# %% Run every setting (checkpoints and results.json under OUT_DIR/<architecture>/)
def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


results = []
for architecture in architectures:
    arch_cfg = cfg.with_overrides({"architecture": architecture})
    folder = out / architecture
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "birthplace.json").write_text(json.dumps(arch_cfg.to_dict(), indent=2) + "\n")
    settings = ("london", "finetune_only", "pretrain_finetune") if architecture == "standard" else ("finetune_only", "pretrain_finetune")
    arch_results = []
    for setting in settings:
        arch_results.append(run_setting(setting, arch_cfg, folder, data=data, log=log))
        write_results(folder, arch_results)
        print(format_table(arch_results[-1:]), flush=True)
    results += arch_results

# %% The table
print(format_table(results))
for r in results:
    if r.examples:
        print(f"\n{r.setting} / {r.architecture}: first dev predictions")
        for question, answer, predicted in r.examples[:5]:
            print(f"  {question:45s} {answer:12s} -> {predicted!r}")
