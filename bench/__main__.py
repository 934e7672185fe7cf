"""`python -m bench`, the same as `riskstream-bench`."""

from bench.cli import main

main()
