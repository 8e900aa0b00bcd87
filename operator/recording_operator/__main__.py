"""`python -m recording_operator` = the `recording-operator` command."""

from .cli import main

main()
