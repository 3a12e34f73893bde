# %% [markdown]
# # The IOI circuit of a from-scratch model
#
# Walks through the indirect-object-identification study of Wang et al. (2022) on a model trained by
# analyses/ioi_train.py: how well it does the task, which residual-stream positions and heads carry the answer
# (activation patching, clean -> corrupted with the ABC corruption), which heads write the answer to the logits
# (path patching to the logits: name-mover-like heads) and which heads tell those where to look (path patching
# to the name movers' queries: S-inhibition-like heads), with their attention as a check. Run top to bottom:
#
#     python analyses/ioi_study.py [RUN_DIR_OR_CHECKPOINT]     # default: the preset seed's run
#
# Writes reports/patching/ioi-study.html for the default run, ioi-study-<run>.html for another (self-contained).

# %%
import sys
from pathlib import Path

import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.patching.activation import activation_patching
from interp.analysis.patching.attribution import attribution_patching, spearman
from interp.analysis.patching.partial_forward import capture_run
from interp.analysis.patching.path import path_patching
from interp.cli.common import run_label
from interp.model.engine.weights import Weights
from interp.report.html import Page
from interp.report.patching_figures import attribution_scatter, patching_heatmap
from interp.tasks.ioi.evaluation import evaluate_ioi, format_scores, per_name_scores, per_template_scores
from interp.tasks.ioi.patching import ioi_model, patching_prompts, top_cells
from interp.tasks.ioi.templates import IOI_TEMPLATES
from interp.train.checkpoints import resolve_checkpoint
from interp.train.presets import run_config

PRESET = "ioi-attn-only-4l"
args = [a for a in sys.argv[1:] if not a.startswith("-")]
run = Path(args[0]) if args else Path("models/runs") / f"{PRESET}-seed{run_config(PRESET).train.seed}"
ckpt = resolve_checkpoint(run)  # the last checkpoint: IOI runs are judged at the end of a fixed budget
model, corpus = ioi_model(ckpt)
page = Page("The IOI circuit of a from-scratch model", subtitle=f"{ckpt.path} (step {ckpt.step})")
torch.set_grad_enabled(False)
torch.set_num_threads(1)  # partial forwards are many small operations: one thread is fastest on a shared CPU

# %% How well does it do IOI? Logit difference IO - S and accuracy (IO beats S) per split and name order
scores = evaluate_ioi(model, corpus, n=512)
for line in format_scores(scores):
    print(line)
page.heading("Task performance")
page.table(
    [{"split": split, "order": order, **values} for split, by_order in scores.items() for order, values in by_order.items()]
)

# %% Per held-out template: an average over templates can hide one that fails in one name order
by_template = per_template_scores(model, corpus, split="templates")
for row in by_template:
    print(
        f"template {row['template']:2d} {row['order']}: {row['logit_diff']:+6.2f} / {row['accuracy']:.0%}  {IOI_TEMPLATES[row['template']]}"
    )
page.table([{**row, "text": IOI_TEMPLATES[row["template"]]} for row in by_template])

# %% Per held-out name (IO), in the harder BABA order: the worst names, and how often they lose as the S
by_name = per_name_scores(model, corpus, split="names", order="BABA")
print("worst held-out names (BABA):", ", ".join(f"{r['name']} {r['accuracy']:.0%}" for r in by_name[:8]))
page.table(by_name[:10])

# %% Prompts for patching: one template layout (same positions in every row), ABBA and BABA, ABC corruption
prompts = patching_prompts(corpus, n=64, split="train", corruption="abc", seed=0)
metric = LogitDiff.ioi(prompts)
labels = prompts.position_labels(corpus.tokenizer)
clean, corrupted = prompts.clean, prompts.corrupted
print(
    "example:",
    corpus.tokenizer.decode(clean[0, 1 : int(prompts.end_pos[0]) + 1].tolist()),
    "->",
    corpus.tokenizer.decode([int(prompts.io[0])]),
)
print("positions:", labels)

# %% Residual stream: which positions carry what the answer needs, layer by layer
resid = activation_patching(model, clean, corrupted, metric, "resid_pre")
print(f"logit diff clean {resid.clean:.2f}, corrupted (ABC) {resid.corrupted:.2f}")
for layer, row in enumerate(resid.normalised):
    print(f"resid_pre L{layer}: " + "  ".join(f"{labels[p]}={v:+.2f}" for p, v in enumerate(row.tolist()) if abs(v) > 0.05))
page.heading("Activation patching")
page.text(
    f"Clean logit difference {resid.clean:.2f}, corrupted {resid.corrupted:.2f}; each cell patched from clean into corrupted, normalised (1 = clean restored)."
)
page.figure(patching_heatmap(resid, title="residual stream (resid_pre) by layer and position", position_labels=labels))

# %% Heads: every head's output patched at all positions, then position by position
heads = activation_patching(model, clean, corrupted, metric, "z")
heads_by_pos = activation_patching(model, clean, corrupted, metric, "z_by_pos")
print("heads (all positions):", ", ".join(f"{c} {v:+.2f}" for c, v in top_cells(heads, 6)))
print(
    "heads by position:",
    ", ".join(f"{c} ({labels[int(c.split('pos')[1].split()[0])]}) {v:+.2f}" for c, v in top_cells(heads_by_pos, 6)),
)
page.figure(patching_heatmap(heads, title="head outputs, all positions"))
page.figure(patching_heatmap(heads_by_pos, title="head outputs by position", position_labels=labels))

# %% The converse (noising): corrupt one head in the clean run. Denoising finds heads that suffice to restore
# the answer, noising heads it cannot do without; a head that matters only for one of them is part of a redundant
# group or of a chain other heads complete.
heads_noising = activation_patching(model, clean, corrupted, metric, "z", direction="noising")
print("heads, noising (0 = the clean answer needs it):", ", ".join(f"{c} {v:+.2f}" for c, v in top_cells(heads_noising, 6)))
page.figure(patching_heatmap(heads_noising, title="head outputs, noising: corrupted head in the clean run (1 = not needed)"))

# %% Name-mover-like heads: the direct path from each head to the logits
direct = path_patching(model, clean, corrupted, metric, receivers="logits")
effect = 1 - direct.normalised  # share of the clean/corrupted difference this path carries
order = effect.flatten().argsort(descending=True)
n_heads = model.cfg.n_heads
name_movers = [(int(i) // n_heads, int(i) % n_heads) for i in order[:3] if effect.flatten()[i] > 0.1]
print(
    "path to logits (1 - normalised):",
    ", ".join(f"L{i // n_heads}H{i % n_heads} {effect.flatten()[i]:.2f}" for i in order[:6].tolist()),
)
page.heading("Path patching")
page.figure(patching_heatmap(direct, title="path sender -> logits (1 = path unimportant)"))

# %% Do they attend from the end to the IO rather than S1?  (clean prompts)
run_cache = capture_run(model, clean)
rows, end = torch.arange(len(prompts)), prompts.end_pos


def attention(layer: int, head: int, to: torch.Tensor) -> float:
    return float(run_cache.pattern[layer][rows, head, end, to].mean())


# Direct logit attribution at the end position: does the head raise the IO's logit (copy) or lower the S's
# (suppress)? Its output through the final LayerNorm (scale taken from the clean run) and the unembedding.
weights = Weights.of(model)
final = run_cache.resid_post[-1][rows, end]  # batch d_model
ln_scale = (final - final.mean(-1, keepdim=True)).pow(2).mean(-1, keepdim=True).add(weights.eps).sqrt()
unembed = weights.params["unembed.W_U"]
ln_w = weights.params.get("ln_final.w", torch.ones(final.shape[-1]))


def direct_logits(layer: int, head: int) -> tuple[float, float]:
    out = weights.head_outputs(layer, run_cache.z[layer][rows, end].unsqueeze(1))[:, 0, head]  # batch d_model
    out = (out - out.mean(-1, keepdim=True)) / ln_scale * ln_w
    return float((out * unembed[:, prompts.io].T).sum(-1).mean()), float((out * unembed[:, prompts.s].T).sum(-1).mean())


table = []
for layer, head in name_movers:
    to_io, to_s = direct_logits(layer, head)
    table.append(
        {
            "head": f"L{layer}H{head}",
            "role": "name mover?" if to_io > -to_s else "suppresses S?",
            "path effect": float(effect[layer, head]),
            "direct logit IO": to_io,
            "direct logit S": to_s,
            "attn end->IO": attention(layer, head, prompts.io_pos),
            "attn end->S1": attention(layer, head, prompts.s1_pos),
            "attn end->S2": attention(layer, head, prompts.s2_pos),
        }
    )
    print(table[-1])

# %% What feeds the name movers? Path patching into their queries (S-inhibition in the paper), keys and values
# A head whose path into the name movers' queries matters and that attends to S2 is S-inhibition-like; in a
# small model the IO's identity may instead reach the name movers through their values (a head that copies the
# other name to S2's position, read there by the name mover).
feeders = []
if name_movers:
    for component in ("q", "k", "v"):
        into = path_patching(model, clean, corrupted, metric, receivers=name_movers, component=component)
        into_effect = 1 - into.normalised
        ranked = into_effect.flatten().argsort(descending=True)
        print(
            f"path to name movers' {component}:",
            ", ".join(f"L{i // n_heads}H{i % n_heads} {into_effect.flatten()[i]:.2f}" for i in ranked[:4].tolist()),
        )
        page.figure(
            patching_heatmap(
                into, title=f"path sender -> {component} of {', '.join(f'L{layer}H{head}' for layer, head in name_movers)}"
            )
        )
        for i in ranked[:2].tolist():
            head = (i // n_heads, i % n_heads)
            if into_effect.flatten()[i] > 0.05 and head not in name_movers:
                feeders.append((head, component, float(into_effect.flatten()[i])))
for (layer, head), component, value in feeders:
    role = "S-inhibition?" if component == "q" else f"feeds the name movers' {component}"
    row = {
        "head": f"L{layer}H{head}",
        "role": role,
        "path effect": value,
        "attn end->IO": attention(layer, head, prompts.io_pos),
        "attn end->S1": attention(layer, head, prompts.s1_pos),
        "attn end->S2": attention(layer, head, prompts.s2_pos),
        "attn S2->IO": float(run_cache.pattern[layer][rows, head, prompts.s2_pos, prompts.io_pos].mean()),
        "attn S2->S1": float(run_cache.pattern[layer][rows, head, prompts.s2_pos, prompts.s1_pos].mean()),
        "S2 attends most to": labels[int(run_cache.pattern[layer][rows, head, prompts.s2_pos].mean(0).argmax())],
    }
    table.append(row)
    print(row)
page.table(table)
page.text(
    "A name mover attends from the end to the IO and copies it (raises the IO's logit); an S-inhibition head attends to "
    "S2 and, through the name movers' queries, moves their attention away from S. A head that attends to S2 and lowers "
    "the S logit is a suppression head (like the paper's negative name movers). In this small model the roles may be "
    "compressed (DESIGN.md): read the attention and direct-logit columns before naming a head."
)

# %% How good is attribution patching here?
estimates = attribution_patching(model, clean, corrupted, metric, kinds=["z", "z_by_pos"])
rho = spearman(heads.values, estimates["z"].values)
rho_pos = spearman(heads_by_pos.values, estimates["z_by_pos"].values)
print(f"attribution vs exact: Spearman {rho:.3f} per head, {rho_pos:.3f} per head and position")
page.heading("Attribution patching")
page.figure(
    attribution_scatter(
        heads.normalised,
        estimates["z"].normalised,
        title=f"per head: Spearman {rho:.3f}",
        labels=[f"L{layer}H{head}" for layer in range(model.cfg.n_layers) for head in range(n_heads)],
    )
)

# %%
out = page.write(Path("reports/patching") / ("ioi-study.html" if not args else f"ioi-study-{run_label(run)}.html"))
print(f"wrote {out}")
