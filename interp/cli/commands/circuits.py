"""`interp circuits RUN --checkpoint STEP`: QK/OV circuits, OV copying and composition scores of one checkpoint.

Writes circuits.json and circuits.html (plotly, opens offline) to `reports/circuits/<run-name>-step<STEP>/`
unless --out says otherwise.
"""

from pathlib import Path

import typer

from interp.cli.common import CACHE_DIR, head_row_dict, run_label

DEFAULT_OUT = Path("reports/circuits")


def _parse_head(text: str) -> tuple[int, int]:
    from interp.analysis.circuits.qk_ov import CircuitError

    cleaned = text.upper().replace("L", "").replace("H", ".")
    try:
        layer, head = (int(part) for part in cleaned.split(".") if part != "")
    except ValueError:
        raise CircuitError(f"--head {text!r} is not a head; write it as LAYER.HEAD (1.2) or L1H2") from None
    return layer, head


def _labels(checkpoint, ids: list[int]) -> list[str]:
    """Unique, readable tick labels for token ids (repr of the token string, with the id if it repeats)."""
    if checkpoint.tokenizer:
        from interp.text.tokenizers import tokenizer_from_dict

        strings = [repr(s)[1:-1] for s in tokenizer_from_dict(checkpoint.tokenizer).token_strings(ids)]
    else:
        strings = [str(i) for i in ids]
    seen: dict[str, int] = {}
    for s in strings:
        seen[s] = seen.get(s, 0) + 1
    return [s if seen[s] == 1 and s.strip() else f"{s}#{i}" for s, i in zip(strings, ids)]


def register(app: typer.Typer) -> None:
    """Add the `circuits` command to `app`."""

    @app.command()
    def circuits(
        run: Path = typer.Argument(..., help="Run directory or checkpoint directory."),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step to analyse (default: the last)."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output directory (default reports/circuits/<run-name>-step<STEP>/)."
        ),
        head: str | None = typer.Option(
            None, "--head", help="Head to draw circuits for, e.g. 1.2 (default: the best layer>=1 induction head)."
        ),
        raw: bool = typer.Option(False, "--raw", help="Unfolded weight products instead of folding LayerNorm approximately."),
        batch: int = typer.Option(32, help="Rows in the probe used for the head scores."),
    ) -> None:
        """QK/OV circuits, OV copying scores and Q/K/V-composition scores of one checkpoint.

        Example: interp circuits models/runs/demo --checkpoint 6000
        """
        from interp.analysis.circuits import qk_ov as c
        from interp.analysis.induction.series import evaluate_model, probe_for_run
        from interp.analysis.summaries.circuits import summarise_circuits
        from interp.core.io import json_ready, write_json
        from interp.report import circuits_figures as cf
        from interp.report.figures_page import write_figures_page
        from interp.report.induction_figures import head_score_heatmaps
        from interp.train.checkpoints import load_model, resolve_checkpoint

        ckpt = resolve_checkpoint(run, checkpoint)
        model = load_model(ckpt)
        probe = probe_for_run(ckpt, batch=batch, cache_dir=CACHE_DIR)
        evaluation = evaluate_model(model, probe)
        parsed = _parse_head(head) if head is not None else None
        found = summarise_circuits(model, evaluation, probe, step=ckpt.step, head=parsed, fold_layernorm=not raw)
        weights, ov, composition, baseline = found.weights, found.ov_copying, found.composition, found.random_baseline
        rows, partners, (layer, index) = found.rows, found.k_partners, found.selected
        scores = evaluation.heads
        summary = {
            "head": f"L{layer}H{index}",
            "induction": float(scores.induction[layer, index]),
            "prefix_matching": float(scores.prefix_matching[layer, index]),
            "copying": float(scores.copying[layer, index]),
            "ov_copying": float(ov[layer, index]),
        }
        if partners:
            sl, sh, value = partners[0]
            previous = scores.previous_token[sl]
            summary["k_partner"] = {
                "head": f"L{sl}H{sh}",
                "k_composition": value,
                "previous_token": float(previous[sh]),
                # 1 = the partner is the most previous-token-like head of its layer
                "previous_token_rank": int((previous > previous[sh]).sum()) + 1,
                "labels": list(next(r.labels for r in rows if (r.layer, r.head) == (sl, sh))),
            }

        name = f"{run_label(run)}-step{ckpt.step}"
        out_dir = out or DEFAULT_OUT / name
        out_dir.mkdir(parents=True, exist_ok=True)
        report = {
            "run": str(run),
            "step": ckpt.step,
            "layernorm": "raw weight products"
            if raw
            else "LayerNorm folded approximately (weights and centring; per-token scale and biases left out)",
            "pool_size": len(probe.vocab),
            "ov_copying": ov.tolist(),
            "composition": {kind: value.tolist() for kind, value in composition.items()},
            "composition_layout": "[source_layer][source_head][layer][head], 0 unless source_layer < layer",
            "random_composition_baseline": baseline,
            "heads": [{"layer": r.layer, "head": r.head, "scores": r.scores, "labels": list(r.labels)} for r in rows],
            "selected": summary,
            "k_partners": [{"head": f"L{sl}H{sh}", "k_composition": v} for sl, sh, v in partners],
        }
        write_json(out_dir / "circuits.json", json_ready(report), indent=1, allow_nan=False)

        ids = probe.vocab.tolist()
        labels = _labels(ckpt, ids)
        tag = f"L{layer}H{index}"
        figures = [
            head_score_heatmaps(scores, title=f"head scores at step {ckpt.step}"),
            cf.head_heatmap(ov, title="OV copying score (eigenvalues of W_E W_V W_O W_U)"),
            *(cf.composition_heatmap(composition[kind], kind, baseline=baseline) for kind in c.COMPOSITION_KINDS),
            cf.circuit_heatmap(
                c.full_ov_circuit(weights, vocab=probe.vocab).AB[layer, index],
                x_labels=labels,
                y_labels=labels,
                title=f"{tag} full OV circuit W_E W_V W_O W_U",
                x_title="logit",
                y_title="attended token",
            ),
            cf.circuit_heatmap(
                c.full_qk_circuit(weights, vocab=probe.vocab).AB[layer, index],
                x_labels=labels,
                y_labels=labels,
                title=f"{tag} full QK circuit W_E W_Q W_K^T W_E^T",
                x_title="key token",
                y_title="query token",
            ),
        ]
        if weights.W_pos is not None:
            positional = c.positional_qk_circuit(weights).AB
            figures.append(
                cf.circuit_heatmap(
                    positional[layer, index],
                    title=f"{tag} positional QK circuit",
                    x_title="key position",
                    y_title="query position",
                    causal=True,
                )
            )
        if partners:
            sl, sh, _ = partners[0]
            path = c.k_composition_circuit(
                weights, layer=layer, head=index, source_layer=sl, source_head=sh, vocab=probe.vocab
            ).AB
            figures.append(
                cf.circuit_heatmap(
                    path,
                    x_labels=labels,
                    y_labels=labels,
                    title=f"K-composition path {tag} <- L{sl}H{sh}",
                    x_title="token moved to the key by the layer-0 head",
                    y_title="query token",
                )
            )
            if weights.W_pos is not None:
                figures.append(
                    cf.circuit_heatmap(
                        positional[sl, sh],
                        title=f"L{sl}H{sh} positional QK circuit",
                        x_title="key position",
                        y_title="query position",
                        causal=True,
                    )
                )
        lines = [
            f"Checkpoint step {ckpt.step} of {run}. {report['layernorm']}.",
            f"Selected head {tag}: induction {summary['induction']:.3f}, prefix-matching {summary['prefix_matching']:.3f}, "
            f"copying {summary['copying']:.3f}, OV copying {summary['ov_copying']:.3f}.",
        ]
        if partners:
            p = summary["k_partner"]
            lines.append(
                f"Strongest K-composition partner: {p['head']} (score {p['k_composition']:.3f}, random baseline {baseline:.3f}); "
                f"its previous-token score {p['previous_token']:.3f} ranks {p['previous_token_rank']} of {ckpt.config.n_heads} in layer {sl}."
            )
        write_figures_page(
            out_dir / "circuits.html", f"Circuits: {name}", lines, figures, tables=[("heads", [head_row_dict(r) for r in rows])]
        )
        for line in lines[1:]:
            typer.echo(line)
        typer.echo(f"wrote {out_dir / 'circuits.json'} and {out_dir / 'circuits.html'}")
