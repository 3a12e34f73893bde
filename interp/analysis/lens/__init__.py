"""Logit lens and tuned lens: every layer's residual stream (and every head's output) read as a prediction,
with its KL divergence to the final logits and the answer's rank and probability. The public names are
re-exported by `interp.analysis`.

    translators.py  TunedLens: one affine translator per layer (identity-initialised); None is the logit lens
    readout.py      the final norm (statistics recomputed) and unembedding applied to any stream
    metrics.py      lens_metrics: KL to final, target rank and probability per layer, head and position
    training.py     train_tuned_lens: translators fitted to the run's validation text on cached residuals
    series.py       lens_series: logit vs tuned lens at every chosen checkpoint
    files.py        save/load beside the run (RUN/lenses/step_N/, RUN/lenses/series.*), safetensors + JSON
    reference.py    TransformerLens 4.3's logit_lens (the tests' reference)
"""
