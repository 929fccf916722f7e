"""The counters of a server's workers, added up, so that ``/metrics`` answers for the whole server.

``cpcompile serve --workers N`` runs N processes, each answering the connections the kernel hands
it, and a scrape reaches one of them. The supervisor makes a private directory and names it in
``CPCOMPILE_SERVE_METRICS_DIR``; each worker writes its counters there, to a file of its own,
every ``INTERVAL`` seconds and when it stops; the worker that answers a scrape adds the others'
latest files to its own live counters. The file of a worker that died is kept, so the totals
never go back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..atomic import write_atomic

DIRECTORY = "CPCOMPILE_SERVE_METRICS_DIR"
INTERVAL = 1.0
# one worker's counters are a few KB (routes and statuses are bounded); anything larger is not one
_MAX_FILE = 1 << 20


class WorkerFiles:
    """The counter files in ``directory``; this worker's is named by its process ID."""

    def __init__(self, directory: Path, worker: int | None = None) -> None:
        self.directory = directory
        self.mine = f"{os.getpid() if worker is None else worker}.json"

    def write(self, counters: dict[str, Any]) -> None:
        """Replace this worker's file whole (its temp file is a dot-file, which ``others`` skips);
        a directory that cannot be written costs only the sum."""
        try:
            data = json.dumps(counters, separators=(",", ":")).encode()
            write_atomic(self.directory / self.mine, data, mode=0o600, durable=False)
        except OSError:
            pass

    def others(self) -> list[Any]:
        """The latest counters of every other worker, dead or alive, as written (unchecked JSON)."""
        found: list[Any] = []
        try:
            names = sorted(os.listdir(self.directory))
        except OSError:
            return found
        for name in names:
            if name == self.mine or not name.endswith(".json") or name.startswith("."):
                continue
            try:
                with open(self.directory / name, "rb") as handle:
                    data = handle.read(_MAX_FILE + 1)
                if len(data) <= _MAX_FILE:
                    found.append(json.loads(data))
            except (OSError, ValueError):
                continue
        return found


def from_environment(environ: Mapping[str, str]) -> WorkerFiles | None:
    directory = environ.get(DIRECTORY, "")
    return WorkerFiles(Path(directory)) if directory else None
