"""A stand-in HTTP server whose capacity the test controls: `workers` requests at a time,
each held `service_s` seconds (asyncio.sleep, so its capacity, workers / service_s
requests per second, does not depend on the machine's CPU), and a `stall()` that holds
every answer for a while. Loopback only; it runs its own event loop in a thread."""

from __future__ import annotations

import asyncio
import threading
import time


class CapacityStandIn:
    def __init__(self, workers: int = 1, service_s: float = 0.01) -> None:
        self.workers = workers
        self.service_s = service_s
        self.port = 0
        self.served = 0
        self._stall_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def capacity_rps(self) -> float:
        return self.workers / self.service_s

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stall(self, seconds: float) -> None:
        """Every request answered from now on waits until `seconds` from now first."""
        self._stall_until = time.monotonic() + seconds

    def __enter__(self) -> CapacityStandIn:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(5)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        sem = asyncio.Semaphore(self.workers)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            await reader.readexactly(int(line.split(b":", 1)[1]))
                    async with sem:
                        wait = self._stall_until - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                        await asyncio.sleep(self.service_s)
                    self.served += 1
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        async def start() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
