"""pytest collection for the doctests of interp/ (run with the suite: `testpaths` includes interp)."""

import torch

# Doctests build tiny models, where per-op overhead dominates: one thread is faster and immune to a busy machine.
torch.set_num_threads(1)
