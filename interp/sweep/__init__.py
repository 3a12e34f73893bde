"""Grid and random search over config fields: `interp sweep SPEC.toml`.

spec.py parses and checks the TOML spec, trials.py expands it into validated trial configs, runner.py trains them
(in this process or in worker processes), results.py gathers the table; the page is interp.report.sweep_figures.
"""
