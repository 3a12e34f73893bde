"""pytest collection for the doctests of interp/ (run with the suite: `testpaths` includes interp)."""

import torch

# Doctests build tiny models, where per-op overhead dominates: one thread is faster and immune to a busy machine.
torch.set_num_threads(1)

# NOT YET COLLECTED: modules being rewritten by the restructuring (issue 17) while their doctests were made to run.
# Remove an entry once its module's examples run; `pytest interp/<path>` then checks them.
collect_ignore_glob = [
    "__init__.py",  # interp/__init__.py (the public API is being written)
    "analysis/__init__.py",
    "analysis/patching/activation.py",
    "analysis/patching/attribution.py",
    "analysis/patching/files.py",
    "analysis/patching/path.py",
    "analysis/patching/reference.py",
    "tasks/*",
    "tasks/**/*",
    "train/data.py",
]
