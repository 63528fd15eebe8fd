"""Helper process: at the given wall-clock instant, open a (new) SQLite file, read it and print "ok".

python first_open_proc.py URL INSTANT BUSY_TIMEOUT
"""

from __future__ import annotations

import asyncio
import sys
import time

from engine.persistence.sqlite import SQLiteCheckpointer


async def main(url: str, busy_timeout: float) -> None:
    cp = await SQLiteCheckpointer.connect(url, busy_timeout=busy_timeout)
    try:
        assert await cp.list_sessions() == []
    finally:
        await cp.aclose()


if __name__ == "__main__":
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # imports done: wait for the common instant
    asyncio.run(main(sys.argv[1], float(sys.argv[3])))
    print("ok")
