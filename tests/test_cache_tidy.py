"""The cache stays bounded: entries unused for too long, then the least recently used beyond the
size limit, are deleted by the runs that write entries; nothing else in the directory is touched,
and a build after any of it writes what a build without a cache writes."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from conftest import copy_example, edit, run

from cpcompile.build import build
from cpcompile.cache_tidy import DAY, MARKER, CacheLimits, limits_from_environ, tidy
from cpcompile.validate_cache import validate_root

pytestmark = pytest.mark.usefixtures("cache_dir")  # each test's own default cache directory


def entries(cache: Path) -> dict[Path, int]:
    """Each entry of the cache (in its version folders), to its size."""
    return {p: p.stat().st_size for p in sorted(cache.glob("v*/**/*")) if p.is_file()}


def age(paths: Iterable[Path], days: float) -> None:
    then = time.time() - days * DAY
    for path in paths:
        os.utime(path, (then, then))


def used_today(path: Path) -> bool:
    return time.time() - path.stat().st_mtime < DAY


def reference_bytes(root: Path, out: Path) -> bytes:
    assert build(root, out).revision is not None
    return (out / "artifact.json").read_bytes()


def test_entries_unused_for_longer_than_the_limit_are_deleted_by_the_next_run_that_writes(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    build(root, root / "build", cache_dir=cache)
    old = entries(cache)
    assert old
    age([*old, cache / MARKER], 31)
    # another version's folder, as an upgrade leaves behind: aged out the same way
    other = cache / "v2-0.0.9-schema1" / "docs" / "ab"
    other.mkdir(parents=True)
    (other / "x.json").write_text("{}")
    age([other / "x.json"], 40)

    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    outcome = build(root, root / "build", cache_dir=cache)

    assert outcome.revision is not None
    # what this run read (the parsed documents of the unchanged files) is in use again; the rest
    # (the old build record, the old context's state) is gone
    assert entries(cache) and all(used_today(p) for p in entries(cache))
    assert any(not p.exists() for p in old if "builds" in p.parts)
    assert not (cache / "v2-0.0.9-schema1").exists()  # emptied folders go too
    assert (cache / "key").read_bytes()  # never the key
    assert (root / "build/artifact.json").read_bytes() == reference_bytes(root, tmp_path / "ref")


def test_an_entry_read_is_in_use_and_stays(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    build(root, root / "build", cache_dir=cache)
    age([*entries(cache), cache / MARKER], 20)
    assert build(root, root / "build", cache_dir=cache).up_to_date  # reads the build record: used today
    used = [p for p in entries(cache) if time.time() - p.stat().st_mtime < DAY]
    assert [p.parent.name for p in used] == ["builds"]

    age([cache / MARKER], 1)
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    build(root, root / "build", cache_dir=cache, cache_limits=CacheLimits(max_age_days=10))
    assert all(p.exists() for p in used)


def test_beyond_the_size_limit_the_least_recently_used_go_first(tmp_path):
    cache = tmp_path / "c"
    folder = cache / "v2-0.1.0-schema2" / "docs" / "aa"
    folder.mkdir(parents=True)
    for n in range(10):  # entry n: n+1 hundred bytes, last used n hours ago
        (folder / f"e{n}").write_bytes(b"x" * 100 * (n + 1))
        then = time.time() - n * 3600
        os.utime(folder / f"e{n}", (then, then))

    tidied = tidy(cache, CacheLimits(max_bytes=1_099))

    assert sorted(p.name for p in folder.iterdir()) == ["e0", "e1", "e2", "e3"]  # 1,000 bytes; with e4, 1,500
    assert (tidied.files_kept, tidied.bytes_kept, tidied.files_removed, tidied.bytes_removed) == (4, 1_000, 6, 4_500)


def test_a_build_over_the_size_limit_keeps_its_newest_entries(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    build(root, root / "build", cache_dir=cache)
    first = entries(cache)
    age([*first, cache / MARKER], 2)
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    limit = sum(first.values())
    build(root, root / "build", cache_dir=cache, cache_limits=CacheLimits(max_bytes=limit))

    kept = entries(cache)
    assert sum(kept.values()) <= limit
    assert set(first) - set(kept), "something old had to go"
    assert all(used_today(p) for p in set(kept) - set(first))
    # what is left still serves: the tree as it is now is up to date
    assert build(root, root / "build", cache_dir=cache).up_to_date


def test_a_zero_size_limit_keeps_nothing_and_builds_the_same(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    outcome = build(root, root / "build", cache_dir=cache, cache_limits=CacheLimits(max_bytes=0))
    assert outcome.revision is not None and entries(cache) == {}
    assert (root / "build/artifact.json").read_bytes() == reference_bytes(root, tmp_path / "ref")
    assert not build(root, root / "build", cache_dir=cache, cache_limits=CacheLimits(max_bytes=0)).up_to_date


def test_the_cache_is_looked_over_at_most_once_per_interval(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    build(root, root / "build", cache_dir=cache)
    marked = (cache / MARKER).stat().st_mtime
    old = entries(cache)
    age(old, 40)
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    build(root, root / "build", cache_dir=cache)  # the marker is fresh: no look, old entries stay
    assert all(p.exists() for p in old)
    assert (cache / MARKER).stat().st_mtime == marked

    edit(root / "datastreams/web-prod.yaml", "name: ", "name: Renamed ")
    build(root, root / "build", cache_dir=cache, cache_limits=CacheLimits(interval_seconds=0))
    assert any(not p.exists() for p in old)
    assert all(used_today(p) for p in old if p.exists())  # read by one of the two runs


def test_validate_keeps_the_cache_within_its_limits_too(tmp_path):
    root = copy_example(tmp_path / "root")
    cache = tmp_path / "c"
    validate_root(root, cache_dir=cache)
    old = entries(cache)
    assert old
    age([*old, cache / MARKER], 31)
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    validate_root(root, cache_dir=cache)
    assert entries(cache) and all(used_today(p) for p in entries(cache))
    assert any(not p.exists() for p in old if "validations" in p.parts)


def test_only_cpcompile_s_own_files_are_ever_deleted(tmp_path):
    cache = tmp_path / "c"
    folder = cache / "v2-0.1.0-schema2"
    (folder / "docs/aa").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    (folder / "docs/aa/link").symlink_to(outside / "precious")
    (folder / "docs/linked-folder").symlink_to(outside)
    (cache / "v3-linked").symlink_to(outside)
    (cache / "key").write_bytes(b"k" * 32)
    (cache / "notes.txt").write_text("mine")
    (cache / "vendor").mkdir()
    (cache / "vendor/data").write_text("theirs")
    (folder / "docs/aa/.entry.json.123.tmp").write_text("died writing")
    (folder / "docs/aa/.entry.json.456.tmp").write_text("being written")
    age([cache / "key", cache / "notes.txt", cache / "vendor/data", outside / "precious",
         folder / "docs/aa/.entry.json.123.tmp"], 400)

    tidied = tidy(cache, CacheLimits(max_bytes=0, max_age_days=1))

    assert (outside / "precious").read_text() == "keep"
    assert (folder / "docs/aa/link").is_symlink() and (cache / "v3-linked").is_symlink()
    assert (cache / "key").exists() and (cache / "notes.txt").exists() and (cache / "vendor/data").exists()
    assert not (folder / "docs/aa/.entry.json.123.tmp").exists()  # a dead writer's temp file
    assert (folder / "docs/aa/.entry.json.456.tmp").exists()  # a live writer's is left alone
    assert (tidied.files_removed, tidied.files_kept, tidied.bytes_kept) == (1, 0, 0)


def test_tidy_never_fails_on_a_missing_or_odd_cache(tmp_path):
    assert tidy(tmp_path / "nowhere", CacheLimits()).files_removed == 0
    (tmp_path / "a-file").write_text("not a folder")
    assert tidy(tmp_path / "a-file", CacheLimits(max_bytes=0)).files_removed == 0
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "v2-a-file").write_text("named like a version folder")
    os.mkfifo(odd / "v2-fifo")
    (odd / "v2-real/docs").mkdir(parents=True)
    os.mkfifo(odd / "v2-real/docs/fifo")
    assert tidy(odd, CacheLimits(max_bytes=0, max_age_days=1), now=time.time() + 400 * DAY).files_removed == 0
    assert (odd / "v2-a-file").exists() and (odd / "v2-fifo").exists() and (odd / "v2-real/docs/fifo").exists()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, CacheLimits()),
        ({"CPCOMPILE_CACHE_MAX_SIZE": ""}, CacheLimits()),
        ({"CPCOMPILE_CACHE_MAX_SIZE": "2G"}, CacheLimits(max_bytes=2 << 30)),
        ({"CPCOMPILE_CACHE_MAX_SIZE": "500MiB"}, CacheLimits(max_bytes=500 << 20)),
        ({"CPCOMPILE_CACHE_MAX_SIZE": "64k"}, CacheLimits(max_bytes=64 << 10)),
        ({"CPCOMPILE_CACHE_MAX_SIZE": "12345"}, CacheLimits(max_bytes=12345)),
        ({"CPCOMPILE_CACHE_MAX_AGE_DAYS": "7"}, CacheLimits(max_age_days=7)),
    ],
)
def test_limits_from_the_environment(environ, expected):
    assert limits_from_environ(environ) == expected


@pytest.mark.parametrize("command", ["build", "validate"])
@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("CPCOMPILE_CACHE_MAX_SIZE", "lots", "CPCOMPILE_CACHE_MAX_SIZE is 'lots'; write a size such as 500M"),
        ("CPCOMPILE_CACHE_MAX_SIZE", "-1G", "CPCOMPILE_CACHE_MAX_SIZE is '-1G'"),
        ("CPCOMPILE_CACHE_MAX_SIZE", "1.5G", "CPCOMPILE_CACHE_MAX_SIZE is '1.5G'"),
        ("CPCOMPILE_CACHE_MAX_SIZE", "9" * 5000, "CPCOMPILE_CACHE_MAX_SIZE is '" + "9" * 40 + "'"),
        ("CPCOMPILE_CACHE_MAX_AGE_DAYS", "0", "CPCOMPILE_CACHE_MAX_AGE_DAYS is '0'; write a whole number of days"),
        ("CPCOMPILE_CACHE_MAX_AGE_DAYS", "٣", "CPCOMPILE_CACHE_MAX_AGE_DAYS is '٣'"),
        ("CPCOMPILE_CACHE_MAX_AGE_DAYS", "9" * 5000, "CPCOMPILE_CACHE_MAX_AGE_DAYS is '" + "9" * 40 + "'"),
    ],
)
def test_an_unreadable_limit_is_a_usage_error(tmp_path, command, name, value, says):
    root = copy_example(tmp_path / "root")
    result = run(command, root, env={name: value})
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not (root / "build").exists()


def test_the_command_line_applies_the_limits_from_the_environment(tmp_path, cache_dir):
    root = copy_example(tmp_path / "root")
    assert run("build", root, env={"CPCOMPILE_CACHE_MAX_SIZE": "0"}).exit_code == 0
    assert entries(cache_dir) == {}
    assert run("build", root).exit_code == 0
    assert entries(cache_dir)
