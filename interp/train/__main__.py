"""`python -m interp.train`: the `interp train` command with the same options, also as a torchrun worker.

    python -m interp.train --preset attn-only-1l --out models/runs/a1                        # one process
    torchrun --nproc_per_node 2 -m interp.train --preset attn-only-1l --out models/runs/a1   # two, same batch
    torchrun --nproc_per_node 8 -m interp.train --device cuda --preset attn-only-1l ...      # 8 GPUs over NCCL

Under torchrun every rank gets the same options and usually fails the same way, so each machine's first
process (LOCAL_RANK 0) prints the one-line error; all exit with code 2.
"""

import sys

import typer

from interp.cli.app import train

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(train)  # the one command: its options and --help are interp train's


def main() -> None:
    """Entry point: expected errors become one line on stderr and exit code 2, as in `interp`."""
    from interp.core.errors import InterpError
    from interp.train.distributed import reports_errors

    try:
        app(prog_name="python -m interp.train", standalone_mode=True)
    except (InterpError, OSError) as error:
        if reports_errors():
            typer.echo(f"error: {' '.join(str(error).split())}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
