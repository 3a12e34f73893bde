"""Dictionaries for several checkpoints of one run, and how their features appear and sharpen across training.

`train_series` trains the dictionary of one `SAEConfig` at each chosen checkpoint, in step order; with
`warm_start` each one starts from its neighbour's weights (faster, and its features keep their identity
where the model's representation does not move), otherwise each starts fresh from the config's seed. A
dictionary already in the run's `saes/` folder is reused, so an interrupted series resumes where it stopped.
`series_timeline` encodes one shared set of held-out rows with every dictionary and follows the last
dictionary's features back (`feature_timeline`), with previous/current-token labels per checkpoint.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> result = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False)    # 10 steps, 1 s
>>> config = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4, tokens=2048, batch_tokens=256, buffer_tokens=1024)
>>> saved = train_series(result.checkpoints, config, progress=False)
>>> [s.source["step"] for s in saved]
[0, 1, 10]
>>> timeline = series_timeline(result.checkpoints, saved, n_rows=8)
>>> list(timeline.steps), timeline.n_tracks
([0, 1, 10], 32)
"""

from collections.abc import Callable, Sequence

from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.feature_timeline import THRESHOLD, FeatureTimeline, feature_timeline
from interp.analysis.sae.features import feature_activations
from interp.analysis.sae.files import SavedDictionary
from interp.analysis.sae.training import train_dictionary
from interp.core.errors import DataError
from interp.train.checkpoints import Checkpoint, load_model


def train_series(
    checkpoints: Sequence[Checkpoint],
    config: SAEConfig,
    *,
    warm_start: bool = True,
    progress: bool = True,
    on_done: Callable[[SavedDictionary], None] | None = None,
) -> list[SavedDictionary]:
    """The dictionary of `config` at every checkpoint (in step order), each in its run's `saes/` folder."""
    if not checkpoints:
        raise DataError("no checkpoints to train dictionaries on; choose at least one")
    saved: list[SavedDictionary] = []
    for ckpt in sorted(checkpoints, key=lambda c: c.step):
        init = saved[-1].sae if warm_start and saved else None
        done = train_dictionary(ckpt, config, init=init, resume=True, progress=progress)
        saved.append(done)
        if on_done is not None:
            on_done(done)
    return saved


def series_timeline(
    checkpoints: Sequence[Checkpoint],
    saved: Sequence[SavedDictionary],
    *,
    n_rows: int = 128,
    threshold: float = THRESHOLD,
    batch_size: int = 32,
) -> FeatureTimeline:
    """Follow the last dictionary's features back through `saved` (one per checkpoint, same order), on the
    held-out rows of the last checkpoint's run (the same rows for every checkpoint)."""
    if len(checkpoints) != len(saved) or not saved:
        raise DataError(f"one dictionary per checkpoint is needed: got {len(saved)} for {len(checkpoints)} checkpoints")
    ordered = sorted(zip(checkpoints, saved, strict=True), key=lambda pair: pair[0].step)
    tokens, _ = evaluation_tokens(ordered[-1][0], n_rows=n_rows)

    class _Lazy(Sequence):  # each checkpoint's activations computed when the timeline reads them, once
        def __len__(self) -> int:
            return len(ordered)

        def __getitem__(self, index):
            ckpt, dictionary = ordered[index]
            return feature_activations(load_model(ckpt), dictionary.sae, dictionary.config, tokens, batch_size=batch_size)

    return feature_timeline(
        [(ckpt.step, dictionary.sae) for ckpt, dictionary in ordered], activations=_Lazy(), tokens=tokens, threshold=threshold
    )


__all__ = ["series_timeline", "train_series"]
