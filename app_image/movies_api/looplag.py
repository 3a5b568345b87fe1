"""How late this process's event loop runs its timers: the service's own CPU queueing.

A deadline that passes while the loop is this late may have passed only because the loop
did not get round to the reply (it was busy with other requests), not because the server
was slow. Issue 22 item 3: replica deadlines that pass while the loop is lagging do not mark
a healthy replica down.
"""

from __future__ import annotations

import asyncio
import time

_TICK_SECONDS = 0.05
_WINDOW_SECONDS = 1.0


class LoopLag:
    """The worst lateness of a 50 ms timer over about the last second, in seconds."""

    def __init__(self) -> None:
        self._worst = 0.0
        self._window_start = time.monotonic()
        self._previous_worst = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        expected = loop.time() + _TICK_SECONDS
        self._handle = loop.call_at(expected, self._tick, expected)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self, expected: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        late = max(0.0, now - expected)
        if time.monotonic() - self._window_start > _WINDOW_SECONDS:
            self._previous_worst, self._worst = self._worst, 0.0
            self._window_start = time.monotonic()
        self._worst = max(self._worst, late)
        expected = now + _TICK_SECONDS
        self._handle = loop.call_at(expected, self._tick, expected)

    @property
    def seconds(self) -> float:
        """The worst lateness seen in this window or the last one."""
        return max(self._worst, self._previous_worst)
