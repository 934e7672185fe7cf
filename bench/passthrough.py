"""The ceiling: a raw aiokafka consume-to-produce loop, run as `python -m bench.passthrough`."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.settings import Settings


async def passthrough(kafka: Mapping[str, Any], group: str, output: str, inputs: Sequence[str]) -> None:
    """The ceiling: consume, produce each message unchanged, commit like Faust (every 1 s).

    Producer settings mirror the worker's (acks=all, linger 5 ms) so the gap to the pipeline is
    the pipeline's own work, not a cheaper delivery guarantee. ``kafka``: bootstrap_servers and the
    security options, as every client of the worker has them.
    """
    consumer = AIOKafkaConsumer(
        *inputs,
        **kafka,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
    )
    producer = AIOKafkaProducer(**kafka, linger_ms=5, acks="all")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            futures = [
                await producer.send(output, m.value, key=m.key) for records in batch.values() for m in records
            ]
            if futures:
                await asyncio.gather(*futures)
    finally:
        await producer.stop()
        await consumer.stop()


def main(argv: list[str]) -> int:
    if len(argv) >= 4:
        # TLS and SASL from the RISKSTREAM_KAFKA_* variables the bench passes, like the worker's
        kafka = Settings(kafka_bootstrap=argv[0]).kafka_client_options()
        asyncio.run(passthrough(kafka, argv[1], argv[2], argv[3:]))
        return 0
    print("usage: python -m bench.passthrough BOOTSTRAP GROUP OUTPUT INPUT...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
