"""The ceiling: a raw aiokafka consume-to-produce loop, run as `python -m bench.passthrough`."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def passthrough(bootstrap: str, group: str, output: str, inputs: Sequence[str]) -> None:
    """The ceiling: consume, produce each message unchanged, commit like Faust (every 1 s).

    Producer settings mirror the worker's (acks=all, linger 5 ms) so the gap to the pipeline is
    the pipeline's own work, not a cheaper delivery guarantee.
    """
    consumer = AIOKafkaConsumer(
        *inputs,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=1000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
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
        asyncio.run(passthrough(argv[0], argv[1], argv[2], argv[3:]))
        return 0
    print("usage: python -m bench.passthrough BOOTSTRAP GROUP OUTPUT INPUT...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
