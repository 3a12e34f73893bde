"""interp: train small transformers from scratch on a CPU and study how their circuits form."""
__version__ = "0.1.0"
