"""CLI commands beyond the core ones in `interp.cli`: each module defines `register(app)`.

Modules here import only typer at module level; the heavy work is imported inside each command.
"""
