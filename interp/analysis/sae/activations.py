"""Training batches of token vectors streamed from a run's own corpus through a bounded shuffle buffer.

Each optimiser step `s` gets `(inputs [batch_tokens d_in], targets [batch_tokens d_out])`: targets are the
inputs for an SAE, the output site's vectors (from the same forward) for a transcoder.

The stream is a pure function of (config, step), so a resumed training run sees exactly the same batches
without saving the buffer. It is filled in whole *generations*: generation `g` is `rows_per_generation`
corpus rows, drawn as `TrainingData.batch`-style row draws `g * draws_per_generation + i` from a seed
stream of its own (`config.seed` offset by `SAE_SEED_OFFSET`, independent of the model's training order),
run through the model (hooks at the site(s) only, stopping after the last layer needed), with the first
`skip_positions` positions of each row dropped, then permuted by a generator seeded by (seed, g). Step `s`
reads slice `s mod steps_per_generation` of generation `s // steps_per_generation`.

Memory bound: the buffer holds at most `buffer_tokens` vectors, preallocated once and refilled in place:

    buffer bytes <= buffer_tokens * (d_in + d_out if transcoder else d_in) * 4

plus, transiently, one model forward over `model_rows` rows and the batch handed out. `peak_buffer_bytes`
records the largest buffer held (tests check it against `memory_bound_bytes`).

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> from interp.analysis.sae.config import SAEConfig
>>> ckpt = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints[-1]
>>> config = SAEConfig(site="resid_post0", k=4, n_features=32, tokens=4096, batch_tokens=256, buffer_tokens=1024)
>>> stream = ActivationStream.from_checkpoint(ckpt, config)
>>> inputs, targets = stream.batch(0)
>>> inputs.shape, inputs is targets, torch.equal(stream.batch(3)[0], stream.batch(3)[0])
(torch.Size([256, 16]), True, True)
>>> stream.peak_buffer_bytes <= stream.memory_bound_bytes
True
"""

import dataclasses
import math
from collections.abc import Iterator

import torch
from torch import Tensor

from interp.analysis.core.cache import capture_into, site_value, stop_layer
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.site_vectors import to_vectors, vector_width
from interp.core.errors import ConfigError, DataError
from interp.text.tokenizers import tokenizer_from_dict
from interp.train.data import TrainingData

SAE_SEED_OFFSET = 7_000_003  # row draws of dictionary training: disjoint from the model's (seed) and validation draws
MAX_REPEATS = 20  # refuse to train on more than this many passes over the corpus's distinct tokens


def _generator(seed: int, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_033 + index * 7_919 + 17) % (2**63 - 1))


class ActivationStream:
    """The deterministic batches one dictionary trains on; see the module docstring for the scheme and bound."""

    def __init__(self, model, data: TrainingData, config: SAEConfig) -> None:
        self.model, self.config = model, config
        self.sites = [config.input_site.check(model)] + ([config.target_site.check(model)] if config.is_transcoder else [])
        self.d_in = vector_width(config.input_site, model.cfg)
        self.d_out = vector_width(config.target_site, model.cfg)
        n_ctx = model.cfg.n_ctx
        self.row_tokens = n_ctx - config.skip_positions
        if self.row_tokens <= 0:
            raise ConfigError(f"SAEConfig.skip_positions ({config.skip_positions}) must be below the model's n_ctx ({n_ctx})")
        self.rows_per_generation = config.buffer_tokens // self.row_tokens
        self.tokens_per_generation = self.rows_per_generation * self.row_tokens
        self.steps_per_generation = self.tokens_per_generation // config.batch_tokens
        if self.steps_per_generation == 0:
            need = math.ceil(config.batch_tokens / self.row_tokens) * self.row_tokens
            raise ConfigError(
                f"SAEConfig.buffer_tokens ({config.buffer_tokens}) holds {self.tokens_per_generation} tokens of whole rows, "
                f"fewer than batch_tokens ({config.batch_tokens}); raise buffer_tokens to at least {need}"
            )
        self.rows_per_draw = min(config.model_rows, self.rows_per_generation)
        self.draws_per_generation = math.ceil(self.rows_per_generation / self.rows_per_draw)
        run = data.run
        train = dataclasses.replace(run.train, seed=SAE_SEED_OFFSET + config.seed, batch_size=self.rows_per_draw)
        self.data = dataclasses.replace(data, run=dataclasses.replace(run, train=train))
        self._check_corpus_size()
        self._generation: int | None = None
        self._inputs: Tensor | None = None
        self._targets: Tensor | None = None
        self._order: Tensor | None = None
        self.peak_buffer_bytes = 0

    @classmethod
    def from_checkpoint(cls, checkpoint, config: SAEConfig, *, model=None) -> "ActivationStream":
        """The stream over a `Checkpoint`'s own corpus (its run config and tokenizer), loading its model unless given."""
        from interp.train.checkpoints import load_model

        if checkpoint.run is None:
            raise DataError(f"{checkpoint.path} records no run config, so its corpus is unknown; train it with `interp train`")
        tokenizer = tokenizer_from_dict(checkpoint.tokenizer) if checkpoint.tokenizer else None
        data = TrainingData.prepare(checkpoint.run, tokenizer=tokenizer)
        return cls(load_model(checkpoint) if model is None else model, data, config)

    # ---- sizes ---------------------------------------------------------------------------------------------

    @property
    def memory_bound_bytes(self) -> int:
        """The most bytes the shuffle buffer ever holds (float32 vectors of the input and, for a transcoder, target)."""
        width = self.d_in + (self.d_out if self.config.is_transcoder else 0)
        return self.config.buffer_tokens * width * 4

    def _check_corpus_size(self) -> None:
        config, data = self.config, self.data
        if data.packed is None or data.run.data.repeated_fraction >= 1:
            return  # synthetic rows: every draw is new
        corpus_fraction = 1 - data.run.data.repeated_fraction
        distinct = len(data.packed.train) * self.row_tokens
        needed = config.steps * config.batch_tokens * corpus_fraction
        if needed > MAX_REPEATS * distinct:
            raise DataError(
                f"the corpus has {distinct} distinct training tokens at {config.site}, but {config.tokens} requested tokens "
                f"would read it {needed / distinct:.0f} times (at most {MAX_REPEATS}); lower SAEConfig.tokens or use a larger corpus"
            )

    # ---- the stream ----------------------------------------------------------------------------------------

    def rows(self, generation: int) -> Tensor:
        """The corpus rows [rows_per_generation n_ctx] of one generation, before the forward pass."""
        first = generation * self.draws_per_generation
        draws = [self.data.batch(first + i) for i in range(self.draws_per_generation)]
        return torch.cat(draws)[: self.rows_per_generation]

    @torch.no_grad()
    def vectors(self, tokens: Tensor) -> list[Tensor]:
        """One forward over `tokens`: each site's token vectors [rows*(n_ctx-skip) d], in row-major order."""
        captured: dict[str, Tensor] = {}
        names = sorted({s.hook_name for s in self.sites})
        self.model.run_with_hooks(
            tokens, fwd_hooks=[(n, capture_into(captured, n)) for n in names], stop_at_layer=stop_layer(self.model, self.sites)
        )
        out = []
        for site in self.sites:
            vectors = to_vectors(site, site_value(self.model, site, captured[site.hook_name]))
            out.append(vectors[:, self.config.skip_positions :].reshape(-1, vectors.shape[-1]).float())
        return out

    def _fill(self, generation: int) -> None:
        if self._inputs is None:
            self._inputs = torch.empty(self.tokens_per_generation, self.d_in)
            if self.config.is_transcoder:
                self._targets = torch.empty(self.tokens_per_generation, self.d_out)
        buffers = [self._inputs] + ([self._targets] if self.config.is_transcoder else [])
        self.peak_buffer_bytes = max(self.peak_buffer_bytes, sum(b.numel() * b.element_size() for b in buffers))
        rows = self.rows(generation)
        at = 0
        for start in range(0, len(rows), self.rows_per_draw):
            parts = self.vectors(rows[start : start + self.rows_per_draw])
            for buffer, part in zip(buffers, parts, strict=True):
                buffer[at : at + len(part)] = part
            at += len(parts[0])
        self._order = torch.randperm(self.tokens_per_generation, generator=_generator(self.config.seed, generation))
        self._generation = generation

    def generation(self, generation: int) -> tuple[Tensor, Tensor]:
        """The buffer of one generation in corpus order (inputs, targets); views of the buffer, valid until the next fill."""
        if self._generation != generation:
            self._fill(generation)
        assert self._inputs is not None
        return self._inputs, (self._targets if self.config.is_transcoder else self._inputs)

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The training batch of optimiser step `step`: the same vectors every time it is asked for."""
        generation, index = divmod(step, self.steps_per_generation)
        inputs, targets = self.generation(generation)
        assert self._order is not None
        take = self._order[index * self.config.batch_tokens : (index + 1) * self.config.batch_tokens]
        batch_inputs = inputs[take]
        return batch_inputs, (targets[take] if self.config.is_transcoder else batch_inputs)

    def iterate(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches for steps start, start+1, ... up to `stop` (default: config.steps)."""
        for step in range(start, self.config.steps if stop is None else stop):
            yield self.batch(step)


__all__ = ["MAX_REPEATS", "SAE_SEED_OFFSET", "ActivationStream"]
