"""The dictionaries a run holds (RUN/saes/*/step_*/), read from their JSON files only: for listings and reports.

>>> import tempfile
>>> from pathlib import Path
>>> run_dictionaries(Path(tempfile.mkdtemp()))
[]
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interp.analysis.sae.files import INTERP_FILE, SAES_DIR
from interp.core.io import read_json

EVALUATION_FILE = "evaluation.json"
TIMELINE_DIR = "timeline"
FIGURES = ("explained_variance", "l0", "dead_fraction", "ce_recovered", "n_tokens")


@dataclass(frozen=True)
class DictionaryEntry:
    """One saved dictionary: where it is, what it reads, and its evaluation (None until `interp sae eval`)."""

    path: Path
    name: str  # <site>-<kind>-<features>
    step: int
    config: dict[str, Any]
    training: dict[str, Any]
    evaluation: dict[str, Any] | None

    @property
    def summary(self) -> str:
        e = self.evaluation
        if e is None:
            return "not evaluated yet (interp sae eval)"
        parts = [f"EV {e['explained_variance']:.3f}", f"L0 {e['l0']:.1f}", f"dead {e['dead_fraction']:.1%}"]
        if e.get("ce_recovered") is not None:
            parts.append(f"CE recovered {e['ce_recovered']:.3f}")
        return ", ".join(parts) + f" ({e['n_tokens']:,} tokens)"

    def row(self) -> dict[str, Any]:
        """A table row: the dictionary, its step and its headline figures."""
        e = self.evaluation or {}
        return {"dictionary": self.name, "step": self.step, **{k: e.get(k) for k in FIGURES}}


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = read_json(path)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def run_dictionaries(run_dir: Path) -> list[DictionaryEntry]:
    """Every complete dictionary under RUN/saes/, by name then step (unreadable ones are skipped)."""
    found = []
    for folder in sorted((Path(run_dir) / SAES_DIR).glob("*/step_*")):
        record = _json(folder / INTERP_FILE)
        if record is None or not folder.name.removeprefix("step_").isdigit():
            continue
        evaluation = _json(folder / EVALUATION_FILE) if (folder / EVALUATION_FILE).exists() else None
        found.append(
            DictionaryEntry(
                path=folder,
                name=folder.parent.name,
                step=int(folder.name.removeprefix("step_")),
                config=record.get("config", {}),
                training=record.get("figures", {}),
                evaluation=evaluation,
            )
        )
    return found


def run_timelines(run_dir: Path) -> list[Path]:
    """The feature-timeline folders `interp sae series` wrote for the run's dictionaries."""
    return sorted(p for p in (Path(run_dir) / SAES_DIR).glob(f"*/{TIMELINE_DIR}") if p.is_dir())


__all__ = ["DictionaryEntry", "run_dictionaries", "run_timelines"]
