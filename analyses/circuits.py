# %% [markdown]
# # QK/OV circuits and composition of one checkpoint
#
# Full OV and QK circuits per head, OV copying scores, and Q/K/V-composition between layers, with the
# random-matrix baseline. LayerNorm is folded approximately (see interp.analysis.circuits.qk_ov). Run:
#
#     python analyses/circuits.py [RUN_DIR] [STEP]      # default models/runs/demo, last checkpoint

# %%
import sys
from pathlib import Path

import torch

from interp.analysis.circuits import qk_ov as circuits
from interp.analysis.induction.series import evaluate_model, probe_for_run
from interp.report import circuits_figures
from interp.train.checkpoints import load_model, resolve_checkpoint

args = [a for a in sys.argv[1:] if not a.startswith("-")]
run_dir = Path(args[0]) if args else Path("models/runs/demo")
ckpt = resolve_checkpoint(run_dir, int(args[1]) if len(args) > 1 else None)
model = load_model(ckpt)
print(f"step {ckpt.step}: {ckpt.config.n_layers} layers x {ckpt.config.n_heads} heads")

# %% Head scores from the probe, to know which head is the induction head
probe = probe_for_run(ckpt, batch=32, cache_dir=Path("models/cache"))
heads = evaluate_model(model, probe).heads
torch.set_printoptions(precision=2, sci_mode=False)
print("induction\n", heads.induction, "\nprevious token\n", heads.previous_token)

# %% OV copying score: Re(sum of eigenvalues) / sum |eigenvalues| of W_E W_V W_O W_U (pool tokens only)
weights = circuits.circuit_weights(model)
ov = circuits.ov_copying_scores(weights, vocab=probe.vocab)
print("OV copying\n", ov)

# %% Composition scores, read against chance
baseline = circuits.random_composition_baseline(d_model=ckpt.config.d_model, d_head=ckpt.config.d_head)
composition = {kind: circuits.composition_scores(weights, kind) for kind in circuits.COMPOSITION_KINDS}
print(f"random baseline {baseline:.3f}")
if ckpt.config.n_layers > 1:
    for kind, scores in composition.items():
        print(f"{kind}-composition, layer-0 heads (rows) into layer-1 heads (columns):\n{scores[0, :, 1]}")

# %% The best layer-1 induction head and its strongest K-composition partner
if ckpt.config.n_layers > 1:
    best = int(heads.induction[1].argmax())
    partners = circuits.composition_partners(composition["K"], layer=1, head=best)
    source_layer, source_head, score = partners[0]
    print(f"L1H{best}: induction {heads.induction[1, best]:.2f}, OV copying {ov[1, best]:.2f}")
    print(
        f"strongest K partner L{source_layer}H{source_head} ({score:.3f}), previous-token score {heads.previous_token[source_layer, source_head]:.2f}"
    )
    path = circuits.k_composition_circuit(
        weights, layer=1, head=best, source_layer=source_layer, source_head=source_head, vocab=probe.vocab
    )
    diagonal_wins = float((path.AB.argmax(-1) == torch.arange(len(probe.vocab))).float().mean())
    print(f"K-composition path: the query's own token is the best key for {diagonal_wins:.0%} of tokens")

# %% Figures
figures = [circuits_figures.composition_heatmap(composition[k], k, baseline=baseline) for k in circuits.COMPOSITION_KINDS]
figures.append(circuits_figures.head_heatmap(ov, title="OV copying score"))
if "ipykernel" in sys.modules:
    for figure in figures:
        figure.show()
