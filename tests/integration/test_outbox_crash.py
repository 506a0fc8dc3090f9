""""Durable before the producer moves on": a producer process prints each sequence number
once ``put`` has returned; SIGKILL lands at a random moment; afterwards every printed
number is in the outbox, in order, and the database is intact."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

PRODUCER = r"""
import asyncio, sys
from datetime import UTC, datetime
from pathlib import Path
from agent.uplink.outbox import Item, Outbox

async def main():
    ob = Outbox(Path(sys.argv[1]), "s", "r", synchronous="FULL")
    await ob.open()
    n = 0
    async def one(i):
        await ob.put(Item("events/x", "t", datetime.now(UTC), {"n": i, "pad": "x" * 200}, 2))
        print(i, flush=True)  # acknowledged to the producer: must survive from here on
    while True:
        # a few concurrent producers, as in the agent (group commits)
        await asyncio.gather(*(one(n + k) for k in range(8)))
        n += 8

asyncio.run(main())
"""


@pytest.mark.parametrize("run", range(3))
def test_every_acknowledged_put_survives_sigkill(tmp_path: Path, run: int) -> None:
    db = tmp_path / "outbox.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER, str(db)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked: list[int] = []
    kill_after = random.Random(run).randint(200, 1500)
    deadline = time.monotonic() + 60
    while len(acked) < kill_after and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    # what was printed before the kill but not yet read still counts as acknowledged
    acked += [int(x) for x in proc.stdout.read().split()]
    assert len(acked) >= 200, "the producer did not get going"

    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = c.execute("SELECT payload FROM messages ORDER BY id").fetchall()
    stored = [msgspec.json.decode(p)["data"]["n"] for (p,) in rows]
    seqs = [msgspec.json.decode(p)["seq"] for (p,) in rows]
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"
    assert seqs == list(range(1, len(seqs) + 1)), "seq must be gapless and in order"
