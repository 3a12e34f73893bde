"""Train a tuned lens: every layer's translator fitted to minimise KL(final || lens) on token rows (the run's
validation text), over residual streams cached once.

One forward keeps the stream entering each block and the final log-probabilities; training then never runs the
model again, only the translators, the final norm and the unembedding (Adam, mini-batches of rows, a fixed seed).
The layers' losses are independent, so one optimiser over all of them trains each as if alone.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (16, 8), generator=torch.Generator().manual_seed(0))
>>> lens, record = train_tuned_lens(model, tokens, steps=50)
>>> all(a < b for a, b in zip(record.kl_after, record.kl_before)), len(record.kl_before)   # per layer, training rows
(True, 2)
"""

import time
from dataclasses import asdict, dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.core.cache import check_tokens
from interp.analysis.lens.readout import Readout, kl_to_final
from interp.analysis.lens.translators import TunedLens
from interp.analysis.logit_attribution.capture import run_keeping
from interp.core.device import module_device
from interp.core.errors import DataError


@dataclass(frozen=True)
class LensTraining:
    """How a tuned lens was trained, and its mean KL to the final prediction per layer before (= the logit lens) and
    after, on its training rows."""

    steps: int
    lr: float
    batch_size: int
    seed: int
    rows: int
    seconds: float
    kl_before: tuple[float, ...]
    kl_after: tuple[float, ...]
    losses: tuple[float, ...]  # the summed KL over layers, every `steps // 20` steps

    def to_json_dict(self) -> dict:
        return asdict(self)


def split_rows(tokens: Int[Tensor, "batch pos"], held_out: float = 0.5) -> tuple[Tensor, Tensor]:
    """(training rows, held-out rows): the first rows train the lens, the rest measure it.

    >>> train, test = split_rows(torch.zeros(10, 4, dtype=torch.long))
    >>> len(train), len(test)
    (5, 5)
    """
    if tokens.shape[0] < 2 or not 0 < held_out < 1:
        raise DataError(f"a tuned lens needs at least 2 token rows and 0 < held_out < 1; got {tokens.shape[0]} rows, {held_out}")
    cut = max(1, min(tokens.shape[0] - 1, round(tokens.shape[0] * (1 - held_out))))
    return tokens[:cut], tokens[cut:]


@torch.no_grad()
def _cache(model, tokens: Tensor, batch_size: int) -> tuple[Tensor, Tensor]:
    """Streams entering each block [layer batch pos d_model] and final log-probs [batch pos vocab], on the device."""
    n_layers = model.cfg.n_layers
    names = [f"blocks.{layer}.hook_resid_pre" for layer in range(n_layers)]
    streams, finals = [], []
    for chunk in tokens.split(batch_size):
        logits, kept = run_keeping(model, chunk, names)
        streams.append(torch.stack([kept[name] for name in names]))
        finals.append(torch.log_softmax(logits.float(), dim=-1))
    return torch.cat(streams, dim=1), torch.cat(finals)


def _layer_kls(lens: TunedLens, readout: Readout, streams: Tensor, finals: Tensor) -> Tensor:
    """Mean KL(final || lens) of each layer over all rows and positions: [layer]."""
    return torch.stack(
        [kl_to_final(finals, readout.logits(lens.translate(streams[layer], layer))).mean() for layer in range(lens.n_layers)]
    )


def train_tuned_lens(
    model,
    tokens: Int[Tensor, "batch pos"],
    *,
    steps: int = 250,
    lr: float = 1e-2,
    batch_size: int = 16,
    seed: int = 0,
) -> tuple[TunedLens, LensTraining]:
    """A tuned lens for `model` trained on `tokens` (where the model lives), and its training record."""
    check_tokens(tokens, model)
    if not isinstance(steps, int) or steps < 1 or not isinstance(batch_size, int) or batch_size < 1 or not lr > 0:
        raise DataError(f"tuned-lens training needs steps >= 1, batch_size >= 1 and lr > 0; got {steps}, {batch_size}, {lr}")
    started = time.perf_counter()
    device = module_device(model)
    cfg = model.cfg
    readout = Readout.of(model)
    streams, finals = _cache(model, tokens.to(device), batch_size=64)
    lens = TunedLens(cfg.n_layers, cfg.d_model).to(device)
    with torch.no_grad():
        before = _layer_kls(lens, readout, streams, finals)
    optimiser = torch.optim.Adam(lens.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    n_rows, every, losses = tokens.shape[0], max(1, steps // 20), []
    for step in range(steps):
        rows = torch.randint(n_rows, (min(batch_size, n_rows),), generator=generator).to(device)
        loss = _layer_kls(lens, readout, streams[:, rows], finals[rows]).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % every == 0 or step == steps - 1:
            losses.append(float(loss.detach()))
    with torch.no_grad():
        after = _layer_kls(lens, readout, streams, finals)
    record = LensTraining(
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        rows=n_rows,
        seconds=time.perf_counter() - started,
        kl_before=tuple(before.tolist()),
        kl_after=tuple(after.tolist()),
        losses=tuple(losses),
    )
    return lens.cpu().requires_grad_(False), record
