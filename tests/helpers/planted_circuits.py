"""Hand-wired models with planted circuits, the tasks that exercise them, and their known edge sets.

Every `PlantedCircuit` is a model, a task and the edges (interp.analysis.edges.graph names) along which the
task's clean-corrupted difference reaches the metric. An edge is planted when patching it alone (exact edge
patching, either direction) moves the metric by a large share of the gap; every other edge moves it by ~1e-4 or
less (only the small random weights of the distractor heads leak). The reasons are below, per model.

**Induction** (`planted_model()` of tests/helpers/planted_induction.py: L0H0 copies token i-1 into the
previous-token block at i; L1H0's query reads the token block, its key the previous-token block, its value the
token block; W_U reads the token block). The task is `induction_task(16, half=7, corruption="first_half")`'s
clean rows r + r, read at position 12 (token r5; the answer r6, which follows r5 at position 6), corrupted in one
token: r5 at position 5 becomes a fresh token. Only the previous-token block at position 6 changes, so the
difference runs through the key composition alone:
- in: input->L0H0.v (L0H0 copies position 5's token to 6), L0H0->L1H0.k (the key at 6 no longer matches the
  query r5: attention goes from position 6 to uniform), L1H0->logits (10 * onehot(r6) becomes 10/13 of it).
- out: input->L0H0.q/.k and every q/k of a position-only head (positions agree); input->L1H0.k (the key reads
  only the previous-token block, which the input does not write); input->L1H0.q (the query token r5 agrees);
  input->L1H0.v (position 5's value changes, but L1H0 attends to 6 in the clean run and uniformly without the
  match, where the fresh token is neither the answer nor the wrong token); input->logits (position 12 agrees);
  L0H0->L1H0.q/.v and L0H0->logits (no weight reads the previous-token block there).
With the task's own first-half corruption (fresh + r) the key path and the value path (input->L1H0.v: position
6 now holds a fresh token) both carry the difference and act as an AND: noising each of the four edges loses
~all of the gap (0.92 for the key path: with no match L1H0 still sees r6 once in 13 positions), while
denoising any one restores ~nothing (input->L1H0.v exactly 1/13); `FIRST_HALF_NOISING_EDGES` lists them.
The standard second-half corruption (r + fresh) changes the query token instead: input->L1H0.q, L1H0->logits.

**Multi-path** (`multipath_model()`, 3 layers x 4 heads, attention only, no LayerNorm). Eight-token rows of
distinct tokens; the metric reads the last position, correct = the token at position 1, wrong = a token absent
from the row; corrupted rows differ at position 1 only. Blocks of the 112-dim stream (16 each): POS, TOK, PREV,
MID, OUT, JUNK, MLPB. Heads attend by position only (the one-hot POS block), so no attention pattern changes and
every difference travels through values:
- path 1, direct: L0H0 attends to position 1 and copies TOK into OUT (x4): input->L0H0.v, L0H0->logits (0.4).
- path 2, value composition: L0H1 is a previous-token head (TOK -> PREV), L1H0 attends to position 2 and copies
  PREV -> MID, L2H0 attends to position 5 and copies MID -> OUT (x6): input->L0H1.v, L0H1->L1H0.v,
  L1H0->L2H0.v, L2H0->logits (0.6 each).
- distractors doing real work: L0H2 attends to position 1 (the changed token) and writes into JUNK, which the
  unembedding ignores and no planted head reads; L1H1 attends to position 3 (where clean and corrupted agree)
  and writes into OUT, so it moves the logits but not their difference; L2H1 reads L0H1's output (PREV at
  position 2, which differs) and writes into JUNK: L0H1->L2H1.v leaves a circuit sender and carries a large
  difference but scores ~0. H3 of every layer, L1H2, L2H2 and everything not set have 0.02 random weights.
- `multipath_model(mlp=True)` adds MLPs (d_mlp 16, ReLU): MLP1 thresholds MID (1.5 x - 0.5, so a one-hot stays
  exactly one-hot) into MLPB, and L2H0 reads MLPB instead of MID: path 2 becomes input->L0H1.v,
  L0H1->L1H0.v, L1H0->MLP1, MLP1->L2H0.v, L2H0->logits; MLP0 and MLP2 are random.
"""

from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from helpers.planted_induction import D_VOCAB, planted_model
from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.model.layout import from_hooked_state_dict, to_hooked_state_dict
from interp.tasks import induction_task

HALF = 7  # induction rows r + r of 7 tokens: 2 * 7 + 1 distinct tokens fit the 16-token vocabulary
INDUCTION_EDGES = ("input->L0H0.v", "L0H0->L1H0.k", "L1H0->logits")
FIRST_HALF_NOISING_EDGES = ("input->L0H0.v", "L0H0->L1H0.k", "input->L1H0.v", "L1H0->logits")

BLOCK = 16
POS, TOK, PREV, MID, OUT, JUNK, MLPB = (slice(i * BLOCK, (i + 1) * BLOCK) for i in range(7))
D_MODEL, N_HEADS, D_HEAD = 7 * BLOCK, 4, 28
ROW = 8  # tokens per multi-path row; the metric reads the last
SHARP = 10.0  # positional q.k = SHARP**2 / sqrt(D_HEAD) ~ 19 on the target key: softmax puts > 0.9999 there
DIRECT, COMPOSED = 4.0, 6.0  # what each path writes into OUT: scores 0.4 and 0.6 of the gap
MULTIPATH_EDGES = (
    "input->L0H0.v",
    "input->L0H1.v",
    "L0H1->L1H0.v",
    "L1H0->L2H0.v",
    "L0H0->logits",
    "L2H0->logits",
)
MULTIPATH_MLP_EDGES = (
    "input->L0H0.v",
    "input->L0H1.v",
    "L0H1->L1H0.v",
    "L1H0->MLP1",
    "MLP1->L2H0.v",
    "L0H0->logits",
    "L2H0->logits",
)


@dataclass(frozen=True, eq=False)
class PlantedCircuit:
    name: str
    model: object
    task: Task
    edges: tuple[str, ...]


def planted_circuits(n: int = 16, seed: int = 0) -> list[PlantedCircuit]:
    """Every planted model with its task (`n` rows) and its known edges."""
    return [
        PlantedCircuit("induction", planted_model(), induction_key_task(n=n, seed=seed), INDUCTION_EDGES),
        PlantedCircuit("multipath", multipath_model(), multipath_task(n=n, seed=seed), MULTIPATH_EDGES),
        PlantedCircuit("multipath-mlp", multipath_model(mlp=True), multipath_task(n=n, seed=seed), MULTIPATH_MLP_EDGES),
    ]


# ---- induction ---------------------------------------------------------------------------------------------


def induction_key_task(n: int = 32, seed: int = 0) -> Task:
    """Clean r + r read at r5 (position 12); corrupted: the first r5 (position 5) replaced by a fresh token."""
    task = induction_task(D_VOCAB, n=n, half=HALF, corruption="first_half", seed=seed)
    matched = HALF - 2  # the metric reads copy position HALF - 2, whose first occurrence is followed by the answer
    corrupted = task.clean.clone()
    corrupted[:, matched] = task.corrupted[:, matched]  # a fresh token (first_half fills the first copy with them)
    return Task(clean=task.clean, corrupted=corrupted, metric=task.metric, position_labels=task.position_labels)


def induction_first_half_task(n: int = 32, seed: int = 0) -> Task:
    return induction_task(D_VOCAB, n=n, half=HALF, corruption="first_half", seed=seed)


# ---- multi-path --------------------------------------------------------------------------------------------


def multipath_config(mlp: bool = False) -> ModelConfig:
    extra = dict(d_mlp=BLOCK, act_fn="relu") if mlp else {}
    return ModelConfig(
        n_layers=3,
        d_model=D_MODEL,
        n_ctx=BLOCK,
        d_head=D_HEAD,
        n_heads=N_HEADS,
        d_vocab=D_VOCAB,
        attn_only=not mlp,
        normalization_type=None,
        **extra,
    )


def multipath_model(*, mlp: bool = False):
    """The multi-path model of the module docstring (with the planted MLP1 when `mlp`)."""
    cfg = multipath_config(mlp)
    model = build_model(cfg)
    state = to_hooked_state_dict(model.state_dict(), cfg)
    g = torch.Generator().manual_seed(0)
    for key, value in state.items():
        biases = ("b_Q", "b_K", "b_V", "b_O", "b_U", "b_in", "b_out")
        state[key] = torch.zeros_like(value) if key.endswith(biases) else 0.02 * torch.randn(value.shape, generator=g)
    eye = torch.eye(BLOCK)
    state["embed.W_E"] = torch.zeros(D_VOCAB, D_MODEL)
    state["embed.W_E"][:, TOK] = eye
    state["pos_embed.W_pos"] = torch.zeros(BLOCK, D_MODEL)
    state["pos_embed.W_pos"][:, POS] = eye
    state["unembed.W_U"] = torch.zeros(D_MODEL, D_VOCAB)
    state["unembed.W_U"][OUT] = eye
    composed_from = MLPB if mlp else MID
    heads = {  # (layer, head): (attends to, reads, writes, scale); attends to "previous" = position i - 1
        (0, 0): (1, TOK, OUT, DIRECT),
        (0, 1): ("previous", TOK, PREV, 1.0),
        (0, 2): (1, TOK, JUNK, 4.0),
        (1, 0): (2, PREV, MID, 1.0),
        (1, 1): (3, TOK, OUT, 4.0),
        (2, 0): (5, composed_from, OUT, COMPOSED),
        (2, 1): (2, PREV, JUNK, 4.0),
    }
    for (layer, head), (target, reads, writes, scale) in heads.items():
        query, key = _previous_token() if target == "previous" else _attend_to(target)
        attn = f"blocks.{layer}.attn"
        state[f"{attn}.W_Q"][head], state[f"{attn}.W_K"][head] = query, key
        state[f"{attn}.W_V"][head] = torch.zeros(D_MODEL, D_HEAD)
        state[f"{attn}.W_V"][head][reads, :BLOCK] = eye
        state[f"{attn}.W_O"][head] = torch.zeros(D_HEAD, D_MODEL)
        state[f"{attn}.W_O"][head][:BLOCK, writes] = scale * eye
    if mlp:  # MLP1: relu(1.5 * MID - 0.5) into MLPB, exactly one-hot on a one-hot MID
        state["blocks.1.mlp.W_in"] = torch.zeros(D_MODEL, BLOCK)
        state["blocks.1.mlp.W_in"][MID] = 1.5 * eye
        state["blocks.1.mlp.b_in"] = torch.full((BLOCK,), -0.5)
        state["blocks.1.mlp.W_out"] = torch.zeros(BLOCK, D_MODEL)
        state["blocks.1.mlp.W_out"][:, MLPB] = eye
    model.load_state_dict(from_hooked_state_dict(state, cfg), strict=True)
    return model.eval()


def _attend_to(target: int) -> tuple[Tensor, Tensor]:
    """W_Q, W_K [d_model d_head] with which every query at or after `target` attends to key position `target`."""
    query, key = torch.zeros(D_MODEL, D_HEAD), torch.zeros(D_MODEL, D_HEAD)
    query[POS, 0] = SHARP
    key[POS.start + target, 0] = SHARP
    return query, key


def _previous_token() -> tuple[Tensor, Tensor]:
    """W_Q, W_K with which query position i attends to key position i - 1."""
    query, key = torch.zeros(D_MODEL, D_HEAD), torch.zeros(D_MODEL, D_HEAD)
    query[POS, :BLOCK] = SHARP * torch.eye(BLOCK)
    key[POS, :BLOCK] = SHARP * torch.diag(torch.ones(BLOCK - 1), 1)  # key p matches query p + 1
    return query, key


def multipath_task(n: int = 32, seed: int = 0) -> Task:
    """`n` rows of ROW distinct tokens; corrupted at position 1 only; the metric: the last position's logit of
    the clean token at position 1 against a token in neither row."""
    generator = torch.Generator().manual_seed(seed)
    picks: Int[Tensor, "batch pick"] = torch.rand(n, D_VOCAB, generator=generator).argsort(dim=1)[:, : ROW + 2]
    clean = picks[:, :ROW]
    corrupted = clean.clone()
    corrupted[:, 1] = picks[:, ROW]
    metric = LogitDiff(correct=clean[:, 1], wrong=picks[:, ROW + 1], positions=ROW - 1)
    return Task(clean=clean, corrupted=corrupted, metric=metric)
