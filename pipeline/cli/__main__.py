"""`python -m pipeline.cli`: the `rocket` command."""

from pipeline.cli import main

main()
