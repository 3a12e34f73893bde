"""Sparse dictionaries (SAEs and transcoders) on any hook site: training, evaluation, features, matching."""
