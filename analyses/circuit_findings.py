"""Issue 18's findings on our own models: the induction circuit of the demo run across training, and the IOI
circuits of the 4-layer models, with faithfulness curves (CPR, CMD).

    python analyses/circuit_findings.py --demo models/runs/demo --ioi models/runs/ioi-attn-only-4l \
        --ioi-mlp models/runs/ioi-4l-mlp [--out reports/circuit_findings.json]

Heads are named by measurement, not by hand: on the demo, previous-token heads are layer-0 heads with a
previous-token score > 0.3 and induction heads the layer-1 heads with an induction score > 0.3 (the induction
probe of interp.analysis); on IOI, the S-inhibition candidate is the head (layers 1..) that attends most from
END to S2, and name movers the heads of the later layers that attend most from END to IO and whose edge to the
logits scores highest. Prints each check and writes every figure to --out.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from interp.analysis.edges.attribution import edge_attribution
from interp.analysis.edges.exact import edge_patching
from interp.analysis.edges.faithfulness import faithfulness, faithfulness_curve
from interp.analysis.edges.timeline import circuit_timeline
from interp.analysis.induction.series import evaluate_model, evaluate_series, probe_for_run
from interp.analysis.patching.attribution import spearman
from interp.model.engine.forward import Recorder, forward
from interp.model.engine.weights import Weights
from interp.tasks.for_run import task_for_run
from interp.tasks.ioi.patching import ioi_model, patching_prompts
from interp.tasks.ioi.task import prompts_task
from interp.train.checkpoints import list_checkpoints, load_model

CACHE = Path("models/cache")


def curve_summary(curve) -> dict:
    small = [(float(f), float(v)) for f, v in zip(curve.fractions, curve.faithfulness) if f <= 0.1 + 1e-9]
    best_small = max((v for _, v in small), default=float("nan"))
    return {
        "cpr": curve.cpr,
        "cmd": curve.cmd,
        "points": [[float(f), float(v)] for f, v in zip(curve.fractions, curve.faithfulness)],
        "best_faithfulness_at_most_10pct": best_small,
    }


def demo_findings(run: Path) -> dict:
    checkpoints = list_checkpoints(run)
    last = checkpoints[-1]
    probe = probe_for_run(last, cache_dir=CACHE)
    series = evaluate_series(checkpoints, probe)
    phase = series.phase_change()
    model = load_model(last)
    heads = evaluate_model(model, probe).heads
    previous = [h for h in range(heads.previous_token.shape[1]) if heads.previous_token[0, h] > 0.3]
    induction = [h for h in range(heads.induction.shape[1]) if heads.induction[1, h] > 0.3]
    task = task_for_run("induction", last, n=64)
    started = time.perf_counter()
    timeline = circuit_timeline(checkpoints, task, method="eap-ig")
    seconds = time.perf_counter() - started
    exact = edge_patching(model, task)
    ig = edge_attribution(model, task, method="eap-ig")
    graph, circuit = timeline.graph, timeline.circuit
    key = [f"L0H{p}->L1H{i}.k" for p in previous for i in induction]
    out_edges = [f"L1H{i}->logits" for i in induction]
    kept = set(circuit.edge_names)
    rises = {}
    steps = list(timeline.steps)
    for name in key + out_edges:
        effect = timeline.effects[:, graph.edge(name)]
        final = float(effect[-1])
        first = next((steps[i] for i in range(len(steps)) if float(effect[i]) >= 0.5 * final), None) if final > 0 else None
        rises[name] = {"final_effect": final, "first_step_at_half": first}
    return {
        "run": str(run),
        "phase": phase.to_json_dict(),
        "previous_token_heads": {f"L0H{h}": float(heads.previous_token[0, h]) for h in previous},
        "induction_heads": {f"L1H{h}": float(heads.induction[1, h]) for h in induction},
        "circuit_edges": sorted(kept),
        "circuit_size": circuit.n_edges,
        "circuit_fraction": circuit.fraction,
        "circuit_faithfulness_last": float(timeline.circuit_faithfulness[-1]),
        "key_edges_in_circuit": {name: name in kept for name in key},
        "output_edges_in_circuit": {name: name in kept for name in out_edges},
        "edge_rise": rises,
        "timeline_seconds": seconds,
        "checkpoints": len(checkpoints),
        "spearman_eap_ig_vs_exact": spearman(ig.effects, exact.effects),
        "curve": curve_summary(timeline.curve),
    }


def end_attention(model, prompts, target_pos) -> torch.Tensor:
    """[layer head]: mean attention from END to the position `target_pos` (per row)."""
    w = Weights.of(model)
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(w.n_layers)]
    kept = Recorder(names)
    with torch.no_grad():
        forward(w, prompts.clean, kept)
    rows = torch.arange(len(prompts))
    return torch.stack([kept.kept[n][rows, :, prompts.end_pos, target_pos].mean(0) for n in names])


def ioi_findings(run: Path) -> dict:
    last = list_checkpoints(run)[-1]
    model, corpus = ioi_model(last)
    prompts = patching_prompts(corpus, n=64, split="train", corruption="abc", seed=0)
    task = prompts_task(prompts, corpus.tokenizer)
    exact = edge_patching(model, task)
    ig = edge_attribution(model, task, method="eap-ig")
    eap = edge_attribution(model, task, method="eap")
    graph = exact.graph
    to_s2, to_io = end_attention(model, prompts, prompts.s2_pos), end_attention(model, prompts, prompts.io_pos)
    n_layers = to_s2.shape[0]
    later = slice(1, n_layers)
    flat = int(to_s2[later].flatten().argmax())
    s_inhibition = (1 + flat // to_s2.shape[1], flat % to_s2.shape[1])
    direct = torch.tensor(
        [[float(exact.scores[graph.edge(f"L{layer}H{h}->logits")]) for h in range(to_io.shape[1])] for layer in range(n_layers)]
    )
    movers = [
        (layer, h)
        for layer in range(s_inhibition[0] + 1, n_layers)
        for h in range(to_io.shape[1])
        if to_io[layer, h] > 0.3 and direct[layer, h] > 0.05
    ]
    curve = faithfulness_curve(model, task, exact.scores)
    curve_ig = faithfulness_curve(model, task, ig.scores)
    small = [c for c, f in zip(curve.circuits, curve.faithfulness) if c.fraction <= 0.1]
    circuit = max(small, key=lambda c: c.n_edges) if small else curve.circuits[0]
    kept = set(circuit.edge_names)
    inhibition_edges = [f"L{s_inhibition[0]}H{s_inhibition[1]}->L{layer}H{h}.q" for layer, h in movers]
    return {
        "run": str(run),
        "edges": graph.n_edges,
        "s_inhibition_candidate": {
            "head": f"L{s_inhibition[0]}H{s_inhibition[1]}",
            "end_to_s2_attention": float(to_s2[s_inhibition]),
        },
        "name_movers": {
            f"L{layer}H{h}": {"end_to_io_attention": float(to_io[layer, h]), "direct_score": float(direct[layer, h])}
            for layer, h in movers
        },
        "circuit_at_most_10pct": {
            "edges": circuit.n_edges,
            "fraction": circuit.fraction,
            "faithfulness": float(faithfulness(model, task, circuit)[0]),
        },
        "s_inhibition_to_mover_q_in_circuit": {name: name in kept for name in inhibition_edges},
        "s_inhibition_to_mover_q_scores": {name: float(exact.scores[graph.edge(name)]) for name in inhibition_edges},
        "movers_to_logits_in_circuit": {f"L{lay}H{h}->logits": f"L{lay}H{h}->logits" in kept for lay, h in movers},
        "top_exact_edges": exact.top(12),
        "curve_exact": curve_summary(curve),
        "curve_eap_ig": curve_summary(curve_ig),
        "spearman_eap_ig_vs_exact": spearman(ig.effects, exact.effects),
        "spearman_eap_vs_exact": spearman(eap.effects, exact.effects),
        "seconds": {"exact": exact.seconds, "eap_ig": ig.seconds, "eap": eap.seconds},
        "mlp_nodes_in_circuit": sorted(
            {n.split("->")[0] for n in kept if n.startswith("MLP")}
            | {n.split("->")[1] for n in kept if n.split("->")[1].startswith("MLP")}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path)
    parser.add_argument("--ioi", type=Path)
    parser.add_argument("--ioi-mlp", type=Path)
    parser.add_argument("--out", type=Path, default=Path("reports/circuit_findings.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    found = {}
    for name, run, fn in (
        ("demo", args.demo, demo_findings),
        ("ioi", args.ioi, ioi_findings),
        ("ioi_mlp", args.ioi_mlp, ioi_findings),
    ):
        if run is not None:
            found[name] = fn(run)
            print(json.dumps({name: found[name]}, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(found, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
