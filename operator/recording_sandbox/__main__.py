"""`python -m recording_sandbox` = the sandbox command."""

from recording_sandbox.cli import main

main()
