"""Direct logit attribution: each head's, layer component's and position's share of a logit direction, exact.
The public names are re-exported by `interp.analysis`.

    directions.py   LogitDirection: answer - distractor (or one token) at a read position; from a Task or --direction
    capture.py      one forward through the model's own hooks, keeping a few activations
    decompose.py    direct_logit_attribution: the decomposition (final-norm scale frozen at the cached run)
    result.py       LogitAttribution: per row, per position, per source position; means and standard errors
    series.py       attribution_series: the same at every chosen checkpoint of a run
    files.py        save/load beside the run (RUN/dla/<name>/), safetensors + JSON
    reference.py    TransformerLens 4.3's direct_logit_attribution on a processed copy (the tests' reference)
"""
