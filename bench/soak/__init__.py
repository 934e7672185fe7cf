"""The chaos soak: the city workload at a steady rate against two workers in one group and a broker
of the soak's own, while workers are SIGKILLed on a schedule and the broker is stopped once; then a
verdict against the scenarios' ground truth (lost alerts, duplicate notices, events accounted for,
recovery after the broker's return, worker logs). `riskstream soak` runs it (streams/soak_cli.py).

Pure parts (plan, metrics, logs, verdict) take what was recorded and decide; the rest (broker,
workers, workload, runner) records it.
"""
