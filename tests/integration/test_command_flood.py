"""A flood of malformed MQTT commands (real mosquitto, in-process agent) neither crowds out
valid commands nor floods the log: every valid command sent in the middle of 300 garbage
ones is answered, every refusal is counted, and the refusal log line is rate-limited."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agent.uplink.envelope import decode
from tests.helpers.mqtt import ROOT, collect, fast_mqtt, subscriber
from tests.helpers.wait import wait_for

GARBAGE = 300
VALID = 10


async def test_garbage_flood_does_not_drop_valid_commands(mosquitto, make_config, run_agent,
                                                          caplog: Any) -> None:
    cfg = make_config(mqtt={**fast_mqtt(mosquitto.url), "max_command_bytes": 512})
    caplog.set_level(logging.WARNING, logger="agent")
    async with run_agent(cfg) as agent:
        up = agent.ctx.services["uplink"]
        await wait_for(lambda: up.status()["connected"])
        async with subscriber(mosquitto.port, f"{ROOT}/cmd/+/reply") as c:
            # one burst: garbage of every kind, with the valid pings in the thick of it
            kinds = [b"{not json", b"[1, 2]", b"x" * 600]
            burst = []
            for i in range(GARBAGE):
                burst.append(c.publish(f"{ROOT}/cmd/ping", kinds[i % 3], qos=1))
                if i % (GARBAGE // VALID) == GARBAGE // VALID - 1:
                    burst.append(c.publish(f"{ROOT}/cmd/ping", f'{{"id": "ok-{i}"}}'.encode(),
                                           qos=1))
            await asyncio.gather(*burst)  # all on the wire at once, not one per PUBACK

            def answered(got: list) -> bool:
                ids = {decode(m.payload).data["id"] for m in got}
                return len({i for i in ids if i and i.startswith("ok-")}) >= VALID

            try:
                msgs = await collect(c, answered, timeout=30)
            except TimeoutError:
                raise AssertionError("valid commands went unanswered: "
                                     f"{up.status()['commands_dropped']} dropped") from None
        await wait_for(lambda: "classroom_command_errors_total" in agent.ctx.metrics.render()
                       .decode())
        text = agent.ctx.metrics.render().decode()
        status = up.status()

    ok = [decode(m.payload).data for m in msgs if (decode(m.payload).data["id"] or "")
          .startswith("ok-")]
    assert len(ok) == VALID and all(d["ok"] for d in ok)
    assert status["commands_dropped"] == 0
    # every refusal counted, answered or not
    for reason in ("bad_json", "bad_request", "too_large"):
        assert f'classroom_command_errors_total{{reason="{reason}"}} 100.0' in text, text
    # ... and logged a few times, not 300
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert 1 <= len(refused) <= 3, [r.getMessage() for r in refused]
