"""The HTML report of one run: rendering of a `RunAnalysis`, never computation.

>>> from interp.analysis.run_analysis import analyse_run
>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> page = render_run_report(analyse_run(run_dir, progress=False, log=lambda line: None))
>>> page.write(Path(tempfile.mkdtemp()) / "demo" / "report.html").name
'report.html'
"""

import math

from interp.analysis.run_analysis import RunAnalysis
from interp.report import circuits_figures as cf
from interp.report import induction_figures as inf
from interp.report.ablation_figures import ablation_heatmap
from interp.report.circuit_timeline_page import add_circuit_section
from interp.report.html import Page
from interp.report.logit_sections import add_logit_sections
from interp.report.sae_timeline_page import add_sae_section
from interp.report.training_figures import training_curves


def describe_data(analysis: RunAnalysis) -> str:
    run = analysis.run
    if run is None:
        return "The run config was not recorded, so the training data is unknown."
    d = run.data
    if d.corpus == "none":
        return f"Trained on synthetic sequences only: random {d.tokenizer} tokens with one span of length {d.span_min}-{d.span_max} repeated at a random offset."
    corpus = f"{d.corpus} ({d.tokenizer} tokens)"
    if d.repeated_fraction == 0:
        return f"Trained on {corpus}."
    return (
        f"Each training batch was {1 - d.repeated_fraction:.0%} {corpus} and {d.repeated_fraction:.0%} synthetic sequences: "
        f"random tokens with one span of length {d.span_min}-{d.span_max} repeated at a random offset "
        "(varying the span and offset keeps the model from learning a fixed positional shortcut instead of induction)."
    )


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def summary_rows(analysis: RunAnalysis) -> list[dict]:
    ckpt, cfg = analysis.checkpoint, analysis.checkpoint.config
    rows = [
        {
            "what": "model",
            "value": f"{cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads x {cfg.d_head}, n_ctx {cfg.n_ctx}, vocabulary {cfg.d_vocab}, "
            f"{'attention-only' if cfg.attn_only else f'MLP {cfg.d_mlp}'}, norm {cfg.normalization_type}",
        },
        {"what": "checkpoint", "value": f"step {ckpt.step}, {ckpt.tokens_seen:,} tokens seen"},
        {"what": "checkpoints analysed", "value": str(len(analysis.series.steps))},
    ]
    for key in ("val", "val_repeated", "train_loss"):
        if key in ckpt.metrics:
            rows.append({"what": f"{key} loss at this step", "value": _fmt(ckpt.metrics[key])})
    if analysis.bigram_val_loss is not None:
        rows.append({"what": "bigram baseline (corpus validation loss)", "value": _fmt(analysis.bigram_val_loss)})
    rows.append({"what": "phase change", "value": analysis.phase.message})
    c = analysis.circuits
    layer, head = c.selected
    s = c.selected_scores()
    rows.append(
        {
            "what": f"best induction head L{layer}H{head}",
            "value": f"induction {_fmt(s['induction'])}, prefix-matching {_fmt(s['prefix_matching'])}, OV copying {_fmt(s['ov_copying'])}",
        }
    )
    if c.k_partners:
        sl, sh, value = c.k_partners[0]
        partner = c.row(sl, sh)
        rows.append(
            {
                "what": "its strongest K-composition partner",
                "value": f"L{sl}H{sh}: K-composition {_fmt(value)} (random baseline {_fmt(c.random_baseline)}), previous-token score "
                f"{_fmt(partner.scores['previous_token'])} [{', '.join(partner.labels)}]",
            }
        )
    return rows


def render_run_report(analysis: RunAnalysis) -> Page:
    ckpt = analysis.checkpoint
    name = analysis.run_dir.name
    page = Page(f"interp report: {name}", subtitle=f"{analysis.run_dir} — step {ckpt.step}")
    page.text(describe_data(analysis))
    page.table(summary_rows(analysis), columns=["what", "value"])

    phase = analysis.phase
    page.heading("Training")
    shade = (phase.start_tokens, phase.end_tokens) if phase.detected else None
    page.figure(
        training_curves(analysis.metrics, bigram_val_loss=analysis.bigram_val_loss, phase_tokens=shade),
        caption="Losses against tokens seen. The corpus loss should fall below the bigram baseline; the loss on repeated-span "
        "sequences drops when induction heads form.",
    )

    series = analysis.series
    page.heading("Induction heads forming")
    page.text(phase.message)
    page.figure(
        inf.head_score_curves(series, "induction", phase=phase),
        caption="Induction score of every head at every checkpoint: attention from a token in the second copy of a repeated "
        "random sequence to the token after its first occurrence.",
    )
    page.figure(
        inf.loss_curves(series, phase=phase),
        caption="Loss on the first and the repeated half of repeated random sequences, and the in-context-learning score "
        "(late-token minus early-token loss on held-out text; more negative is more in-context learning).",
    )
    page.figure(inf.score_panels(series, phase=phase), caption="All head scores across training.")

    page.heading(f"Heads at step {ckpt.step}")
    page.figure(inf.head_score_heatmaps(analysis.evaluation.heads, title=f"head scores at step {ckpt.step}"))
    page.table(
        [{"head": r.name, **{k: v for k, v in r.scores.items()}, "labels": ", ".join(r.labels)} for r in analysis.circuits.rows],
    )

    page.heading("Attention patterns")
    for example in analysis.attention:
        for layer, patterns in enumerate(example.patterns):
            page.attention(
                example.tokens,
                patterns,
                head_names=[f"L{layer}H{h}" for h in range(patterns.shape[0])],
                caption=f"Layer {layer} on {example.title}. Click a head to enlarge; hover a token to see where it attends.",
            )

    c = analysis.circuits
    page.heading("Circuits")
    fold = "LayerNorm folded approximately into the weights" if c.fold_layernorm else "raw weight products"
    page.text(
        f"Weight-based scores ({fold}). OV copying score: sum of the eigenvalues of W_E W_V W_O W_U over the sum of their "
        "absolute values (1 = the head copies the token it attends to). Composition scores: ||W_A W_B||_F / (||W_A||_F ||W_B||_F) "
        f"between a layer-0 head's OV and a later head's Q, K or V side; random matrices of the same shapes give {c.random_baseline:.3f}."
    )
    page.figure(cf.head_heatmap(c.ov_copying, title="OV copying score"))
    for kind in ("K", "Q", "V"):
        page.figure(cf.composition_heatmap(c.composition[kind], kind, baseline=c.random_baseline))

    a = analysis.ablation
    page.heading("Ablation")
    page.text(
        f"{a.method.capitalize()}-ablation of each head in turn on {a.n_rows} rows of {analysis.ablation_source}; "
        f"clean {a.metric} {a.baseline:.4f}. The heatmap shows the change in {a.metric} (positive: the head helps)."
    )
    page.figure(ablation_heatmap(a, title=f"{a.method}-ablation: change in {a.metric}"))
    page.table(a.top(8), columns=["name", "value", "effect"])

    if analysis.circuit is not None:
        add_circuit_section(page, analysis.circuit, analysis.phase)

    if analysis.dictionaries:
        add_sae_section(page, analysis.dictionaries, analysis.feature_timelines, phase=analysis.phase)

    add_logit_sections(page, analysis.run_dir)

    timing = ", ".join(f"{k} {v:.1f} s" for k, v in analysis.seconds.items())
    page.note(f"Computed offline by interp from the checkpoints in {analysis.run_dir} ({timing}).")
    return page
