"""A local worker process of `interp sweep --parallel N`: `python -m interp.sweep.worker` reads
{"spec": SweepSpec.to_dict(), "cache_dir": ...} as JSON on stdin and takes trials of the spec's study until none is
left (interp.sweep.runner.run_worker). Its output, one line per metrics record and per trial, goes wherever the
parent points stdout (OUT/workers/worker-N.log).
"""

import json
import sys
from pathlib import Path

from interp.sweep.runner import run_worker
from interp.sweep.spec import SweepSpec


def main() -> None:
    job = json.loads(sys.stdin.read())
    data = {key: value for key, value in job["spec"].items() if value is not None}
    spec = SweepSpec.from_dict(data, name=data["name"])
    cache = None if job["cache_dir"] is None else Path(job["cache_dir"])
    try:
        run_worker(spec, cache_dir=cache, progress=False, log=lambda line: print(line, flush=True), echo=True)
    except KeyboardInterrupt:  # sent by the parent when it is interrupted: the trial was queued again
        sys.exit(130)


if __name__ == "__main__":
    main()
