"""Issue 22's findings: dictionaries on the demo run's layer-0 residual stream across training, and whether features
tied to the induction mechanism ("the previous token was X") appear at the induction phase change.

    python analyses/sae_findings.py --run models/runs/demo [--site resid_post0] [--tokens 1000000]
                                    [--checkpoints log|all|STEPS] [--out analyses/results/sae_findings.json]

Trains a TopK dictionary (512 features, k = 16, warm-started from its neighbour) at about a dozen log-spaced
checkpoints (`interp sae series` does the same), encodes one set of held-out rows with each, and labels each
feature by what explains its activation: the current token or the previous token (variance explained by
grouping on that token >= 0.5 and above the other grouping). The phase change is the induction probe's
(`interp induction`). Prints a table per checkpoint and writes every figure to --out.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.edges.timeline import select_checkpoints
from interp.analysis.induction.series import evaluate_series, probe_for_run
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.evaluation import evaluate_dictionary
from interp.analysis.sae.series import series_timeline, train_series
from interp.train.checkpoints import list_checkpoints, load_model

CACHE = Path("models/cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("models/runs/demo"))
    parser.add_argument("--site", default="resid_post0")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="Training activations per checkpoint.")
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument(
        "--checkpoints", default="log", help="log (about a dozen, log-spaced), all, or steps 0,1000,3000 (as interp sae series)."
    )
    parser.add_argument("--out", type=Path, default=Path("analyses/results/sae_findings.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    started = time.perf_counter()
    every = list_checkpoints(args.run)
    chosen = select_checkpoints(every, args.checkpoints)
    config = SAEConfig(site=args.site, kind="topk", n_features=512, k=16, tokens=args.tokens)
    saved = train_series(chosen, config, warm_start=True)
    timeline = series_timeline(chosen, saved, n_rows=args.rows)
    phase = evaluate_series(every, probe_for_run(every[-1], cache_dir=CACHE)).phase_change()
    tokens, _ = evaluation_tokens(chosen[-1], n_rows=args.rows)
    evaluations = [
        evaluate_dictionary(load_model(c), s.sae, config, tokens).to_dict() for c, s in zip(chosen, saved, strict=True)
    ]

    rows = []
    for i, step in enumerate(timeline.steps):
        e = evaluations[i]
        rows.append(
            {
                "step": step,
                "present": float(timeline.fraction_present[i]),
                "previous_token_features": int(timeline.previous_token_features[i]),
                "current_token_features": int(timeline.current_token_features[i]),
                "explained_variance": e["explained_variance"],
                "ce_recovered": e["ce_recovered"],
                "dead_fraction": e["dead_fraction"],
            }
        )
        print(
            f"step {step:>6}: present {rows[-1]['present']:.0%}, previous-token features {rows[-1]['previous_token_features']:>3}, "
            f"current-token {rows[-1]['current_token_features']:>3}, EV {e['explained_variance']:.3f}, CE recovered "
            f"{e['ce_recovered'] if e['ce_recovered'] is None else round(e['ce_recovered'], 3)}, dead {e['dead_fraction']:.1%}"
        )
    counts = [r["previous_token_features"] for r in rows]
    jumps = [counts[i + 1] - counts[i] for i in range(len(counts) - 1)]
    biggest = max(range(len(jumps)), key=lambda i: jumps[i]) if jumps else None
    rise = (rows[biggest]["step"], rows[biggest + 1]["step"]) if biggest is not None else None
    print(phase.message)
    if rise is not None:
        print(f"largest rise in previous-token features: steps {rise[0]}-{rise[1]} (+{jumps[biggest]})")
    findings = {
        "run": str(args.run),
        "site": args.site,
        "checkpoints_chosen": args.checkpoints,
        "config": config.to_dict(),
        "phase": phase.to_json_dict(),
        "largest_previous_token_rise": {"steps": rise, "features": jumps[biggest] if biggest is not None else None},
        "checkpoints": rows,
        "appearance_steps": timeline.appearance_step.tolist(),
        "seconds": time.perf_counter() - started,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(findings, indent=2))
    print(f"wrote {args.out} ({findings['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
