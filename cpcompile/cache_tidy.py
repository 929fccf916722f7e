"""Keeping the cache bounded: entries unused for ``max_age_days``, and then the least recently
used beyond ``max_bytes``, are deleted.

Every entry is an optimisation (cache.py), so deleting any of them at any moment, even one that
another run is about to read, costs only work done again. A run that wrote entries looks over
the whole cache at most once per ``interval_seconds`` (the mtime of the file ``tidied`` says
when it last did); reading an entry refreshes its mtime, at most once a day, so "used" means
read or written.

Only what cpcompile writes is touched: regular files inside the cache's version folders
(``v<format>-<version>-schema<N>``, of this version and of any other), never the key file,
nothing reached through a symbolic link, nothing else that happens to be in the directory.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

MARKER = "tidied"
DAY = 86_400
# a temp file this old belongs to a writer that died (a live one renames it within moments)
_ABANDONED_TEMP = 3600
_VERSION_FOLDER = re.compile(r"v[0-9]+-.+")
_SIZE = re.compile(r"([0-9]{1,18})\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class CacheLimitError(ValueError):
    """A cache limit in the environment that cannot be read (a usage error)."""


@dataclass(frozen=True)
class CacheLimits:
    max_bytes: int = 1 << 30
    max_age_days: int = 30
    interval_seconds: int = 3600


DEFAULT_LIMITS = CacheLimits()


def limits_from_environ(environ: Mapping[str, str]) -> CacheLimits:
    """``CPCOMPILE_CACHE_MAX_SIZE`` (bytes, or with K, M, G or T: powers of 1024) and
    ``CPCOMPILE_CACHE_MAX_AGE_DAYS`` (whole days), each when set and not empty."""
    limits = DEFAULT_LIMITS
    size = environ.get("CPCOMPILE_CACHE_MAX_SIZE", "").strip()
    if size:
        match = _SIZE.fullmatch(size)
        if not match:
            raise CacheLimitError(
                f"CPCOMPILE_CACHE_MAX_SIZE is {size[:40]!r}; write a size such as 500M or 2G (or a number of bytes)"
            )
        limits = CacheLimits(int(match[1]) * _UNITS[match[2].upper()], limits.max_age_days, limits.interval_seconds)
    age = environ.get("CPCOMPILE_CACHE_MAX_AGE_DAYS", "").strip()
    if age:
        if not (age.isascii() and age.isdigit() and len(age) <= 5 and 1 <= int(age) <= 36_500):
            raise CacheLimitError(f"CPCOMPILE_CACHE_MAX_AGE_DAYS is {age[:40]!r}; write a whole number of days, 1 or more")
        limits = CacheLimits(limits.max_bytes, int(age), limits.interval_seconds)
    return limits


@dataclass(frozen=True)
class Tidied:
    files_removed: int
    bytes_removed: int
    files_kept: int
    bytes_kept: int


def due(directory: Path, limits: CacheLimits, now: float) -> bool:
    """Whether the last look over ``directory`` was ``limits.interval_seconds`` ago or more; if
    so, the marker is renewed at once, so that runs finishing together do not all look."""
    marker = directory / MARKER
    try:
        if now - marker.stat().st_mtime < limits.interval_seconds:
            return False
    except FileNotFoundError:
        pass
    try:
        marker.touch(mode=0o600)
        os.utime(marker, (now, now))
    except OSError:
        return False  # a directory that cannot record it is not looked over on every run either
    return True


def tidy(directory: Path, limits: CacheLimits, now: float | None = None) -> Tidied:
    """Delete what ``limits`` exclude from the cache in ``directory``; never raises OSError."""
    now = time.time() if now is None else now
    entries: list[tuple[float, int, str]] = []
    removed = [0, 0]

    def remove(path: str, size: int) -> None:
        try:
            os.unlink(path)
        except OSError:
            return
        removed[0] += 1
        removed[1] += size

    folders = _version_folders(directory)
    for folder in folders:
        for base, _, names in os.walk(folder):  # never follows a link to a folder
            for name in names:
                path = os.path.join(base, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                if name.startswith(".") and name.endswith(".tmp"):
                    if now - st.st_mtime >= _ABANDONED_TEMP:
                        remove(path, st.st_size)
                    continue
                entries.append((st.st_mtime, st.st_size, path))
    cutoff = now - limits.max_age_days * DAY
    kept = [entry for entry in entries if entry[0] >= cutoff]
    for mtime, size, path in entries:
        if mtime < cutoff:
            remove(path, size)
    kept.sort(reverse=True)  # the most recently used first
    total = 0
    for index, (_, size, path) in enumerate(kept):
        if total + size > limits.max_bytes:
            for _, old_size, old_path in kept[index:]:
                remove(old_path, old_size)
            kept = kept[:index]
            break
        total += size
    for folder in folders:
        _remove_empty_folders(folder)
    return Tidied(removed[0], removed[1], len(kept), total)


def _version_folders(directory: Path) -> list[str]:
    try:
        children = list(os.scandir(directory))
    except OSError:
        return []
    return sorted(
        child.path for child in children if _VERSION_FOLDER.fullmatch(child.name) and child.is_dir(follow_symlinks=False)
    )


def _remove_empty_folders(folder: str) -> None:
    for base, _, _ in sorted(os.walk(folder), key=lambda walked: -len(walked[0])):
        try:
            os.rmdir(base)  # only succeeds when empty
        except OSError:
            pass
