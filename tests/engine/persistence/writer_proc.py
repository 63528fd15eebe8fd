"""Run by the persistence tests as a separate process: save steps of one session, print each committed step.

Usage: writer_proc.py URL SESSION START COUNT [DELAY_SECONDS]
"""

from __future__ import annotations

import asyncio
import sys

from engine.persistence.factory import open_checkpointer
from tests.engine.persistence.helpers import make_cp


async def main(url: str, session: str, start: int, count: int, delay: float) -> None:
    cp = await open_checkpointer(url)
    try:
        for step in range(start, start + count):
            await cp.save(make_cp(session, step), expected_last_step=step - 1 if step else None)
            print(step, flush=True)
            if delay:
                await asyncio.sleep(delay)
    finally:
        await cp.aclose()


if __name__ == "__main__":
    url, session, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(main(url, session, start, count, float(sys.argv[5]) if len(sys.argv) > 5 else 0.0))
