"""Noise injected while training: activations at a hook site, attention scores, weights, input tokens or labels.

The noise is training-only. Evaluation calls the forward without a perturbation, and weights perturbed for a step
are put back before the optimizer update, so validation losses and checkpoints are those of the clean weights.
Every step draws its noise from its own generator, seeded from (noise.seed, step): the draws do not touch the
global RNG, and a resumed run draws exactly what an uninterrupted one would. The generators are CPU generators
on every device (draws are moved to the model's device), so a run on a GPU gets the same noise as on the CPU.

Where the noise goes (`NoiseConfig.where`):
- "activation": the activation at one hook site, inside the hook-free training forward (interp.model.engine.fast_forward);
- "attn_scores": the attention scores before the causal mask and softmax (one layer or head, or every layer);
- "weights": every weight matrix and embedding (the parameters with two or more axes; biases and norm gains
  are left alone). The parameters themselves are perturbed in place for the forward and backward of a step and
  copied back from a saved clone before the update, so the optimizer applies the gradient taken at the noisy
  weights to the clean ones (the perturbed-gradient scheme), restoring them bit for bit;
- "tokens": each input token is replaced, with probability `scale`, by one drawn uniformly from the training
  vocabulary; the targets stay the clean next tokens;
- "labels": the same replacement applied to the targets only; the model reads clean inputs.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> noise = TrainingNoise(NoiseConfig(where="weights", scale=0.1), model, model, vocab=torch.arange(11))
>>> before = [parameter.clone() for parameter in model.parameters()]
>>> inputs, targets, step_forward = noise.begin(3, tokens)
>>> per_token_loss(step_forward(inputs), targets).mean().backward()    # on this step's perturbed weights
>>> noise.end()   # restores perturbed weights; then clip and optimizer.step()
>>> all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
True
"""

import functools
from collections.abc import Callable

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import ConfigError, DataError
from interp.model.engine.fast_forward import FastForward
from interp.model.losses import per_token_loss
from interp.model.sites import Site, SiteError
from interp.train.noise_config import NoiseConfig

NOISE_SALT = 0x6E6F697365  # "noise": keeps noise seeds apart from the data seeds of interp.train.data
_MASK64 = 2**64 - 1

Forward = Callable[..., Tensor]


def _mix(value: int) -> int:
    """The splitmix64 finaliser: nearby integers map to unrelated 64-bit values."""
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator all of one step's noise is drawn from: a pure function of (seed, step)."""
    return torch.Generator().manual_seed(_mix((_mix(seed + NOISE_SALT) + step) & _MASK64) >> 1)


def standard_noise(shape: tuple[int, ...], kind: str, generator: torch.Generator) -> Tensor:
    """Unit noise: N(0, 1) for gaussian and multiplicative, U(-1, 1) for uniform."""
    if kind == "uniform":
        return torch.rand(shape, generator=generator) * 2 - 1
    return torch.randn(shape, generator=generator)


def apply_noise(x: Tensor, noise: Tensor, kind: str, scale: float) -> Tensor:
    """x + scale * noise, or x * (1 + scale * noise) for multiplicative noise (zero noise leaves x exactly)."""
    if kind == "multiplicative":
        return x * (1 + scale * noise)
    return x + scale * noise


class ActivationNoise:
    """A `Perturbation` for the training forward: noise at one site's hook (or every layer's attention scores)."""

    def __init__(self, cfg: NoiseConfig, n_layers: int, generator: torch.Generator):
        self.kind, self.scale, self.generator = cfg.kind, cfg.scale, generator
        site = cfg.parsed_site
        if site is None:  # attention scores of every layer
            self.hooks = frozenset(Site.attn_scores(layer).hook_name for layer in range(n_layers))
            self.head, self.head_axis = None, None
        else:
            self.hooks = frozenset({site.hook_name})
            self.head, self.head_axis = site.head, site.head_axis

    def at(self, name: str, activation: Tensor) -> Tensor:
        if name not in self.hooks:
            return activation
        # drawn on the CPU generator on every device (the same noise on a GPU), then moved
        noise = standard_noise(tuple(activation.shape), self.kind, self.generator).to(activation.device, activation.dtype)
        if self.head is not None:  # one head: zero noise elsewhere leaves the other heads exactly as they were
            keep = torch.zeros(activation.shape[self.head_axis], dtype=noise.dtype, device=noise.device)
            keep[self.head] = 1
            noise = noise * keep.view([-1 if axis == self.head_axis else 1 for axis in range(noise.ndim)])
        return apply_noise(activation, noise, self.kind, self.scale)


class WeightNoise:
    """Perturbs a model's weight matrices in place and restores them exactly from saved copies."""

    def __init__(self, model: torch.nn.Module, kind: str, scale: float):
        self.kind, self.scale = kind, scale
        self.params = [p for _, p in model.named_parameters() if p.ndim >= 2]
        self._saved: list[Tensor] | None = None

    @torch.no_grad()
    def apply(self, generator: torch.Generator) -> None:
        if self._saved is not None:
            raise RuntimeError("weight noise applied twice without restore(); call TrainingNoise.end() after each step")
        self._saved = [p.detach().clone() for p in self.params]
        for p in self.params:
            noise = standard_noise(tuple(p.shape), self.kind, generator).to(p.device, p.dtype)  # CPU draws, as above
            p.copy_(apply_noise(p, noise, self.kind, self.scale))

    @torch.no_grad()
    def restore(self) -> None:
        if self._saved is None:
            return
        for p, saved in zip(self.params, self._saved):
            p.copy_(saved)
        self._saved = None


def corrupt_tokens(
    tokens: Int[Tensor, "batch pos"], probability: float, vocab: Int[Tensor, " vocab"], generator: torch.Generator
) -> Int[Tensor, "batch pos"]:
    """A copy of `tokens` with each one replaced, with `probability`, by a token drawn uniformly from `vocab`
    (which may draw the original token back)."""
    replace = (torch.rand(tokens.shape, generator=generator) < probability).to(tokens.device)
    random = vocab.cpu()[torch.randint(len(vocab), tokens.shape, generator=generator)].to(tokens.device, tokens.dtype)
    return torch.where(replace, random, tokens)


class TrainingNoise:
    """One run's training noise, step by step: `begin(step, tokens)` before the forward, `end()` after backward.

    `begin` returns (inputs, targets, forward) for the step: the batch itself and `forward` when there is no noise.
    """

    def __init__(self, cfg: NoiseConfig, model: torch.nn.Module, forward: Forward, *, vocab: Tensor):
        self.cfg, self.forward, self.vocab = cfg, forward, vocab
        self.n_layers = model.cfg.n_layers
        self.weights = WeightNoise(model, cfg.kind, cfg.scale) if cfg.where == "weights" else None
        if cfg.where in ("activation", "attn_scores"):
            if not isinstance(forward, FastForward):
                raise ConfigError(f"{cfg.where} noise needs the hook-free training forward, which does not cover this model")
            site = cfg.parsed_site or Site.attn_scores(0)
            try:
                site.check(model)
            except SiteError as error:
                raise ConfigError(f"noise.site: {error}") from None
        if cfg.where in ("tokens", "labels") and len(vocab) == 0:
            raise ConfigError(f"{cfg.where} noise needs a non-empty vocabulary to draw replacement tokens from")

    def begin(self, step: int, tokens: Int[Tensor, "batch pos"]) -> tuple[Tensor, Tensor, Forward]:
        where = self.cfg.where
        if where == "none":
            return tokens, tokens, self.forward
        generator = step_generator(self.cfg.seed, step)
        if where in ("activation", "attn_scores"):
            return tokens, tokens, functools.partial(self.forward, perturb=ActivationNoise(self.cfg, self.n_layers, generator))
        if where == "weights":
            self.weights.apply(generator)
            return tokens, tokens, self.forward
        corrupted = corrupt_tokens(tokens, self.cfg.scale, self.vocab, generator)
        return (corrupted, tokens, self.forward) if where == "tokens" else (tokens, corrupted, self.forward)

    def end(self) -> None:
        """Put back weights perturbed for this step; call it after backward and before the optimizer update."""
        if self.weights is not None:
            self.weights.restore()


@torch.no_grad()
def row_loss_and_accuracy(forward: Forward, batches: list[Tensor]) -> tuple[Float[Tensor, " row"], Float[Tensor, " row"]]:
    """Mean next-token loss and top-1 next-token accuracy of every row of `batches`, without noise.

    >>> uniform = lambda tokens: torch.zeros(*tokens.shape, 11)         # a forward: tokens -> logits
    >>> val_batches = [torch.randint(1, 11, (4, 8)), torch.randint(1, 11, (2, 8))]
    >>> losses, accuracies = row_loss_and_accuracy(uniform, val_batches)
    >>> losses.shape, accuracies.sum().item()          # uniform logits pick token 0, which never comes
    (torch.Size([6]), 0.0)
    """
    if not batches:
        raise DataError("row_loss_and_accuracy needs at least one batch of tokens")
    losses, accuracies = [], []
    for tokens in batches:
        logits = forward(tokens)
        losses.append(per_token_loss(logits, tokens).mean(dim=-1))
        accuracies.append((logits[:, :-1].argmax(dim=-1) == tokens[:, 1:]).float().mean(dim=-1))
    return torch.cat(losses), torch.cat(accuracies)


def loss_and_accuracy(forward: Forward, batches: list[Tensor]) -> dict[str, float]:
    """Mean next-token loss and accuracy over `batches` (rows of one length, so the mean over rows is the mean over
    tokens).

    >>> uniform = lambda tokens: torch.zeros(*tokens.shape, 11)         # a forward: tokens -> logits
    >>> loss_and_accuracy(uniform, [torch.randint(1, 11, (4, 8))])      # loss log(11)
    {'loss': 2.3978..., 'accuracy': 0.0}
    """
    losses, accuracies = row_loss_and_accuracy(forward, batches)
    return {"loss": float(losses.mean()), "accuracy": float(accuracies.mean())}
