"""Shared test helpers: fixtures-free modules the tests import (`from helpers.cli_run import run_cli`)."""
