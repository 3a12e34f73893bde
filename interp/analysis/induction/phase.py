"""Find the induction-head phase change in a series of checkpoints.

The signal is, per checkpoint, the best induction score among heads that can compose with an earlier head
(layers >= 1; a layer-0 head can only fake induction by position, see DESIGN.md). The phase change is the
largest rise of that signal between consecutive checkpoints, widened to the neighbouring intervals that
also rise steeply (at least `spread` times the largest rise), so a jump split across two log-spaced
checkpoints is seen whole. A series whose total rise over that range is below `min_rise` has none.

>>> import torch
>>> phase = detect_phase_change(steps=[0, 10, 100, 1000], tokens_seen=[0, 1e3, 1e4, 1e5],
...     induction_scores=torch.tensor([0.02, 0.03, 0.85, 0.9])[:, None, None].expand(4, 2, 1))
>>> phase.detected, phase.start_step, phase.end_step
(True, 10, 100)
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from jaxtyping import Float
from torch import Tensor

from interp.core.errors import InterpError


class PhaseError(InterpError, ValueError):
    """The series given to phase detection is inconsistent (lengths, shapes, too few checkpoints)."""


@dataclass(frozen=True)
class PhaseChange:
    """Where the induction scores jump, and what the losses did across that range.

    `start_step`/`end_step` are the checkpoints on either side of the jump (None when none was detected).
    `head` is the (layer, head) whose score rose most over the range. Loss and ICL fields are NaN when not
    given. `message` says in one line what was found, or why nothing was.
    """

    detected: bool
    start_step: int | None
    end_step: int | None
    start_tokens: int | None
    end_tokens: int | None
    score_before: float
    score_after: float
    rise: float
    head: tuple[int, int] | None
    induction_loss_before: float
    induction_loss_after: float
    icl_before: float
    icl_after: float
    min_rise: float
    message: str

    @property
    def icl_improved(self) -> bool:
        """ICL score went down (more negative = more in-context learning) across the phase change."""
        return self.detected and self.icl_after < self.icl_before

    def to_json_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = list(value) if isinstance(value, tuple) else value
        out["icl_improved"] = self.icl_improved
        return out


def _at(values: Sequence[float] | Tensor | None, index: int) -> float:
    return math.nan if values is None else float(values[index])


def detect_phase_change(
    *,
    steps: Sequence[int],
    tokens_seen: Sequence[int],
    induction_scores: Float[Tensor, "checkpoint layer head"],
    induction_loss: Sequence[float] | Tensor | None = None,
    icl_score: Sequence[float] | Tensor | None = None,
    layers: Sequence[int] | None = None,
    min_rise: float = 0.25,
    spread: float = 0.5,
) -> PhaseChange:
    """Detect the phase change (see module doc). `layers` defaults to all layers but 0 (all, for 1-layer models)."""
    n = len(steps)
    if induction_scores.ndim != 3 or induction_scores.shape[0] != n or len(tokens_seen) != n:
        raise PhaseError(
            f"steps ({n}), tokens_seen ({len(tokens_seen)}) and induction_scores {tuple(induction_scores.shape)} "
            "must describe the same checkpoints, scores shaped [checkpoint layer head]"
        )
    for name, values in (("induction_loss", induction_loss), ("icl_score", icl_score)):
        if values is not None and len(values) != n:
            raise PhaseError(f"{name} has {len(values)} values for {n} checkpoints")
    n_layers = induction_scores.shape[1]
    if layers is None:
        layers = list(range(1, n_layers)) if n_layers > 1 else [0]
    if not layers or any(not 0 <= layer < n_layers for layer in layers):
        raise PhaseError(f"layers {list(layers)} must be a non-empty subset of 0..{n_layers - 1}")
    scores = induction_scores[:, list(layers)].nan_to_num(0.0)

    def result(detected: bool, lo: int | None, hi: int | None, message: str) -> PhaseChange:
        if lo is None or hi is None:
            before = after = float(scores.flatten(1).max(1).values[-1]) if n else math.nan
            return PhaseChange(
                detected=False,
                start_step=None,
                end_step=None,
                start_tokens=None,
                end_tokens=None,
                score_before=before,
                score_after=after,
                rise=0.0,
                head=None,
                induction_loss_before=math.nan,
                induction_loss_after=math.nan,
                icl_before=math.nan,
                icl_after=math.nan,
                min_rise=min_rise,
                message=message,
            )
        gain = scores[hi] - scores[lo]
        flat = int(gain.flatten().argmax())
        head = (list(layers)[flat // scores.shape[2]], flat % scores.shape[2])
        return PhaseChange(
            detected=detected,
            start_step=int(steps[lo]),
            end_step=int(steps[hi]),
            start_tokens=int(tokens_seen[lo]),
            end_tokens=int(tokens_seen[hi]),
            score_before=float(signal[lo]),
            score_after=float(signal[hi]),
            rise=float(signal[hi] - signal[lo]),
            head=head,
            induction_loss_before=_at(induction_loss, lo),
            induction_loss_after=_at(induction_loss, hi),
            icl_before=_at(icl_score, lo),
            icl_after=_at(icl_score, hi),
            min_rise=min_rise,
            message=message,
        )

    if n < 2:
        return result(False, None, None, f"only {n} checkpoint(s): a phase change needs at least two")
    signal = scores.flatten(1).max(1).values
    rises = signal[1:] - signal[:-1]
    core = int(rises.argmax())
    if rises[core] <= 0:
        return result(False, None, None, "the best induction score never rises between checkpoints")
    lo, hi = core, core + 1
    while lo > 0 and rises[lo - 1] >= spread * rises[core]:
        lo -= 1
    while hi < n - 1 and rises[hi] >= spread * rises[core]:
        hi += 1
    total = float(signal[hi] - signal[lo])
    where = f"steps {int(steps[lo])}-{int(steps[hi])}"
    if total < min_rise:
        return result(False, None, None, f"no phase change: the largest rise ({where}) is {total:.2f} < min_rise {min_rise}")
    return result(
        True, lo, hi, f"phase change at {where}: best layer>=1 induction score {float(signal[lo]):.2f} -> {float(signal[hi]):.2f}"
    )
