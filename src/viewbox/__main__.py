"""`python -m viewbox` runs the CLI."""

from .cli import run

run()
