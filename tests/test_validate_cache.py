"""`cpcompile validate` answers an unchanged tree from the report of the identical earlier run:
the same bytes on stdout and the same exit status as a cold run, in every format, without
importing pydantic; anything that could change the report is a miss (docs/build.md, "The cache")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cpcompile.incremental
from cpcompile.cache import Cache
from cpcompile.render import FORMATS
from conftest import CASES_DIR, copy_example, edit, run

MANY = CASES_DIR / "invalid" / "many-problems-across-files"  # 8 errors, 3 warnings, 2 files skipped
WARNING_ONLY = CASES_DIR / "invalid" / "cp134-edge-segmentation-off-warning"
EXPORTED = 1793534400  # 2026-11-01T12:00:00Z
CROSSING = EXPORTED + 30 * 86400 + 1  # the first second CP148 is due for it (the default limit, 30 days)
# a report that would be reused if its tag verified: no problems, true for any time
FORGED_RECORD = {"diagnostics": [], "files_checked": 7, "skipped": 0, "span": [0, 2**40]}
FORGED = json.dumps(FORGED_RECORD, separators=(",", ":")).encode()


@pytest.fixture
def cold_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many validations were actually run (not answered from the cache)."""
    calls: list[int] = []
    real = cpcompile.incremental.check

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cpcompile.incremental, "check", counted)
    return calls


def _tree(tmp_path: Path, source: Path = MANY) -> Path:
    root = tmp_path / "config"
    shutil.copytree(source, root)
    return root


def _entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("v*/validations/*.json"))


def _same(a, b) -> None:
    assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strict", [[], ["--strict"]])
def test_a_repeat_run_gives_the_cold_runs_bytes_and_exit_status(tmp_path, cache_dir, cold_runs, fmt, strict):
    root = _tree(tmp_path)
    cold = run("validate", root, "--format", fmt, *strict, "--no-cache")
    first = run("validate", root, "--format", fmt, *strict)
    again = run("validate", root, "--format", fmt, *strict)
    assert cold.exit_code == 1 and "CP132" in cold.stdout
    _same(first, cold)
    _same(again, cold)
    assert len(cold_runs) == 2  # --no-cache and the first run; the repeat was answered from the cache
    assert len(_entries(cache_dir)) == 1


def test_one_stored_report_serves_every_format_and_strictness(tmp_path, cache_dir, cold_runs):
    root = _tree(tmp_path, WARNING_ONLY)
    run("validate", root)
    for fmt in FORMATS:
        for strict in ([], ["--strict"]):
            _same(run("validate", root, "--format", fmt, *strict), run("validate", root, "--format", fmt, *strict, "--no-cache"))
    assert run("validate", root, "--strict").exit_code == 1 and run("validate", root).exit_code == 0
    assert len(cold_runs) == 1 + 2 * len(FORMATS)  # the first run and the --no-cache ones


def test_paths_are_shown_from_the_working_directory_on_a_hit_too(tmp_path, cache_dir, cold_runs, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    from_above = run("validate", "config")
    assert "config/destinations/typo.yaml" in from_above.stdout
    _same(run("validate", "config"), from_above)
    monkeypatch.chdir(tmp_path / "config")
    inside = run("validate", ".")
    _same(inside, run("validate", ".", "--no-cache"))
    assert "\ndestinations/typo.yaml:" in "\n" + inside.stdout
    assert len(cold_runs) == 2  # the first run and --no-cache


def test_a_hit_imports_no_pydantic(tmp_path):
    root = _tree(tmp_path)
    env = {**os.environ, "CPCOMPILE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("SOURCE_DATE_EPOCH", None)
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['cpcompile', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('cpcompile', run_name='__main__')\nexcept SystemExit as done:\n    code = done.code\n"
        "heavy = [m for m in ('pydantic', 'ruamel.yaml', 'cpcompile.rules', 'cpcompile.validate') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'EXIT', code, file=sys.stderr)\n"
    )

    def validate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", probe, "validate", str(root), "--format", "json", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )

    cold = validate("--no-cache")
    first = validate()
    again = validate()
    assert "HEAVY ['pydantic', 'ruamel.yaml', 'cpcompile.rules', 'cpcompile.validate'] EXIT 1" in first.stderr
    assert "HEAVY [] EXIT 1" in again.stderr, again.stderr
    assert again.stdout == first.stdout == cold.stdout and '"errors": 8' in cold.stdout


# ------------------------------------------------------------------------------- misses


def test_a_changed_file_is_a_miss(tmp_path, cache_dir, cold_runs):
    root = _tree(tmp_path)
    run("validate", root)
    edit(root / "destinations" / "typo.yaml", "web-prd", "web-prod")
    changed = run("validate", root)
    _same(changed, run("validate", root, "--no-cache"))
    assert "web-prd" not in changed.stdout
    assert len(cold_runs) == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "destinations" / "notes.txt").write_text("not config\n"),  # discovery's CP112
        lambda root: (root / "cpcompile.yaml").write_text("diagnostics:\n  CP134: error\n"),  # the settings file
        lambda root: (root / "destinations" / "typo.yaml").rename(root / "destinations" / "typo2.yaml"),  # a path
    ],
    ids=["stray-file", "settings", "renamed"],
)
def test_discovery_findings_settings_and_paths_are_inputs(tmp_path, cache_dir, cold_runs, change):
    root = _tree(tmp_path)
    before = run("validate", root)
    change(root)
    after = run("validate", root)
    _same(after, run("validate", root, "--no-cache"))
    assert after.stdout != before.stdout
    assert len(cold_runs) == 3


def test_changed_cpcompile_code_is_a_miss(tmp_path, cache_dir, cold_runs, monkeypatch):
    # the version says which release made a report; a checkout of cpcompile being edited
    # changes the code without changing the version
    import cpcompile.cache as cache
    from cpcompile import fingerprint

    code = tmp_path / "code"
    (code / "__pycache__").mkdir(parents=True)
    (code / "rules.py").write_text("RULES = ()\n")
    monkeypatch.setattr(fingerprint, "_CODE", str(code))
    root = _tree(tmp_path)

    def validate() -> None:  # as a new process would: the fingerprint is taken once a process
        cache.code_fingerprint.cache_clear()
        run("validate", root)

    try:
        validate()
        (code / "__pycache__" / "rules.cpython.pyc").write_bytes(b"compiled")  # byte code is not code
        validate()
        assert len(cold_runs) == 1
        (code / "rules.py").write_text("RULES = (check_everything,)\n")
        validate()
        assert len(cold_runs) == 2
    finally:
        cache.code_fingerprint.cache_clear()


def _stale_catalog(tmp_path: Path) -> Path:
    root = copy_example(tmp_path / "config")
    edit(root / "audiences" / "prod.yaml", "sandbox: prod\n", "sandbox: prod\nexported_at: 2026-11-01T12:00:00Z\n")
    return root


def test_a_changed_source_date_epoch_day_is_a_miss(tmp_path, cache_dir, cold_runs, monkeypatch):
    root = _stale_catalog(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EXPORTED + 86400))
    fresh = run("validate", root)
    assert fresh.exit_code == 0 and "CP148" not in fresh.stdout
    _same(run("validate", root), fresh)
    assert len(cold_runs) == 1
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EXPORTED + 40 * 86400))
    stale = run("validate", root)
    assert "warning CP148" in stale.stdout
    _same(stale, run("validate", root, "--no-cache"))
    assert len(cold_runs) == 3


def test_another_day_on_the_clock_is_a_miss(tmp_path, cache_dir, cold_runs, monkeypatch):
    import time as clock

    root = _stale_catalog(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr(clock, "time", lambda: float(EXPORTED + 86400))
    assert "CP148" not in run("validate", root).stdout
    monkeypatch.setattr(clock, "time", lambda: float(EXPORTED + 2 * 86400))
    run("validate", root)
    assert len(cold_runs) == 2  # no catalog turned stale, yet a report lives a day at most


def test_a_report_is_not_reused_past_the_second_a_catalog_turns_stale(tmp_path, cache_dir, cold_runs, monkeypatch):
    import time as clock

    root = _stale_catalog(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert (CROSSING - 60) // 86400 == (CROSSING + 60) // 86400  # the same UTC day
    monkeypatch.setattr(clock, "time", lambda: float(CROSSING - 60))
    assert "CP148" not in run("validate", root).stdout
    assert "CP148" not in run("validate", root).stdout
    assert len(cold_runs) == 1
    monkeypatch.setattr(clock, "time", lambda: float(CROSSING + 60))
    later = run("validate", root)
    assert "warning CP148" in later.stdout
    _same(later, run("validate", root, "--no-cache"))
    _same(run("validate", root), later)  # and the new report is reused in turn
    assert len(cold_runs) == 3


def test_a_report_whose_span_cannot_be_worked_out_is_not_stored(tmp_path, cache_dir, cold_runs, monkeypatch):
    def broken(*args):
        raise ValueError("no bounds")

    root = _stale_catalog(tmp_path)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr("cpcompile.values.window_bounds", broken)  # the rules keep their own reference
    _same(run("validate", root), run("validate", root, "--no-cache"))
    assert _entries(cache_dir) == [] and list(cache_dir.glob("v*/docs/*/*.json"))
    assert len(cold_runs) == 2


def _forge(entry: Path) -> None:
    header, _, _ = entry.read_bytes().partition(b"\n")
    entry.write_bytes(header + b'\n' + FORGED)


@pytest.mark.parametrize(
    "damage",
    [
        _forge,  # another payload under the genuine tag
        lambda entry: entry.write_bytes(entry.read_bytes()[:-1]),  # truncated
        lambda entry: entry.write_bytes(entry.read_bytes().replace(b"CP132", b"CP133")),  # one byte changed
        lambda entry: entry.write_bytes(b"not an entry"),
    ],
    ids=["forged", "truncated", "changed", "garbage"],
)
def test_a_forged_or_damaged_entry_is_ignored(tmp_path, cache_dir, cold_runs, damage):
    root = _tree(tmp_path)
    cold = run("validate", root)
    (entry,) = _entries(cache_dir)
    damage(entry)
    _same(run("validate", root), cold)
    assert len(cold_runs) == 2
    _same(run("validate", root), cold)  # the entry was written again, whole
    assert len(cold_runs) == 2


def test_an_entry_tagged_under_another_key_is_ignored(tmp_path, cache_dir, cold_runs):
    root = _tree(tmp_path)
    cold = run("validate", root)
    (entry,) = _entries(cache_dir)
    digest = entry.stem
    forger = Cache(cache_dir, b"k" * 32)  # a well-formed entry, tagged by someone without our key
    forger.store_validation_record(digest, FORGED_RECORD)
    forger.flush()
    _same(run("validate", root), cold)
    assert len(cold_runs) == 2
    secret = {"CPCOMPILE_CACHE_KEY": "a CI secret of some length"}
    _same(run("validate", root, env=secret), cold)  # entries tagged with the key file's key: ignored
    _same(run("validate", root, env=secret), cold)
    assert len(cold_runs) == 3


# ------------------------------------------------------------------------------- setup


def test_a_cache_directory_inside_the_root_is_refused(tmp_path, cold_runs):
    root = _tree(tmp_path)
    for args, env in ((["--cache-dir", root / "cache"], None), ([], {"CPCOMPILE_CACHE_DIR": str(root / "destinations")})):
        result = run("validate", root, *args, env=env)
        assert result.exit_code == 2 and "inside the config root" in result.stderr, result.output
    assert not (root / "cache").exists() and not _entries(root / "destinations")
    assert cold_runs == []


def test_no_cache_neither_reads_nor_writes(tmp_path, cache_dir, cold_runs):
    root = _tree(tmp_path)
    run("validate", root, "--no-cache")
    assert not cache_dir.exists()
    run("validate", root)
    run("validate", root, "--no-cache")
    assert len(cold_runs) == 3


def test_a_cache_that_cannot_be_used_never_fails_the_run(tmp_path, cold_runs):
    root = _tree(tmp_path)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory\n")
    cold = run("validate", root, "--no-cache")
    _same(run("validate", root, env={"CPCOMPILE_CACHE_DIR": str(blocked)}), cold)  # a file, not a folder
    _same(run("validate", root, "--cache-dir", blocked / "below"), cold)
    read_only = tmp_path / "read-only"
    run("validate", root, "--cache-dir", read_only)
    for entry in _entries(read_only):
        entry.chmod(0o000)  # unreadable (unless the tests run as root, which reads it anyway)
    _same(run("validate", root, "--cache-dir", read_only), cold)


def test_without_a_home_directory_validate_runs_without_a_cache(tmp_path, cold_runs, monkeypatch):
    # build calls that a usage error (where would it keep its cache?); a pre-commit hook that
    # worked before validate had a cache must go on working
    def no_home() -> Path:
        raise RuntimeError("no home")

    root = _tree(tmp_path)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    env = {"CPCOMPILE_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": None}
    _same(run("validate", root, env=env), run("validate", root, "--no-cache"))
    _same(run("validate", root, env=env), run("validate", root, "--no-cache"))
    assert len(cold_runs) == 4


def test_a_short_cache_key_is_a_usage_error_as_for_build(tmp_path, cold_runs):
    root = _tree(tmp_path)
    short = run("validate", root, env={"CPCOMPILE_CACHE_KEY": "short"})
    assert short.exit_code == 2 and "CPCOMPILE_CACHE_KEY" in short.stderr
    assert run("validate", root, "--no-cache", env={"CPCOMPILE_CACHE_KEY": "short"}).exit_code == 1


def test_validate_and_build_share_parsed_documents(tmp_path, cache_dir):
    root = copy_example(tmp_path / "config")
    run("validate", root)
    parsed = sorted(cache_dir.glob("v*/docs/*/*.json"))
    assert parsed
    assert run("build", root, "--out", tmp_path / "out").exit_code == 0
    assert sorted(cache_dir.glob("v*/docs/*/*.json")) == parsed
