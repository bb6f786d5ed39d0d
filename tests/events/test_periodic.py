import asyncio

from codex_graphql.periodic import Periodic


async def test_periodic_runs_repeatedly_survives_errors_and_stops():
    calls = []

    async def work():
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    task = Periodic("test", 0.02, work)
    task.start()
    await asyncio.sleep(0.2)
    await task.stop()
    seen = len(calls)
    assert seen >= 3  # kept going after the failure
    await asyncio.sleep(0.1)
    assert len(calls) == seen  # stopped
