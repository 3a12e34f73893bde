"""Our EAP (direction="denoising") against TransformerLens 4.3's own attribution patching
(transformer_lens.tools.analysis.attribution_patching), summed over positions: TransformerLens's nodes carry a
position, ours do not, and an edge of ours is the sum of its edges at every position.

TransformerLens's *edge* attribution does not run on our native bridges: it needs the per-head result hook
(cfg.use_attn_result) and the split query/key/value inputs (cfg.use_split_qkv_input), and the bridge refuses both
flags for the plain AttentionBridge that native models use (only JointQKVAttentionBridge and
PositionEmbeddingsAttentionBridge, the HuggingFace architectures' attention, fork per head), so
`attribution_patch(..., EdgeAttributionConfig(granularity="edge"))` raises NotImplementedError before any
forward. What can be tested is tested:

- its *node* attribution, which runs on native bridges with MLPs: a sender's node score is the sum of our scores
  of its outgoing edges. (On an attention-only model it raises ValueError: its node graph requires every
  layer's hook_mlp_out, which a model without MLPs does not have.)
- its edge attribution on a twin of our model, a HuggingFace GPT-2 with the same weights booted through
  TransformerBridge (the same function, logits equal), against ours on the native model, edge by edge and row by
  row. GPT-2 always has MLPs: the twin of an attention-only model has MLPs of zero weights, whose edges score 0.
"""

import tempfile
from functools import cache

import pytest
import torch

from interp.analysis.edges.attribution import edge_attribution
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks import induction_task

tl_attribution = pytest.importorskip("transformer_lens.tools.analysis.attribution_patching")

VOCAB = 20


@cache
def model_of(attn_only: bool):
    return build_model(
        ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=VOCAB, attn_only=attn_only, d_mlp=None if attn_only else 32, seed=5)
    )  # fmt: skip


def task():
    return induction_task(VOCAB, n=4, half=6, seed=2)


def row_metric(metric, row: int):
    """TransformerLens scores one pair at a time with a scalar metric of its logits [1 pos vocab]: row `row`'s."""
    position, correct, wrong = (int(x[row]) for x in (metric.positions, metric.correct, metric.wrong))
    return lambda logits: logits[0, position, correct] - logits[0, position, wrong]


def per_row(model, task, granularity: str) -> list:
    config = tl_attribution.EdgeAttributionConfig(granularity=granularity)
    return [
        tl_attribution.attribution_patch(model, task.clean[[i]], task.corrupted[[i]], row_metric(task.metric, i), config)
        for i in range(task.batch)
    ]


def node_name(node) -> str:
    """TransformerLens's node (position dropped) as our sender or receiver name."""
    if node.kind == "embed":
        return "input"  # hook_embed alone; the position embedding is the same in both runs, so the difference is too
    if node.kind == "attn_head_out":
        return f"L{node.layer}H{node.head}"
    if node.kind in ("q_input", "k_input", "v_input"):
        return f"L{node.layer}H{node.head}.{node.kind[0]}"
    if node.kind in ("mlp_out", "mlp_in"):
        return f"MLP{node.layer}"
    return "logits"


@pytest.mark.parametrize("attn_only", [True, False], ids=["attn-only", "mlp"])
def test_transformer_lens_edge_attribution_refuses_native_bridges(attn_only):
    model = model_of(attn_only)
    with pytest.raises(NotImplementedError, match=r"use_attn_result: none of this model's attention bridges support") as raised:
        per_row(model, task(), "edge")
    assert "['AttentionBridge']" in str(raised.value) and "Per-head result computation is unavailable" in str(raised.value)
    with pytest.raises(NotImplementedError, match="No hook point is available before the Q/K/V projections"):
        model.set_use_split_qkv_input(True)  # the reader side is refused too
    assert not (model.cfg.use_attn_result or model.cfg.use_split_qkv_input or model.cfg.use_hook_mlp_in)


def test_transformer_lens_node_attribution_refuses_attention_only_models():
    with pytest.raises(ValueError, match="node graph requires hook points missing from the cache: blocks.0.hook_mlp_out"):
        per_row(model_of(True), task(), "node")


def test_node_attribution_is_the_sum_of_our_outgoing_edges():
    model, t = model_of(False), task()
    ours = edge_attribution(model, t, method="eap", direction="denoising")
    graph = ours.graph
    by_sender = torch.zeros(len(graph.senders), t.batch).index_add_(0, graph.edge_index[:, 1], ours.rows)
    theirs = torch.zeros(len(graph.senders), t.batch)
    for row, result in enumerate(per_row(model, t, "node")):
        for node, score in result.node_scores.items():
            theirs[graph.senders.index(node_name(node)), row] += score
    assert float(theirs.abs().max()) > 0.05
    assert float((theirs - by_sender).abs().max()) <= 1e-5


def gpt2_twin(model):
    """A HuggingFace GPT-2 with `model`'s weights (zero MLPs for an attention-only model), as a TransformerBridge."""
    from tokenizers import Tokenizer, models
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    cfg = model.cfg
    assert cfg.normalization_type == "LN"  # GPT-2 has LayerNorms
    config = GPT2Config(
        n_layer=cfg.n_layers, n_embd=cfg.d_model, n_head=cfg.n_heads, n_positions=cfg.n_ctx, vocab_size=cfg.d_vocab,
        n_inner=4 if cfg.attn_only else cfg.d_mlp, activation_function=cfg.act_fn, layer_norm_epsilon=cfg.eps,
        tie_word_embeddings=False, attn_implementation="eager",
    )  # fmt: skip
    hf = GPT2LMHeadModel(config).eval()
    ours = {name.replace("._original_component", ""): value for name, value in model.original_model.state_dict().items()}
    with torch.no_grad():
        body = hf.transformer
        body.wte.weight.copy_(ours["tok_embed.weight"])
        body.wpe.weight.copy_(ours["pos.weight"])
        for layer, block in enumerate(body.h):
            mine = {
                name.removeprefix(f"layers.{layer}."): value
                for name, value in ours.items()
                if name.startswith(f"layers.{layer}.")
            }
            block.ln_1.weight.copy_(mine["ln1.weight"])
            block.ln_1.bias.copy_(mine["ln1.bias"])
            # GPT-2's Conv1D weights are [in out]: ours ([out in], nn.Linear) transposed; q, k, v side by side
            block.attn.c_attn.weight.copy_(torch.cat([mine[f"attn.{p}.weight"] for p in "qkv"]).T)
            block.attn.c_attn.bias.copy_(torch.cat([mine[f"attn.{p}.bias"] for p in "qkv"]))
            block.attn.c_proj.weight.copy_(mine["attn.o.weight"].T)
            block.attn.c_proj.bias.copy_(mine["attn.o.bias"])
            if cfg.attn_only:
                for linear in (block.mlp.c_fc, block.mlp.c_proj):
                    linear.weight.zero_()
                    linear.bias.zero_()
            else:
                block.ln_2.weight.copy_(mine["ln2.weight"])
                block.ln_2.bias.copy_(mine["ln2.bias"])
                block.mlp.c_fc.weight.copy_(mine["mlp.fc_in.weight"].T)
                block.mlp.c_fc.bias.copy_(mine["mlp.fc_in.bias"])
                block.mlp.c_proj.weight.copy_(mine["mlp.fc_out.weight"].T)
                block.mlp.c_proj.bias.copy_(mine["mlp.fc_out.bias"])
        body.ln_f.weight.copy_(ours["ln_out.weight"])
        body.ln_f.bias.copy_(ours["ln_out.bias"])
        hf.lm_head.weight.copy_(ours["head.weight"])
    # the bridge wants a tokenizer with a name_or_path (one saved to a folder): a word-level one, nothing downloaded
    words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(cfg.d_vocab)}, unk_token="t0"))
    folder = tempfile.mkdtemp()
    PreTrainedTokenizerFast(tokenizer_object=words, unk_token="t0", bos_token="t0", eos_token="t0").save_pretrained(folder)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    return TransformerBridge.boot_transformers("gpt2", hf_model=hf, tokenizer=tokenizer).eval()


@pytest.mark.parametrize("attn_only", [True, False], ids=["attn-only", "mlp"])
def test_our_eap_equals_transformer_lens_edge_attribution_on_a_gpt2_twin(attn_only):
    model, t = model_of(attn_only), task()
    twin = gpt2_twin(model)
    with torch.no_grad():
        assert float((twin(t.clean) - model(t.clean)).abs().max()) <= 1e-5  # the same function
    ours = edge_attribution(model, t, method="eap", direction="denoising")
    graph = ours.graph
    theirs, outside = torch.zeros(graph.n_edges, t.batch), []
    for row, result in enumerate(per_row(twin, t, "edge")):
        for (writer, reader), score in result.edge_scores.items():
            name = f"{node_name(writer)}->{node_name(reader)}"
            if attn_only and "MLP" in name:
                outside.append(score)  # the twin's zero MLPs
            else:
                theirs[graph.edge(name), row] += score
    assert all(score == 0.0 for score in outside) and (len(outside) > 0) == attn_only
    assert float(theirs.abs().max()) > 0.05
    assert float((theirs - ours.rows).abs().max()) <= 1e-5
    assert float((theirs.mean(dim=1) - ours.effects).abs().max()) <= 1e-5
