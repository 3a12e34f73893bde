"""Training noise: applied where configured, only while training, reproducibly, and never into evaluation."""

import json
import math

import pytest
import torch
from helpers.cli_run import TINY_TRAIN, run_cli
from helpers.factories import assert_same_weights, tiny_config, train_interrupted

from interp.core.errors import ConfigError
from interp.model.build import build_model
from interp.model.engine.fast_forward import FastForward
from interp.model.sites import Site
from interp.train.checkpoints import list_checkpoints, load_model
from interp.train.config import RunConfig
from interp.train.data import TrainingData
from interp.train.loop import METRICS_FILE, RUN_FILE, evaluate, next_token_loss, read_run_config, train
from interp.train.noise import ActivationNoise, TrainingNoise, corrupt_tokens, loss_and_accuracy, step_generator
from interp.train.noise_config import NOISE_ACTIVATION_KINDS, NoiseConfig


def noisy_run(noise: dict | None = None, *, attn_only: bool = True, **train_changes) -> RunConfig:
    model = dict(n_layers=2, d_model=32, n_heads=4, d_head=8, n_ctx=32, attn_only=attn_only, seed=3)
    if not attn_only:
        model["d_mlp"] = 64
    return RunConfig.from_dict(
        {
            "model": model,
            "data": dict(corpus="none", tokenizer="char", repeated_fraction=1.0, span_min=4, span_max=12),
            "train": {**dict(steps=8, batch_size=8, lr=3e-3, eval_every=4, n_checkpoints=3, seed=5), **train_changes},
            "noise": noise or {},
        }
    )


def final_weights(run_dir) -> dict[str, torch.Tensor]:
    return dict(load_model(list_checkpoints(run_dir)[-1]).state_dict())


def read_metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]


PLACES = {
    "activation resid_pre1": dict(where="activation", site="resid_pre1"),
    "activation z0h2 multiplicative": dict(where="activation", site="blocks.0.attn.hook_z", kind="multiplicative"),
    "attn_scores": dict(where="attn_scores"),
    "weights": dict(where="weights"),
    "weights multiplicative": dict(where="weights", kind="multiplicative"),
    "tokens": dict(where="tokens"),
    "labels": dict(where="labels"),
}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("clean") / "run"
    train(noisy_run(), run_dir, progress=False)
    return run_dir


# ---- scale 0 and evaluation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("place", [p for p in PLACES if p != "attn_scores"])
def test_scale_zero_gives_bit_identical_weights(place, clean_run, tmp_path):
    """The noise path runs (draws, adds zero) and leaves the trajectory exactly as in the clean run."""
    train(noisy_run({**PLACES[place], "scale": 0.0}), tmp_path / "run", progress=False)
    clean, noisy = final_weights(clean_run), final_weights(tmp_path / "run")
    for name in clean:
        assert torch.equal(clean[name], noisy[name]), name
    assert read_metrics(clean_run) == read_metrics(tmp_path / "run")


def test_scale_zero_attention_scores_match_the_fused_kernel_within_rounding():
    """Scores noise takes an explicit-attention path; at scale 0 it is the fused SDPA forward up to float rounding."""
    cfg = tiny_config()
    model = build_model(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    fast = FastForward(model, cfg)
    perturb = ActivationNoise(NoiseConfig(where="attn_scores", scale=0.0), cfg.n_layers, torch.Generator().manual_seed(1))
    assert torch.allclose(fast(tokens, perturb=perturb), fast(tokens), atol=1e-5)


@pytest.mark.parametrize("place", PLACES)
def test_noise_changes_training_but_never_evaluation(place, clean_run, tmp_path):
    run = noisy_run({**PLACES[place], "scale": 0.3 if place in ("tokens", "labels") else 1.0})
    train(run, tmp_path / "run", progress=False)
    clean, noisy = read_metrics(clean_run), read_metrics(tmp_path / "run")
    assert clean[0] == noisy[0]  # step 0: the same initial weights, evaluated by the same clean forward
    assert noisy[-1]["train_loss"] != clean[-1]["train_loss"]
    assert not all(torch.equal(a, b) for a, b in zip(final_weights(clean_run).values(), final_weights(tmp_path / "run").values()))

    # Every logged validation loss is the clean loss of the checkpoint's weights, recomputed here without noise.
    val_batches = TrainingData.prepare(run).val_batches()
    logged = {m["step"]: m for m in noisy}
    for ckpt in list_checkpoints(tmp_path / "run"):
        model = load_model(ckpt)
        recomputed = evaluate(FastForward(model, ckpt.config), val_batches)
        assert recomputed["val_repeated"] == pytest.approx(logged[ckpt.step]["val_repeated"], abs=1e-6), ckpt.step


# ---- where the noise goes -------------------------------------------------------------------------------------


def _reference_noise(shape, kind: str, scale: float, generator, head=None, head_axis=None) -> tuple[str, torch.Tensor]:
    """The noise tensor the bridge hook adds, drawn here independently of interp.train.noise."""
    unit = torch.rand(shape, generator=generator) * 2 - 1 if kind == "uniform" else torch.randn(shape, generator=generator)
    if head is not None:
        index = [slice(None)] * len(shape)
        index[head_axis] = [h for h in range(shape[head_axis]) if h != head]
        unit[tuple(index)] = 0
    return kind, scale * unit


def _apply(activation, kind, noise):
    return activation * (1 + noise) if kind == "multiplicative" else activation + noise


SITES = [
    ("embed", "gaussian", False),
    ("pos_embed", "uniform", False),
    ("resid_pre1", "gaussian", False),
    ("blocks.0.hook_attn_out", "multiplicative", False),
    ("resid_post0", "uniform", False),
    ("q1", "gaussian", False),
    ("k0h1", "gaussian", False),
    ("v1", "multiplicative", False),
    ("z0h2", "gaussian", False),
    ("resid_mid1", "gaussian", True),
    ("mlp_pre0", "multiplicative", True),
    ("mlp_post1", "gaussian", True),
    ("mlp_out0", "uniform", True),
]


@pytest.mark.parametrize("site, kind, mlp", SITES)
def test_activation_noise_lands_exactly_at_the_named_site(site, kind, mlp):
    cfg = tiny_config(attn_only=False, d_mlp=48) if mlp else tiny_config()
    model = build_model(cfg).eval()
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    noise_cfg = NoiseConfig(where="activation", site=site, kind=kind, scale=0.7)
    parsed = noise_cfg.parsed_site
    fast = FastForward(model, cfg)(tokens, perturb=ActivationNoise(noise_cfg, cfg.n_layers, torch.Generator().manual_seed(9)))

    reference_generator = torch.Generator().manual_seed(9)
    drawn = []

    def hook(activation, hook):
        kind_, noise = _reference_noise(activation.shape, kind, 0.7, reference_generator, parsed.head, parsed.head_axis)
        drawn.append(noise)
        return _apply(activation, kind_, noise)

    hooks = [(parsed.hook_name, hook)]
    if parsed.kind == "resid_mid":
        # The bridge's hook_resid_mid is ln2's input: an edit there reaches only the MLP. Noise on resid_mid means
        # the residual stream (HookedTransformer's hook), so the reference carries it on past the MLP as well.
        hooks.append((Site.resid_post(parsed.layer).hook_name, lambda activation, hook: _apply(activation, kind, drawn[0])))
    reference = model.run_with_hooks(tokens, fwd_hooks=hooks)
    clean = model(tokens)
    assert (reference - clean).abs().max() > 1e-2  # the noise matters, so a misplaced one would show
    assert torch.allclose(fast, reference, atol=2e-5), (fast - reference).abs().max()


def test_the_forward_offers_noise_at_every_supported_site_and_only_at_real_hooks():
    """The names the training forward passes to a perturbation: each a hook of the bridge, each once, all of them."""
    for cfg in (tiny_config(), tiny_config(attn_only=False, d_mlp=48)):
        model = build_model(cfg)

        class Recorder:
            def __init__(self, n_layers: int):
                self.hooks = frozenset(Site.attn_scores(layer).hook_name for layer in range(n_layers))
                self.seen: list[str] = []

            def at(self, name, activation):
                self.seen.append(name)
                return activation

        recorder = Recorder(cfg.n_layers)
        FastForward(model, cfg)(torch.zeros(1, 4, dtype=torch.long), perturb=recorder)
        expected = {"hook_embed", "hook_pos_embed"} | recorder.hooks
        for kind in NOISE_ACTIVATION_KINDS:
            for layer in range(cfg.n_layers):
                site = Site(kind) if kind in ("embed", "pos_embed") else Site(kind, layer)
                if site.hook_name in model.hook_dict:
                    expected.add(site.hook_name)
        assert sorted(recorder.seen) == sorted(expected)
        assert set(recorder.seen) <= set(model.hook_dict)


@pytest.mark.parametrize("site, kind", [("", "gaussian"), ("attn_scores1h3", "multiplicative")])
def test_attention_score_noise_matches_the_bridge_with_the_pattern_recomputed(site, kind):
    """The bridge discards edits at hook_attn_scores, so the reference rebuilds the pattern from its q and k."""
    cfg = tiny_config()
    model = build_model(cfg).eval()
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    noise_cfg = NoiseConfig(where="attn_scores", site=site, kind=kind, scale=2.0)
    fast = FastForward(model, cfg)(tokens, perturb=ActivationNoise(noise_cfg, cfg.n_layers, torch.Generator().manual_seed(4)))

    reference_generator = torch.Generator().manual_seed(4)
    layers = range(cfg.n_layers) if not site else [noise_cfg.parsed_site.layer]
    head = noise_cfg.parsed_site.head if site else None
    seen: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(activation, hook):
            seen[name] = activation
            return activation

        return hook

    def pattern(activation, hook):
        q, k = seen["q"], seen["k"]
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(cfg.d_head)
        kind_, noise = _reference_noise(scores.shape, kind, 2.0, reference_generator, head, 1)
        scores = _apply(scores, kind_, noise)
        future = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).triu(1)
        return scores.masked_fill(future, -torch.inf).softmax(-1)

    hooks = []
    for layer in layers:
        hooks += [(f"blocks.{layer}.attn.hook_{n}", keep(n)) for n in "qk"] + [(f"blocks.{layer}.attn.hook_pattern", pattern)]
    reference = model.run_with_hooks(tokens, fwd_hooks=hooks)
    assert (reference - model(tokens)).abs().max() > 1e-2
    assert torch.allclose(fast, reference, atol=2e-5), (fast - reference).abs().max()


# ---- weights ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gaussian", "multiplicative"])
def test_weight_noise_is_restored_and_the_update_uses_the_noisy_gradient(kind):
    cfg = tiny_config()
    tokens = torch.randint(0, cfg.d_vocab, (4, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    model = build_model(cfg)
    clean = {n: p.detach().clone() for n, p in model.named_parameters()}
    noise = TrainingNoise(
        NoiseConfig(where="weights", kind=kind, scale=0.05, seed=11), model, FastForward(model, cfg), vocab=torch.arange(11)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)

    inputs, targets, forward = noise.begin(17, tokens)
    perturbed = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert any(not torch.equal(perturbed[n], clean[n]) for n in clean)
    assert all(torch.equal(perturbed[n], clean[n]) for n, p in model.named_parameters() if p.ndim < 2)  # biases, gains
    next_token_loss(forward(inputs), targets).backward()
    noise.end()
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), clean[n]), f"{n} was not restored"
    optimizer.step()

    # Reference: a second model set to the perturbed weights (drawn here, independently) takes the gradient;
    # the same AdamW step from the clean weights with that gradient gives the same parameters.
    twin = build_model(cfg)
    generator = step_generator(11, 17)
    with torch.no_grad():
        for p in twin.parameters():
            if p.ndim >= 2:
                unit = torch.randn(p.shape, generator=generator)
                p.copy_(p * (1 + 0.05 * unit) if kind == "multiplicative" else p + 0.05 * unit)
    assert all(torch.equal(p, perturbed[n]) for n, p in twin.named_parameters())
    next_token_loss(FastForward(twin, cfg)(tokens), tokens).backward()
    replay = build_model(cfg)
    for p, q in zip(replay.parameters(), twin.parameters()):
        p.grad = q.grad
    torch.optim.AdamW(replay.parameters(), lr=1e-2).step()
    for (n, p), q in zip(model.named_parameters(), replay.parameters()):
        assert torch.equal(p, q), n


def test_the_loop_restores_weights_before_each_update(tmp_path):
    """train() with weight noise equals a hand-written loop: perturb, backward, restore, clip, AdamW step."""
    run = noisy_run(dict(where="weights", scale=0.1, seed=2), steps=3, n_checkpoints=2, eval_every=3)
    train(run, tmp_path / "run", progress=False)

    data = TrainingData.prepare(run)
    cfg = run.model.with_vocab(data.vocab_size)
    model = build_model(cfg).train()
    forward = FastForward(model, cfg)
    t = run.train
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay)
    for step in range(t.steps):
        generator = step_generator(2, step)
        clean = [p.detach().clone() for p in model.parameters()]
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim >= 2:
                    p.add_(0.1 * torch.randn(p.shape, generator=generator))
        tokens = data.batch(step)
        optimizer.zero_grad()
        next_token_loss(forward(tokens), tokens).backward()
        with torch.no_grad():
            for p, c in zip(model.parameters(), clean):
                p.copy_(c)
        torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
    trained = final_weights(tmp_path / "run")
    for name, value in model.state_dict().items():
        assert torch.equal(value, trained[name]), name


# ---- tokens and labels -----------------------------------------------------------------------------------------


def test_token_corruption_replaces_the_configured_fraction_uniformly():
    tokens = torch.randint(0, 50, (64, 128), generator=torch.Generator().manual_seed(0))
    pool = torch.tensor([3, 7, 11, 19])
    p, n = 0.3, tokens.numel()
    corrupted = corrupt_tokens(tokens, p, pool, torch.Generator().manual_seed(1))
    changed = corrupted != tokens
    expected = p * (1 - (torch.isin(tokens, pool).float().mean().item() / len(pool)))  # a draw may return the token
    assert abs(changed.float().mean().item() - expected) < 5 * math.sqrt(expected * (1 - expected) / n)
    assert torch.isin(corrupted[changed], pool).all()
    counts = torch.bincount(corrupted[changed], minlength=20)[pool].float()
    assert (counts / counts.sum() - 0.25).abs().max() < 0.03  # uniform over the pool
    assert torch.equal(corrupt_tokens(tokens, 0.0, pool, torch.Generator().manual_seed(1)), tokens)


@pytest.mark.parametrize("where", ["tokens", "labels"])
def test_token_noise_corrupts_inputs_or_only_the_targets(where):
    cfg = tiny_config()
    model = build_model(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (64, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    original = tokens.clone()
    noise = TrainingNoise(NoiseConfig(where=where, scale=0.2), model, FastForward(model, cfg), vocab=torch.arange(cfg.d_vocab))
    inputs, targets, _ = noise.begin(3, tokens)
    assert torch.equal(tokens, original)  # the batch itself is never edited
    clean, noisy = (targets, inputs) if where == "tokens" else (inputs, targets)
    assert torch.equal(clean, original)
    fraction = (noisy != original).float().mean().item()
    expected = 0.2 * (1 - 1 / cfg.d_vocab)
    assert abs(fraction - expected) < 5 * math.sqrt(expected * (1 - expected) / tokens.numel())

    def noisy_part(step):
        inputs, targets, _ = noise.begin(step, tokens)
        return inputs if where == "tokens" else targets

    assert torch.equal(noisy_part(3), noisy)  # a function of (seed, step)
    assert not torch.equal(noisy_part(4), noisy)


def test_step_generators_are_a_function_of_seed_and_step():
    draw = lambda seed, step: torch.randn(8, generator=step_generator(seed, step))  # noqa: E731
    assert torch.equal(draw(0, 5), draw(0, 5))
    assert not torch.equal(draw(0, 5), draw(0, 6)) and not torch.equal(draw(0, 5), draw(1, 5))
    # not the data's generator for the same numbers (interp.train.data seeds with seed * k + step)
    assert not torch.equal(draw(0, 5), torch.randn(8, generator=torch.Generator().manual_seed(5)))


# ---- resume, configs, accuracy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("noise", [dict(where="weights", scale=0.05), dict(where="activation", site="resid_mid1", scale=0.5)])
def test_resume_with_noise_equals_an_uninterrupted_run(noise, tmp_path):
    run = noisy_run(noise, attn_only=noise["where"] == "weights", steps=12, n_checkpoints=5)
    train(run, tmp_path / "straight", progress=False)
    train_interrupted(run, tmp_path / "resumed", after_step=3)
    assert list_checkpoints(tmp_path / "resumed")[-1].step < 12
    train(run, tmp_path / "resumed", resume=True, progress=False)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert read_metrics(tmp_path / "straight") == read_metrics(tmp_path / "resumed")


def test_old_run_files_without_a_noise_section_load_and_resume(tmp_path):
    run = noisy_run(steps=4, n_checkpoints=2)
    train(run, tmp_path / "run", progress=False)
    content = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    assert content["run"]["noise"]["where"] == "none"
    del content["run"]["noise"]
    (tmp_path / "run" / RUN_FILE).write_text(json.dumps(content))
    assert read_run_config(tmp_path / "run") == run
    train(noisy_run(steps=4, n_checkpoints=2), tmp_path / "run", resume=True, progress=False)


def test_a_noisy_run_records_its_noise_and_refuses_resume_with_other_noise(tmp_path):
    run = noisy_run(dict(where="labels", scale=0.1), steps=3, n_checkpoints=2, eval_every=3)
    train(run, tmp_path / "run", progress=False)
    assert read_run_config(tmp_path / "run").noise == NoiseConfig(where="labels", scale=0.1)
    with pytest.raises(ConfigError, match="different config"):
        train(
            noisy_run(dict(where="labels", scale=0.2), steps=3, n_checkpoints=2, eval_every=3),
            tmp_path / "run",
            resume=True,
            progress=False,
        )


@pytest.mark.parametrize(
    "override, fragment",
    [
        (["noise.where='activation'", "noise.site='mlp_out0'", "noise.scale=0.1"], "attention-only model has no MLP"),
        (["noise.where='tokens'", "noise.scale=1.5"], "replacement probability"),
        (["noise.scale=0.1"], "noise.where is 'none'"),
        (["noise.where='activation'", "noise.site='pattern0'", "noise.scale=0.1"], "attn_scores"),
    ],
)
def test_bad_noise_on_the_command_line_is_one_line_and_writes_nothing(override, fragment, tmp_path):
    args = ["train", *TINY_TRAIN, "--out", tmp_path / "r"]
    for item in override:
        args += ["--set", item]
    code, _, err = run_cli(*args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and fragment in err, err
    assert not (tmp_path / "r").exists()


def test_loss_and_accuracy_against_a_hand_count():
    logits = torch.zeros(1, 4, 3)
    logits[0, 0, 1] = logits[0, 1, 2] = logits[0, 2, 2] = 5.0  # predicts 1, 2, 2
    tokens = torch.tensor([[0, 1, 2, 0]])  # targets 1, 2, 0: two of three right
    result = loss_and_accuracy(lambda t: logits, [tokens, tokens])
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["loss"] == pytest.approx(float(next_token_loss(logits, tokens)), abs=1e-6)


def test_the_study_page_renders_rows_curves_and_head_comparisons(tiny_model):
    from helpers.factories import analysis_script

    from interp.analysis.ablation.compare import compare_heads

    noise_page = analysis_script("figures.noise").noise_page

    other = build_model(tiny_config(seed=1))
    tokens = torch.randint(0, 11, (4, 16), generator=torch.Generator().manual_seed(0))
    comparison = compare_heads(tiny_model, other, tokens, labels=("clean", "labels-0.1"))
    rows = [
        dict(name=name, where=where, site="", kind=kind, scale=scale, noisy_train_loss=2.0 + scale, train_loss=1.6,
             val_loss=1.8 + scale, val_change=scale, val_change_se=0.01, gap=0.2 + scale, train_accuracy=0.5,
             val_accuracy=0.47, seconds=10.0)
        for name, where, kind, scale in [("clean", "none", "", 0.0), ("labels-0.1", "labels", "uniform", 0.1)]
    ]  # fmt: skip
    curves = {"clean": [{"step": 0, "val": 4.0}, {"step": 10, "train_loss": 2.5, "val": 2.4}]}
    html = noise_page(rows, curves, {"labels-0.1": comparison}, description="<tiny> test").render()
    assert "labels-0.1" in html and "&lt;tiny&gt; test" in html and "<tiny>" not in html
    assert html.count('class="figure"') == 5  # loss bars, gap/accuracy, curves, head overview, one comparison


# ---- on a device: noise is drawn on CPU generators and moved ------------------------------------------------


@pytest.mark.parametrize(
    "noise",
    [
        dict(where="weights", scale=0.1),
        dict(where="activation", site="resid_pre0", scale=0.1),
        dict(where="activation", site="z1h2", scale=0.1, kind="uniform"),
        dict(where="attn_scores", scale=0.1),
        dict(where="tokens", scale=0.2),
        dict(where="labels", scale=0.2),
    ],
)
def test_noise_reaches_a_model_on_another_device_without_a_cpu_tensor(noise):
    """The meta device stands in for a GPU: a CPU tensor meeting a meta one raises, so a whole noisy training
    step (forward, loss, backward, restore) on a meta-device model finds any noise left on the CPU."""
    cfg = tiny_config()
    model = build_model(cfg).to("meta", print_details=False).train()
    training = TrainingNoise(NoiseConfig(**noise), model, FastForward(model, cfg), vocab=torch.arange(cfg.d_vocab))
    tokens = torch.randint(cfg.d_vocab, (4, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    inputs, targets, forward = training.begin(3, tokens)  # tokens on the CPU, as the loop draws them
    loss = next_token_loss(forward(inputs.to("meta")).float(), targets.to("meta"))
    loss.backward()
    training.end()
    assert loss.device.type == "meta" and all(p.grad.device.type == "meta" for p in model.parameters())


def test_corrupted_tokens_stay_on_the_device_of_the_tokens():
    vocab, generator = torch.arange(11), torch.Generator().manual_seed(0)
    assert corrupt_tokens(torch.zeros(2, 8, dtype=torch.long, device="meta"), 0.5, vocab, generator).device.type == "meta"
