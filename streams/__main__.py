"""`python -m streams` is `riskstream`."""

from streams.cli import main

main()
