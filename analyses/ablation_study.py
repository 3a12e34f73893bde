# %% [markdown]
# # Which heads matter? An ablation study on a checkpoint
#
# Mean-ablates every head of a checkpoint of the demo run on the run's validation data, prints the table,
# ablates the most important pairs, and saves the heatmap. Run top to bottom:
#
#     python analyses/ablation_study.py [RUN_DIR_OR_CHECKPOINT] [STEP]     # default models/runs/demo, last step

# %%
import sys
from pathlib import Path

import torch

from interp.analysis.ablation.files import save_ablation
from interp.analysis.ablation.study import ablation_study
from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.core.interventions import MeanAblation, run_with
from interp.analysis.core.metrics import mean_loss
from interp.model.sites import Site
from interp.report.ablation_figures import ablation_heatmap
from interp.train.checkpoints import load_model, resolve_checkpoint

args = [a for a in sys.argv[1:] if not a.startswith("-")]
run = Path(args[0]) if args else Path("models/runs/demo")
ckpt = resolve_checkpoint(run, int(args[1]) if len(args) > 1 else None)
model = load_model(ckpt)
tokens, source = evaluation_tokens(ckpt, n_rows=64)
print(f"step {ckpt.step} of {run}: {tokens.shape[0]} rows x {tokens.shape[1]} tokens of {source}")

# %% Every single head, mean-ablated (its output replaced by its average over the data)
heads = ablation_study(model, tokens, method="mean", over="heads")
print(f"clean loss {heads.baseline:.4f}")
for row in heads.rows:
    print(f"{row['name']:6s} loss {row['value']:.4f}  effect {row['effect']:+.4f}")

# %% The same number for the top head, by hand with an intervention value
top = heads.top(1)[0]
with torch.no_grad():
    ablated = run_with(model, tokens, MeanAblation(Site.head_out(top["layer"], top["head"]), reference=tokens))
print(f"{top['name']} by hand: {float(mean_loss(ablated, tokens)):.4f} (study: {top['value']:.4f})")

# %% Pairs: does ablating two heads together cost more than the sum of each? (interaction > 0)
pairs = ablation_study(model, tokens, method="mean", over="pairs")
for row in pairs.top(5):
    print(f"{row['name']:12s} effect {row['effect']:+.4f}  interaction {row['interaction']:+.4f}")

# %% Save the table and the heatmap
out = (
    Path("reports/ablation")
    / f"{ckpt.path.parent.parent.name if ckpt.path.parent.name == 'checkpoints' else ckpt.path.name}-step{ckpt.step}"
)
paths = save_ablation(heads, out, extra={"checkpoint": str(ckpt.path), "tokens": source})
figure = ablation_heatmap(heads)
figure.write_html(out / "heatmap.html", include_plotlyjs=True)
print(f"wrote {paths['csv']}, {paths['json']} and {out / 'heatmap.html'}")
