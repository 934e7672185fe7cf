"""The pure core of riskstream: event and alert contracts, the rule language and its decisions.

Nothing here imports Faust or Kafka, and nothing reads the clock: callers pass time in, so the
worker, the rule test runner and the backtester all run exactly the same code.
"""
