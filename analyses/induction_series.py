# %% [markdown]
# # Induction heads across checkpoints
#
# Scores every checkpoint of a run on a fixed probe (repeated random tokens r+r, and rows with a repeated
# span at a random offset for prefix matching), finds the phase change and labels the heads. Run top to bottom:
#
#     python analyses/induction_series.py [RUN_DIR]      # default models/runs/demo

# %%
import sys
from pathlib import Path

import torch

from interp.analysis.induction.head_classes import classify_heads
from interp.analysis.induction.series import evaluate_series, probe_for_run
from interp.report import induction_figures
from interp.train.checkpoints import list_checkpoints

run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else Path("models/runs/demo")
checkpoints = list_checkpoints(run_dir)
print(f"{len(checkpoints)} checkpoints, steps {checkpoints[0].step}..{checkpoints[-1].step}")

# %% The probe: tokens the model saw often, drawn without replacement; held-out text for the ICL score
probe = probe_for_run(checkpoints[-1], batch=32, cache_dir=Path("models/cache"))
print(f"pool {len(probe.vocab)} tokens, half {probe.half}, text rows {0 if probe.text is None else len(probe.text)}")

# %% One model, one hooked forward per checkpoint
series = evaluate_series(checkpoints, probe)

# %% Per layer and head, never only a max (a layer-0 head can fake induction by position)
torch.set_printoptions(precision=2, sci_mode=False)
for name, scores in series.heads.as_dict().items():
    print(f"{name} at step {series.steps[-1]}:\n{scores[-1]}")

# %% Phase change: the largest rise of the best layer>=1 induction score
phase = series.phase_change()
print(phase.message)
print(
    f"repeated-half loss {phase.induction_loss_before:.3f} -> {phase.induction_loss_after:.3f}, ICL {phase.icl_before:.3f} -> {phase.icl_after:.3f}"
)

# %% Head labels at the last checkpoint
for row in classify_heads(series.heads, steps=series.steps, ov_copying=series.ov_copying):
    if row.step == series.steps[-1]:
        print(row.name, ", ".join(row.labels), {k: round(v, 2) for k, v in row.scores.items()})

# %% Figures (open in a notebook, or write them out)
figures = [
    induction_figures.head_score_curves(series, "induction", phase=phase),
    induction_figures.score_panels(series, phase=phase),
    induction_figures.loss_curves(series, phase=phase),
    induction_figures.head_score_heatmaps(series.heads.at(-1), title=f"head scores at step {series.steps[-1]}"),
]
if "ipykernel" in sys.modules:
    for figure in figures:
        figure.show()
