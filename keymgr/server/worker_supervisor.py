"""The Raft process starts its worker processes and restarts any that exits.

A worker holds nothing durable (its state is a replica, its writes went through the
Raft process), so a crashed worker is simply started again; the back-off keeps a
worker that dies at once from spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

RESTART_MIN_S = 0.2
RESTART_MAX_S = 5.0
STOP_TIMEOUT_S = 5.0


class WorkerSupervisor:
    def __init__(self, config_path: Path, count: int) -> None:
        self._config_path = config_path
        self._count = count
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.restarts = 0

    def start(self) -> None:
        for number in range(1, self._count + 1):
            self._tasks.append(asyncio.create_task(self._keep_running(number)))

    def pids(self) -> dict[int, int]:
        """Worker number -> pid of the running process (for tests and status)."""
        return {n: p.pid for n, p in self._processes.items() if p.returncode is None}

    async def _keep_running(self, number: int) -> None:
        delay = RESTART_MIN_S
        while True:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "keymgr",
                "server",
                "--config",
                str(self._config_path),
                "--worker",
                str(number),
                stdin=asyncio.subprocess.DEVNULL,
            )
            self._processes[number] = process
            started = asyncio.get_running_loop().time()
            code = await process.wait()
            lived = asyncio.get_running_loop().time() - started
            log.warning("worker %d (pid %d) exited with %s; restarting", number, process.pid, code)
            self.restarts += 1
            delay = RESTART_MIN_S if lived > 10 * RESTART_MAX_S else min(delay * 2, RESTART_MAX_S)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for process in self._processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self._processes.values():
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                await process.wait()
