"""`python -m recording_operator` = the `recording-operator` command."""

from recording_operator.cli import main

main()
