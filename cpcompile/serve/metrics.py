"""Counters and a latency histogram, rendered as Prometheus text.

Labels are route templates, never raw paths, so a client cannot grow the label set.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from typing import Any, Iterable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# what a route template or a reason looks like; another worker's file naming anything else is
# not taken (it would become a label)
_NAME = re.compile(r"[A-Za-z0-9_/{}.-]{1,200}")


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self._bucket_counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)
        self.degraded: dict[str, int] = defaultdict(int)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        counts = self._bucket_counts.get(route)
        if counts is None:
            counts = self._bucket_counts[route] = [0] * (len(BUCKETS) + 1)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sums[route] += seconds

    def count_degraded(self, reason: str) -> None:
        self.degraded[reason] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON values, for ``add`` in another process (worker_metrics.py)."""
        return {
            "requests": [[route, status, count] for (route, status), count in sorted(self.requests.items())],
            "durations": {route: [counts, self._sums[route]] for route, counts in sorted(self._bucket_counts.items())},
            "degraded": dict(sorted(self.degraded.items())),
        }

    def add(self, snapshot: Any) -> None:
        """Add another worker's ``snapshot``; whatever in it is not shaped as ``snapshot`` makes it is skipped."""
        if not isinstance(snapshot, dict):
            return
        for item in _list(snapshot.get("requests")):
            if isinstance(item, list) and len(item) == 3 and _name(item[0]) and _status(item[1]) and _count(item[2]):
                self.requests[(item[0], item[1])] += item[2]
        durations = snapshot.get("durations")
        for route, value in (durations.items() if isinstance(durations, dict) else ()):
            if not (_name(route) and isinstance(value, list) and len(value) == 2):
                continue
            counts, total = value
            if not (isinstance(counts, list) and len(counts) == len(BUCKETS) + 1 and all(map(_count, counts))):
                continue
            if not (isinstance(total, (int, float)) and 0 <= total < 1e12):
                continue
            mine = self._bucket_counts.setdefault(route, [0] * (len(BUCKETS) + 1))
            for index, count in enumerate(counts):
                mine[index] += count
            self._sums[route] += total
        degraded = snapshot.get("degraded")
        for reason, count in (degraded.items() if isinstance(degraded, dict) else ()):
            if _name(reason) and _count(count):
                self.degraded[reason] += count

    def render(self, gauges: Iterable[tuple[str, str, str, float]], info: dict[str, str]) -> str:
        """``gauges``: (name, type, help, value); ``info``: labels of ``cpcompile_artifact_info``."""
        lines = [
            "# HELP cpcompile_requests_total Requests answered, by route and HTTP status.",
            "# TYPE cpcompile_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'cpcompile_requests_total{{route="{route}",status="{status}"}} {count}')
        lines += [
            "# HELP cpcompile_request_duration_seconds Time to answer a request, by route.",
            "# TYPE cpcompile_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self._bucket_counts.items()):
            running = 0
            for bound, count in zip(BUCKETS, counts):
                running += count
                lines.append(f'cpcompile_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {running}')
            running += counts[-1]
            lines.append(f'cpcompile_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {running}')
            lines.append(f'cpcompile_request_duration_seconds_sum{{route="{route}"}} {self._sums[route]:.6f}')
            lines.append(f'cpcompile_request_duration_seconds_count{{route="{route}"}} {running}')
        lines += [
            "# HELP cpcompile_degraded_answers_total Answers given without profile data, by reason.",
            "# TYPE cpcompile_degraded_answers_total counter",
        ]
        for reason, count in sorted(self.degraded.items()):
            lines.append(f'cpcompile_degraded_answers_total{{reason="{reason}"}} {count}')
        labels = ",".join(f'{key}="{_label(value)}"' for key, value in sorted(info.items()))
        lines += [
            "# HELP cpcompile_artifact_info The artifact answering requests.",
            "# TYPE cpcompile_artifact_info gauge",
            f"cpcompile_artifact_info{{{labels}}} 1",
        ]
        for name, kind, help_text, value in gauges:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {_number(value)}"]
        return "\n".join(lines) + "\n"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _status(value: Any) -> bool:
    return type(value) is int and 100 <= value <= 599


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < 1 << 62


def whole_count(value: Any) -> int:
    """``value`` if it is a count (a non-negative int, as another worker writes one), else 0."""
    return value if _count(value) else 0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


