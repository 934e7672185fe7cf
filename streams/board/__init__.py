"""`riskstream board`: the duty officers' live alert board in a browser (docs/board.md)."""
