"""Child of test_group_kill9: SESSIONS sessions save concurrently through one SQLiteCheckpointer with group
commit on, each step checking the one before; every save that RETURNED is printed ("session step") and
flushed at once, until the parent kills the process.

    python tests/faults/group_kill_proc.py URL SESSIONS
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

from engine.persistence.base import Checkpoint
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from engine.types import Message


def checkpoint(session: str, step: int) -> Checkpoint:
    state = VersionedState(
        [Message.user(f"{session} message {i}") for i in range(step + 1)], {"session": session, "step": step}
    )
    return Checkpoint(session, step, state, [], {}, 1, dt.datetime.now(dt.UTC))


async def session_loop(cp: SQLiteCheckpointer, session: str) -> None:
    step = 0
    await cp.save(checkpoint(session, 0))
    print(session, 0, flush=True)
    while True:
        step += 1
        await cp.save(checkpoint(session, step), step - 1)
        print(session, step, flush=True)


async def main(url: str, sessions: int) -> None:
    cp = await SQLiteCheckpointer.connect(url)
    assert cp.group_commit
    print("ready", flush=True)
    await asyncio.gather(*(session_loop(cp, f"s{i}") for i in range(sessions)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
