"""`cpcompile validate` that reuses the report of an identical earlier validation.

A pre-commit hook validates the same tree again and again. The report is a function of the
files discovery finds (and what it finds wrong), the settings file, the cpcompile version and,
for the catalog freshness warning (CP148), "now": ``SOURCE_DATE_EPOCH`` when it holds whole
seconds, else the clock. So a report is stored under a digest of exactly those inputs, in the
cache ``cpcompile build`` uses (cache.py: outside the root, HMAC-authenticated entries, every
failure ignored), and an unchanged tree is answered from it without importing the models,
the YAML parser or the rules: this module imports only the standard library and the small
modules of the hit path at module level.

What is stored is the diagnostics as found, relative to the root, in the order a cold run
gives them, never rendered text: the output format, ``--strict`` and the working directory are
applied on the way out, exactly as for a cold run.

When "now" is the clock, a report also holds the span of time it is true for: a catalog's
freshness warning appears at a precise second (its export time plus the limit), so the report
is reused only between the latest such moment before the cold run and the next one after it,
and only on the same UTC day (the day is part of the digest, as for ``build``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sources
from .cache import Cache, check_outside, input_digest
from .cache_tidy import DEFAULT_LIMITS, CacheLimits
from .freshness import freshness_span, holds_at, now_key, source_date_epoch
from .diagnostics import Diagnostic, diagnostic_from_dict, exit_code



@dataclass
class Report:
    diagnostics: list[Diagnostic]  # relative to the root, sorted as validate_files sorts them
    files_checked: int
    skipped: int = 0
    reused: bool = False  # answered from the cache

    def exit_code(self, *, strict: bool = False) -> int:
        return exit_code(self.diagnostics, strict=strict)


def validate_root(
    root: Path, *, cache_dir: Path | None = None, cache_key: bytes | None = None, cache_limits: CacheLimits = DEFAULT_LIMITS
) -> Report:
    """The report of ``cpcompile validate ROOT``. With ``cache_dir`` (which must be outside the
    root, else cache.CacheDirInsideRoot), the report of an identical earlier validation is
    reused and a new one stored; entries are authenticated with ``cache_key``, or with the key
    file in ``cache_dir``, and the cache is kept within ``cache_limits``. Reads SOURCE_DATE_EPOCH
    from the environment, as the freshness rule (CP148) does."""
    discovery = sources.discover(root)
    cache = None
    if cache_dir is not None:
        check_outside(cache_dir, root)
        cache = Cache(cache_dir, cache_key, cache_limits)
    epoch = source_date_epoch()
    clock = int(time.time())
    digest = input_digest(discovery.inputs(), _options(discovery, epoch, clock))
    if cache is not None:
        reused = _reuse(cache.validation_record(digest), clock if epoch is None else None)
        if reused is not None:
            return reused
    report, span = _validate(discovery, cache, clock if epoch is None else None)
    if cache is not None:
        try:
            if span is not None:
                cache.store_validation_record(digest, _record(report, span))
        except ValueError:  # text JSON cannot carry as UTF-8 (a lone surrogate): not cached
            pass
        cache.flush()  # the parsed documents too
    return report


def _options(discovery: sources.Discovery, epoch: str | None, clock: int) -> list[str]:
    """Every input besides the files' content: what discovery itself reported, and "now"."""
    # cpcompile's own code is not among them: every cache entry's tag covers it (cache.code_fingerprint)
    return ["command=validate", f"unreadable={discovery.unreadable}", now_key(epoch, clock), *discovery.findings()]


def _validate(discovery: sources.Discovery, cache: Cache | None, clock: int | None) -> tuple[Report, list[int] | None]:
    """A cold validation, and (when "now" is the clock) the span of seconds its report holds for:
    [] when "now" is SOURCE_DATE_EPOCH, None when the span could not be worked out."""
    from . import incremental
    from .gcpause import paused_gc
    from .load import parse_source

    with paused_gc():  # checking again only the destination files the cache has no record of
        checked = incremental.check(discovery, cache, cache.parse if cache is not None else parse_source)
    report = Report(checked.diagnostics, checked.files_checked, checked.skipped)
    if clock is None:
        return report, []
    try:
        return report, freshness_span(checked.catalogs, checked.max_catalog_age_days, clock)
    except (AttributeError, TypeError, ValueError, OverflowError):  # no span: the report is not stored
        return report, None


def _record(report: Report, span: list[int]) -> dict[str, Any]:
    return {
        "diagnostics": [d.as_dict() for d in report.diagnostics],
        "files_checked": report.files_checked,
        "skipped": report.skipped,
        "span": span or None,
    }


def _reuse(record: dict[str, Any] | None, clock: int | None) -> Report | None:
    """The report in ``record``, if it holds for ``clock`` (None: "now" is SOURCE_DATE_EPOCH)."""
    if record is None:
        return None
    try:
        if not holds_at(record["span"], clock):
            return None
        diagnostics = [diagnostic_from_dict(d) for d in record["diagnostics"]]
        return Report(diagnostics, int(record["files_checked"]), int(record["skipped"]), reused=True)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
