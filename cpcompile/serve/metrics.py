"""Counters and a latency histogram, rendered as Prometheus text.

Labels are route templates, never raw paths, so a client cannot grow the label set.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Iterable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


