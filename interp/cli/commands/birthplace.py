"""`interp birthplace ...`: the span-corruption pretraining / birthplace QA experiment, step by step or at once.

    interp birthplace corpus --out data/bios             # documents.txt, birth_places_{train,dev}.tsv
    interp birthplace pretrain --out models/runs/bp/pre  # span corruption on every biography
    interp birthplace finetune --from models/runs/bp/pre --out models/runs/bp/fine
    interp birthplace finetune --out models/runs/bp/scratch          # no pretraining
    interp birthplace evaluate models/runs/bp/fine --split dev
    interp birthplace experiment --out models/runs/bp    # London baseline, finetune only, pretrain + finetune

Settings come from the defaults (`interp.tasks.birthplace.config`), a TOML file (`--config`, sections
[corpus] [model] [pretrain] [finetune] [scratch_finetune] and top-level architecture / n_latents) and `--set key=value`.
"""

from pathlib import Path

import typer


def _config(config: Path | None, sets: list[str], architecture: str | None, base=None):
    from interp.tasks.birthplace.config import BirthplaceConfig
    from interp.train.presets import parse_override, read_toml

    cfg = base or BirthplaceConfig()
    if config is not None:
        cfg = BirthplaceConfig.from_dict(read_toml(config), base=cfg)
    overrides = dict(parse_override(s) for s in sets)
    if architecture is not None:
        overrides["architecture"] = architecture
    return cfg.with_overrides(overrides) if overrides else cfg


def _echo_log(message: str) -> None:
    typer.echo(message)


def register(app: typer.Typer) -> None:
    """Add the `birthplace` command group to `app`."""
    group = typer.Typer(
        help="Span-corruption pretraining and birthplace QA finetuning on synthetic biographies.", no_args_is_help=True
    )
    config_opt = typer.Option(
        None, "--config", "-c", help="TOML file with [corpus] [model] [pretrain] [finetune] [scratch_finetune] fields."
    )
    set_opt = typer.Option([], "--set", "-s", help="Override a field, e.g. --set pretrain.steps=500 --set corpus.n_people=2000.")
    arch_opt = typer.Option(None, "--arch", help="standard (TransformerBridge) or perceiver_ar.")

    @group.command()
    def corpus(
        out: Path = typer.Option(..., "--out", "-o", help="Directory for documents.txt and the QA .tsv files."),
        config: Path | None = config_opt,
        set_: list[str] = set_opt,
    ) -> None:
        """Write the biography corpus (one document per line) and the train/dev question-answer files."""
        from interp.core.io import write_text
        from interp.tasks.birthplace.biographies import qa_tsv
        from interp.tasks.birthplace.training import BirthplaceData

        cfg = _config(config, set_, None)
        data = BirthplaceData.prepare(cfg.corpus)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "documents.txt", "\n".join(data.corpus.documents) + "\n")
        for split in ("train", "dev"):
            write_text(out / f"birth_places_{split}.tsv", qa_tsv(data.corpus.qa_pairs(split)))
        typer.echo(
            f"{len(data.corpus.people)} people, {len(data.corpus.documents)} documents, "
            f"{len(data.corpus.train_people)} train / {len(data.corpus.dev_people)} dev QA pairs -> {out}"
        )

    @group.command()
    def pretrain(
        out: Path = typer.Option(..., "--out", "-o", help="Checkpoint directory to write."),
        config: Path | None = config_opt,
        set_: list[str] = set_opt,
        arch: str | None = arch_opt,
    ) -> None:
        """Pretrain a fresh model with span corruption on every biography (train and dev people)."""
        from interp.tasks.birthplace.training import BirthplaceData, build_birthplace_model, save_stage
        from interp.tasks.birthplace.training import pretrain as run_pretraining

        cfg = _config(config, set_, arch)
        data = BirthplaceData.prepare(cfg.corpus)
        model = build_birthplace_model(cfg, data.tokenizer.vocab_size)
        result = run_pretraining(model, data, cfg, log=_echo_log)
        path = save_stage(out, model, cfg, data, result)
        typer.echo(
            f"pretrained {cfg.architecture} model: loss {result.final_loss:.4f} after {result.steps} steps ({result.seconds:.0f} s) -> {path}"
        )

    @group.command()
    def finetune(
        out: Path = typer.Option(..., "--out", "-o", help="Checkpoint directory to write."),
        from_: Path | None = typer.Option(None, "--from", help="Pretrained checkpoint (default: a fresh model)."),
        config: Path | None = config_opt,
        set_: list[str] = set_opt,
        arch: str | None = arch_opt,
    ) -> None:
        """Finetune on "Where was X born?" for the train people, then report dev accuracy.

        A pretrained model (--from) is finetuned with the [finetune] settings, a fresh one with [scratch_finetune].
        """
        from interp.tasks.birthplace.training import BirthplaceData, build_birthplace_model, evaluate, load_stage, save_stage
        from interp.tasks.birthplace.training import finetune as run_finetuning

        if from_ is not None:
            model, _, saved = load_stage(from_)
            cfg = _config(config, set_, None, base=saved)
            if arch is not None and arch != cfg.architecture:
                raise typer.BadParameter(f"{from_} holds a {cfg.architecture} model; drop --arch")
        else:
            cfg = _config(config, set_, arch)
            model = None
        data = BirthplaceData.prepare(cfg.corpus)
        model = model or build_birthplace_model(cfg, data.tokenizer.vocab_size)
        result = run_finetuning(model, data, cfg, pretrained=from_ is not None, log=_echo_log)
        path = save_stage(out, model, cfg, data, result)
        dev = evaluate(model, data, cfg, "dev")
        typer.echo(f"finetuned: loss {result.final_loss:.4f} ({result.seconds:.0f} s) -> {path}")
        typer.echo(f"dev exact match: {dev.accuracy:.3f} ({dev.correct}/{dev.total})")

    @group.command("evaluate")
    def evaluate_command(
        checkpoint: Path = typer.Argument(..., help="A checkpoint written by `interp birthplace pretrain/finetune`."),
        split: str = typer.Option("dev", "--split", help="dev (held-out people) or train."),
        show: int = typer.Option(5, "--show", help="How many predictions to print."),
    ) -> None:
        """Exact-match accuracy of greedy answers, next to the always-London baseline."""
        from interp.tasks.birthplace.biographies import most_common_birthplace
        from interp.tasks.birthplace.qa_eval import constant_answer_accuracy
        from interp.tasks.birthplace.training import BirthplaceData, evaluate, load_stage

        model, _, cfg = load_stage(checkpoint)
        data = BirthplaceData.prepare(cfg.corpus)
        result = evaluate(model, data, cfg, split)
        baseline = constant_answer_accuracy(data.corpus.qa_pairs(split), most_common_birthplace(data.corpus.train_people))
        typer.echo(
            f"{split} exact match: {result.accuracy:.3f} ({result.correct}/{result.total}); always-London: {baseline.accuracy:.3f}"
        )
        for (question, answer), prediction in list(zip(data.corpus.qa_pairs(split), result.predictions))[:show]:
            typer.echo(f"  {question}  answer {answer!r}  predicted {prediction!r}")

    @group.command()
    def experiment(
        out: Path = typer.Option(Path("models/runs/birthplace"), "--out", "-o", help="Run directory."),
        config: Path | None = config_opt,
        set_: list[str] = set_opt,
        arch: str | None = arch_opt,
        settings: list[str] = typer.Option(
            [], "--setting", help="Run only these settings (london, finetune_only, pretrain_finetune)."
        ),
    ) -> None:
        """Run the three settings and print the accuracy table (results.json in --out)."""
        from interp.tasks.birthplace.training import SETTINGS, format_table, run_experiment

        cfg = _config(config, set_, arch)
        chosen = tuple(settings) or SETTINGS
        results = run_experiment(cfg, out, settings=chosen, log=_echo_log)
        typer.echo(format_table(results))

    app.add_typer(group, name="birthplace")
