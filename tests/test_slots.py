from __future__ import annotations

import asyncio

from archiver.slots import PrioritySlots


def test_waiters_are_served_by_priority_then_arrival() -> None:
    order: list[str] = []

    async def use(slots: PrioritySlots, name: str, priority: int) -> None:
        async with slots.hold(priority):
            order.append(name)
            await asyncio.sleep(0.001)

    async def run() -> None:
        slots = PrioritySlots(1)
        async with slots.hold(0):  # occupy the only slot while the others queue up
            waiting = [asyncio.create_task(use(slots, name, priority)) for name, priority in
                       (("audio1", 2), ("video1", 1), ("cover", 0), ("audio2", 2), ("video2", 1))]
            await asyncio.sleep(0.01)
        await asyncio.gather(*waiting)

    asyncio.run(run())
    assert order == ["cover", "video1", "video2", "audio1", "audio2"]


def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    async def run() -> int:
        slots = PrioritySlots(1)
        async with slots.hold(0):
            doomed = asyncio.create_task(slots._acquire(0))
            later = asyncio.create_task(slots._acquire(1))
            await asyncio.sleep(0.01)
            doomed.cancel()
            await asyncio.sleep(0.01)
        await asyncio.wait_for(later, 1)
        return slots._free

    assert asyncio.run(run()) == 0  # `later` holds the one slot; nothing leaked
