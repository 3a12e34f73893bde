"""A sweep's worker process: `python -m interp.sweep.worker` reads one TrialJob as JSON on stdin and trains it.

Its outcome goes to the trial's trial.json (interp.sweep.runner.run_trial); its output, one line per metrics record,
goes wherever the parent points stdout (the trial's train.log).
"""

import json
import sys

from interp.sweep.runner import TrialJob, run_trial


def main() -> None:
    job = TrialJob.from_dict(json.loads(sys.stdin.read()))
    print(f"trial {job.name} -> {job.run_dir}" + (" (resuming)" if job.resume else ""), flush=True)
    outcome = run_trial(job, progress=False, echo=True)
    if outcome["status"] != "done":
        print(outcome.get("traceback", outcome["error"]), flush=True)


if __name__ == "__main__":
    main()
