"""`interp sae train|eval|dashboard|series|list`: sparse dictionaries (SAEs, transcoders) on a run's checkpoints.

A dictionary lives in its run: RUN/saes/<site>-<kind>-<features>/step_XXXXXX/ (SAELens's cfg.json and
sae_weights.safetensors, interp.json, and evaluation.json once evaluated). Pages go to reports/sae/.
"""

from enum import Enum
from pathlib import Path

import typer

from interp.cli.common import run_label

DEFAULT_OUT = Path("reports/sae")


class Kind(str, Enum):
    relu = "relu"
    topk = "topk"
    batchtopk = "batchtopk"
    jumprelu = "jumprelu"


def _config(
    site: str, kind: Kind, features: int, k: int | None, output_site: str | None, tokens: int | None, seed: int, sets: list[str]
):
    from interp.analysis.sae.config import SAEConfig
    from interp.train.presets import parse_override

    values = {"site": site, "kind": kind.value, "n_features": features, "k": k, "output_site": output_site, "seed": seed}
    if tokens is not None:
        values["tokens"] = tokens
    for text in sets:
        key, value = parse_override(text)
        values[key.removeprefix("sae.")] = value
    return SAEConfig.from_dict(values)


def _figures_line(evaluation) -> str:
    return (
        f"explained variance {evaluation.explained_variance:.3f}, L0 {evaluation.l0:.1f}, dead {evaluation.dead_fraction:.1%}, "
        f"dense {evaluation.dense_fraction:.1%}, CE loss recovered {evaluation.ce_recovered:.3f} (vs mean ablation "
        f"{evaluation.ce_recovered_mean:.3f}); CE clean {evaluation.ce_clean:.3f}, spliced {evaluation.ce_spliced:.3f}, "
        f"zero-ablated {evaluation.ce_zero_ablated:.3f} — on {evaluation.n_tokens:,} held-out tokens"
    )


def register(app: typer.Typer) -> None:
    """Add the `sae` command group to `app`."""
    sae_app = typer.Typer(
        help="Sparse autoencoders and transcoders on a run's checkpoints: train, evaluate, feature dashboards, features across training.",
        no_args_is_help=True,
    )
    app.add_typer(sae_app, name="sae")

    @sae_app.command("train")
    def train(
        run: Path = typer.Argument(..., help="Run directory (or one checkpoint directory)."),
        step: int | None = typer.Option(None, "--step", help="Checkpoint step (default: the last)."),
        site: str = typer.Option(
            "resid_post0",
            "--site",
            help="Hook site the dictionary reads: resid_pre1, resid_post0, z1, head_out1h2, mlp_out1, resid_mid1, ...",
        ),
        kind: Kind = typer.Option(Kind.topk, "--kind", help="relu (L1), topk, batchtopk or jumprelu."),
        features: int = typer.Option(512, "--features", help="Dictionary size."),
        k: int | None = typer.Option(
            None, "--k", help="Active features per token (topk, batchtopk); default 16 for those kinds."
        ),
        output_site: str | None = typer.Option(
            None, "--output-site", help="Train a transcoder predicting this site (e.g. --site resid_mid1 --output-site mlp_out1)."
        ),
        tokens: int | None = typer.Option(None, "--tokens", help="Training activations (default: the config's)."),
        seed: int = typer.Option(0, "--seed"),
        sets: list[str] = typer.Option(
            [], "--set", "-s", help="Any other SAEConfig field, e.g. --set lr=3e-4 --set skip_positions=1."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Dictionary directory (default RUN/saes/<site>-<kind>-<features>/step_N)."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue an interrupted training in --out exactly (or return the finished one)."
        ),
        rows: int = typer.Option(64, "--rows", help="Held-out rows to evaluate on afterwards (0: skip the evaluation)."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """Train a dictionary on one checkpoint's activations (the run's own corpus, streamed), then evaluate it.

        Example: interp sae train models/runs/demo --site resid_post0 --kind topk --features 512 --k 16
        """
        from interp.analysis.sae.training import train_dictionary
        from interp.train.checkpoints import resolve_checkpoint

        if k is None and kind in (Kind.topk, Kind.batchtopk):
            k = 16
        config = _config(site, kind, features, k, output_site, tokens, seed, sets)
        ckpt = resolve_checkpoint(run, step)
        saved = train_dictionary(ckpt, config, out=out, resume=resume, progress=progress)
        f = saved.figures
        typer.echo(
            f"trained {saved.path} in {f.get('seconds', float('nan')):.1f} s ({f.get('activations_per_second', float('nan')):,.0f} activations/s)"
        )
        if rows > 0:
            _evaluate(saved.path, rows)

    def _evaluate(path: Path, rows: int):
        from interp.analysis.core.eval_tokens import evaluation_tokens
        from interp.analysis.sae.evaluation import evaluate_dictionary
        from interp.analysis.sae.files import load_dictionary, source_checkpoint
        from interp.core.io import write_json
        from interp.train.checkpoints import load_model

        saved = load_dictionary(path)
        ckpt = source_checkpoint(saved)
        tokens, where = evaluation_tokens(ckpt, n_rows=rows)
        evaluation = evaluate_dictionary(load_model(ckpt), saved.sae, saved.config, tokens)
        write_json(Path(path) / "evaluation.json", {"tokens": where, **evaluation.to_dict()})
        typer.echo(_figures_line(evaluation))
        typer.echo(f"(tokens: {where}); wrote {Path(path) / 'evaluation.json'}")
        return evaluation

    @sae_app.command("eval")
    def evaluate(
        path: Path = typer.Argument(
            ..., help="A dictionary directory (RUN/saes/.../step_N) or a SAELens directory inside a run."
        ),
        rows: int = typer.Option(64, "--rows", help="Held-out rows of the run's validation data."),
    ) -> None:
        """Explained variance, L0, dead and dense features, shrinkage, and CE loss recovered with the dictionary spliced in.

        Example: interp sae eval models/runs/demo/saes/resid_post0-topk-512/step_006000
        """
        _evaluate(path, rows)

    @sae_app.command("dashboard")
    def dashboard(
        path: Path = typer.Argument(..., help="A dictionary directory (RUN/saes/.../step_N)."),
        rows: int = typer.Option(256, "--rows", help="Held-out rows to find each feature's top contexts in."),
        examples: int = typer.Option(8, "--examples", help="Top contexts per feature."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Page path (default reports/sae/<run>-<dictionary>-step_N.html)."
        ),
    ) -> None:
        """One offline page of every feature: top contexts with per-token highlighting, histogram, logit effects, density.

        Example: interp sae dashboard models/runs/demo/saes/resid_post0-topk-512/step_006000
        """
        from interp.analysis.core.eval_tokens import evaluation_tokens
        from interp.analysis.sae.features import feature_summaries
        from interp.analysis.sae.files import load_dictionary, source_checkpoint
        from interp.core.errors import DataError
        from interp.core.io import read_json
        from interp.report.sae_dashboard_page import write_dashboard
        from interp.text.tokenizers import tokenizer_from_dict
        from interp.train.checkpoints import load_model

        saved = load_dictionary(path)
        ckpt = source_checkpoint(saved)
        if ckpt.tokenizer is None:
            raise DataError(f"{ckpt.path} does not record its tokenizer, so feature contexts cannot be shown as text")
        tokens, where = evaluation_tokens(ckpt, n_rows=rows)
        summaries = feature_summaries(
            load_model(ckpt), saved.sae, saved.config, tokens, tokenizer_from_dict(ckpt.tokenizer), n_examples=examples
        )
        evaluation = Path(path) / "evaluation.json"
        figures = read_json(evaluation) if evaluation.exists() else {}
        figures = {k: v for k, v in figures.items() if not isinstance(v, list)}
        name = f"{run_label(ckpt.path)}-{Path(path).parent.name}-{Path(path).name}"
        page = write_dashboard(
            out or DEFAULT_OUT / f"{name}.html",
            summaries,
            title=f"Features of {saved.config.site} ({saved.config.kind}, {saved.sae.n_features}) at step {ckpt.step}",
            subtitle=f"{ckpt.path}; contexts from {where}",
            figures=figures,
        )
        typer.echo(
            f"{summaries.n_features - summaries.n_dead} live and {summaries.n_dead} dead features on {tokens.numel():,} tokens; wrote {page}"
        )

    @sae_app.command("series")
    def series(
        run: Path = typer.Argument(..., help="Run directory."),
        site: str = typer.Option("resid_post0", "--site"),
        kind: Kind = typer.Option(Kind.topk, "--kind"),
        features: int = typer.Option(512, "--features"),
        k: int | None = typer.Option(None, "--k", help="Default 16 for topk and batchtopk."),
        tokens: int | None = typer.Option(None, "--tokens", help="Training activations per checkpoint."),
        checkpoints: str = typer.Option("log", "--checkpoints", help="all, log (about 12, log-spaced) or steps: 0,100,1000."),
        warm_start: bool = typer.Option(
            True, "--warm-start/--fresh", help="Start each dictionary from its neighbour's (default) or afresh."
        ),
        threshold: float = typer.Option(0.7, "--threshold", help="Decoder cosine a feature track needs between neighbours."),
        rows: int = typer.Option(128, "--rows", help="Held-out rows every dictionary is encoded on."),
        seed: int = typer.Option(0, "--seed"),
        sets: list[str] = typer.Option([], "--set", "-s", help="Any other SAEConfig field."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """Dictionaries at several checkpoints, their features matched one to one between neighbours, and when each appears.

        Example: interp sae series models/runs/demo --site resid_post0 --checkpoints log
        """
        from interp.analysis.edges.timeline import select_checkpoints
        from interp.analysis.induction.series import evaluate_series, probe_for_run
        from interp.analysis.sae.feature_timeline import save_feature_timeline
        from interp.analysis.sae.files import SAES_DIR
        from interp.analysis.sae.series import series_timeline, train_series
        from interp.cli.common import CACHE_DIR
        from interp.report.sae_timeline_page import write_timeline_page
        from interp.train.checkpoints import list_checkpoints

        if k is None and kind in (Kind.topk, Kind.batchtopk):
            k = 16
        config = _config(site, kind, features, k, None, tokens, seed, sets)
        every = list_checkpoints(run)
        chosen = select_checkpoints(every, checkpoints)
        saved = train_series(chosen, config, warm_start=warm_start, progress=progress)
        timeline = series_timeline(chosen, saved, n_rows=rows, threshold=threshold)
        phase = evaluate_series(every, probe_for_run(every[-1], cache_dir=CACHE_DIR)).phase_change()
        folder = saved[-1].path.parent
        save_feature_timeline(
            timeline, folder / "timeline", extra={"run": str(run), "warm_start": warm_start, "phase": phase.to_json_dict()}
        )
        page = write_timeline_page(
            DEFAULT_OUT / f"{run_label(run)}-{folder.name}-timeline.html", timeline, config=config, phase=phase, run=run
        )
        present = timeline.fraction_present
        typer.echo(
            f"{len(chosen)} checkpoints, {timeline.n_tracks} features of the last dictionary; present at each step: "
            + ", ".join(f"{int(s)}: {float(p):.0%}" for s, p in zip(timeline.steps, present, strict=True))
        )
        typer.echo(f"{phase.message}\nwrote {folder / 'timeline'} and {page} ({SAES_DIR}/ holds the dictionaries)")

    @sae_app.command("list")
    def list_(run: Path = typer.Argument(..., help="Run directory.")) -> None:
        """The dictionaries a run holds, with their evaluation figures when evaluated."""
        from interp.analysis.sae.run_dictionaries import run_dictionaries

        found = run_dictionaries(run)
        if not found:
            typer.echo(f"{run} holds no dictionaries yet; train one with: interp sae train {run}")
        for entry in found:
            typer.echo(f"{entry.path}  {entry.summary}")
