"""The edges: sources that move bytes into riskstream's input topics (simulator, file replay)."""
