"""`python -m lastmile`: the same command line as `lastmile`."""

from lastmile.cli import main

main(prog_name="lastmile")
