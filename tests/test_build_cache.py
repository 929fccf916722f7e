"""The incremental build cache: an optimisation that never changes the result.

A build with the cache must write exactly what a ``--no-cache`` build writes, whatever state the
cache is in; an unchanged input gives "up to date" and touches nothing. Each test has its own
default cache directory (CPCOMPILE_CACHE_DIR = tmp_path/cache, outside the config root).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import copy_example, dir_state

from cpcompile.cli import cli

OUTPUTS = ("artifact.json", "artifact.msgpack", "manifest.json")
CACHE = "cache"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """This test's default cache directory; the command line reads the environment."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.delenv("CPCOMPILE_CACHE_KEY", raising=False)
    monkeypatch.setenv("CPCOMPILE_CACHE_DIR", str(tmp_path / CACHE))
    return tmp_path / CACHE


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)




def files(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


def reference(root: Path, tmp_path: Path, *extra: str) -> tuple[dict[str, bytes], str]:
    """What a --no-cache build of ``root`` writes, and the diagnostics it prints."""
    out = tmp_path / f"reference-{len(list(tmp_path.glob('reference-*')))}"
    result = run("build", root, "--out", out, "--no-cache", *extra)
    assert result.exit_code == 0, result.output
    return files(out), report(result.output)


def report(output: str) -> str:
    """The diagnostics and summary, without the last 'wrote …'/'up to date …' line."""
    lines = output.splitlines()
    assert lines[-1].startswith(("wrote ", "up to date ")), output
    return "\n".join(lines[:-1])


def cache_files(base: Path, kind: str = "") -> list[Path]:
    """The entries (not the key file) of the cache in base/cache."""
    found = sorted(p for p in (base / CACHE).glob("*/**/*") if p.is_file())
    return [p for p in found if f"/{kind}/" in p.as_posix()] if kind else found


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


# --- up to date ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_dir", [None, "elsewhere"])
def test_unchanged_input_is_up_to_date_and_writes_nothing(tmp_path, cache_dir):
    root = copy_example(tmp_path / "root")
    flags = [] if cache_dir is None else ["--cache-dir", tmp_path / cache_dir]
    first = run("build", root, *flags)
    assert first.exit_code == 0 and "wrote" in first.output
    before = dir_state(root / "build")
    cache_before = {p: p.stat().st_mtime_ns for p in (tmp_path / (cache_dir or CACHE)).rglob("*")}

    second = run("build", root, *flags)
    assert second.exit_code == 0, second.output
    assert f"up to date {root / 'build'}: " in second.output
    assert report(second.output) == report(first.output)
    assert second.output.splitlines()[-1].split(": ", 1)[1] == first.output.splitlines()[-1].split(": ", 1)[1]
    assert dir_state(root / "build") == before
    cache_after = {p: p.stat().st_mtime_ns for p in (tmp_path / (cache_dir or CACHE)).rglob("*")}
    assert cache_after == cache_before
    if cache_dir is not None:
        assert not (tmp_path / CACHE).exists()
    assert sorted(os.listdir(root)) == ["audiences", "build", "datastreams", "destinations"]


def test_up_to_date_through_the_api(tmp_path):
    from cpcompile.build import build

    root = copy_example(tmp_path / "root")
    first = build(root, root / "build", cache_dir=tmp_path / "api-cache")
    again = build(root, root / "build", cache_dir=tmp_path / "api-cache")
    assert not first.up_to_date and again.up_to_date
    assert (again.revision, again.manifest, again.files_checked) == (first.revision, first.manifest, first.files_checked)


def test_warnings_are_reported_on_an_up_to_date_build(tmp_path):
    root = copy_example(tmp_path / "root")
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    first = run("build", root)
    assert first.exit_code == 0 and "warning CP134" in first.output
    second = run("build", root)
    assert second.exit_code == 0
    assert "up to date" in second.output
    assert report(second.output) == report(first.output)
    assert "destinations/home-personalization-staging.yaml:" in second.output
    assert "0 errors, 1 warning in 7 files checked" in second.output

    as_json = run("build", root, "--format", "json")
    assert as_json.exit_code == 0
    diagnostics = json.loads(as_json.output)["diagnostics"]
    assert [d["code"] for d in diagnostics] == ["CP134"]
    assert as_json.output == run("build", root, "--format", "json", "--no-cache", "--out", tmp_path / "o").output

    github = run("build", root, "--format", "github")
    assert github.output.startswith("::warning file=destinations/home-personalization-staging.yaml,")


# --- changes are seen ----------------------------------------------------------------------------


def test_changed_file_rebuilds_like_no_cache(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    old = files(root / "build")
    edit(root / "destinations/home-personalization.yaml", "end: 2027-01-31", "end: 2027-02-28")
    result = run("build", root)
    assert result.exit_code == 0 and "wrote" in result.output
    assert files(root / "build") != old
    assert b'"end":1803859200'  # 2027-03-01T00:00:00Z in (root / "build/artifact.json").read_bytes()
    expected, expected_report = reference(root, tmp_path)
    assert files(root / "build") == expected
    assert report(result.output) == expected_report


def test_same_size_same_mtime_edit_is_still_seen(tmp_path):
    """The cache is keyed on content, not on size and modification time."""
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    path = root / "destinations/ad-server.yaml"
    st = path.stat()
    edit(path, "alias: adServerAlias", "alias: adServerAlibs")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size
    result = run("build", root)
    assert "wrote" in result.output
    assert b"adServerAlibs" in (root / "build/artifact.json").read_bytes()


def test_added_and_removed_files_are_seen(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    (root / "destinations/ad-server.yaml").rename(tmp_path / "ad-server.yaml")
    result = run("build", root)
    assert "wrote" in result.output and "2 destinations" in result.output
    assert files(root / "build") == reference(root, tmp_path)[0]
    (tmp_path / "ad-server.yaml").rename(root / "destinations/ad-server.yaml")
    result = run("build", root)
    assert "wrote" in result.output and "3 destinations" in result.output
    assert files(root / "build") == reference(root, tmp_path)[0]


def test_change_and_revert_gives_the_original_bytes(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    original = files(root / "build")
    path = root / "destinations/ad-server.yaml"
    text = path.read_text()
    path.write_text(text.replace("adServerAlias", "adServerAlias2"))
    assert run("build", root).exit_code == 0
    path.write_text(text)
    result = run("build", root)
    assert result.exit_code == 0 and "wrote" in result.output
    assert files(root / "build") == original


def test_options_are_part_of_the_input(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    result = run("build", root, env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert "wrote" in result.output
    assert json.loads((root / "build/manifest.json").read_bytes())["built_at"] == "2023-11-14T22:13:20Z"
    result = run("build", root)
    assert "wrote" in result.output
    assert "built_at" not in json.loads((root / "build/manifest.json").read_bytes())

    assert run("keygen", "--out", tmp_path / "keys").exit_code == 0
    result = run("build", root, "--sign-key", tmp_path / "keys/cpcompile.key")
    assert "wrote" in result.output and (root / "build/artifact.sig").exists()
    assert "up to date" in run("build", root, "--sign-key", tmp_path / "keys/cpcompile.key").output
    assert run("keygen", "--out", tmp_path / "keys", "--force").exit_code == 0
    result = run("build", root, "--sign-key", tmp_path / "keys/cpcompile.key")
    assert "wrote" in result.output
    assert run("verify", root / "build/artifact.json", "--public-key", tmp_path / "keys/cpcompile.pub").exit_code == 0


def test_the_settings_file_is_part_of_the_input(tmp_path):
    root = copy_example(tmp_path / "root")
    edit(root / "datastreams/web-staging.yaml", "edge_segmentation: true", "edge_segmentation: false")
    first = run("build", root)
    assert first.exit_code == 0 and "warning CP134" in first.output
    (root / "cpcompile.yaml").write_text("diagnostics:\n  CP134: off\n")
    quiet = run("build", root)
    assert quiet.exit_code == 0 and "CP134" not in quiet.output
    assert report(quiet.output) == reference(root, tmp_path)[1]
    (root / "cpcompile.yaml").write_text("diagnostics:\n  CP134: error\n")
    failing = run("build", root)
    assert failing.exit_code == 1 and "error CP134" in failing.output
    assert failing.output == run("build", root, "--no-cache", "--out", tmp_path / "o").output


def test_another_out_dir_is_written(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    result = run("build", root, "--out", tmp_path / "other")
    assert "wrote" in result.output
    assert files(tmp_path / "other") == files(root / "build")


# --- the output directory is checked, not trusted --------------------------------------------------


def _delete(out: Path, name: str) -> None:
    (out / name).unlink()


def _tamper(out: Path, name: str) -> None:
    data = bytearray((out / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / name).write_bytes(bytes(data))


def _stale_signature(out: Path, name: str) -> None:
    (out / "artifact.sig").write_bytes(b'{"algorithm":"ed25519"}')


@pytest.mark.parametrize(
    ("damage", "name"),
    [
        (_delete, "artifact.json"),
        (_delete, "artifact.msgpack"),
        (_delete, "manifest.json"),
        (_tamper, "artifact.json"),
        (_tamper, "artifact.msgpack"),
        (_tamper, "manifest.json"),
        (_stale_signature, "artifact.sig"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_damaged_output_is_written_again(tmp_path, damage, name):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    original = files(root / "build")
    damage(root / "build", name)
    result = run("build", root)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "up to date" not in result.output
    assert files(root / "build") == original
    assert "up to date" in run("build", root).output


# --- a corrupt cache is ignored ------------------------------------------------------------------


def _truncate(path: Path, rng: random.Random) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(len(data))])


def _empty(path: Path, rng: random.Random) -> None:
    path.write_bytes(b"")


def _garble(path: Path, rng: random.Random) -> None:
    path.write_bytes(rng.randbytes(len(path.read_bytes())))


def _flip_random_byte(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def _junk_json(path: Path, rng: random.Random) -> None:
    path.write_text(rng.choice(['{"junk": true}', "[]", "null", '"text"', "42", "{}"]))


def _not_utf8(path: Path, rng: random.Random) -> None:
    path.write_bytes(b"\xff\xfe\xfd " + path.read_bytes())


def _directory(path: Path, rng: random.Random) -> None:
    path.unlink()
    path.mkdir()


def _payload_changed_header_kept(path: Path, rng: random.Random) -> None:
    """Plausible damage: the first (header) line kept, one byte of the JSON payload changed so
    that it is still valid JSON, with a different meaning."""
    data = path.read_bytes()
    header, newline, payload = data.partition(b"\n")
    if not newline:  # no header line: all of it is the payload
        header, payload = b"", data
    if b"adServerAlias" in payload:
        payload = payload.replace(b"adServerAlias", b"adServerAlibs")
    elif re.search(rb'"files_checked":\s*7', payload):
        payload = re.sub(rb'("files_checked":\s*)7', rb"\g<1>8", payload)
    else:
        match = re.search(rb'"name":\s*"', payload)
        assert match, f"nothing to change in {path}"
        i = match.end()
        payload = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
    changed = header + newline + payload
    assert changed != data and len(changed) == len(data)
    path.write_bytes(changed)


CORRUPTIONS = [
    _truncate, _empty, _garble, _flip_random_byte, _junk_json, _not_utf8, _directory, _payload_changed_header_kept,
]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
def test_corrupt_cache_is_ignored(tmp_path, corrupt):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    docs = cache_files(tmp_path, "docs")
    assert len(docs) == 7 and len(cache_files(tmp_path, "builds")) == 1
    rng = random.Random(corrupt.__name__)
    for path in cache_files(tmp_path):
        corrupt(path, rng)
    expected, expected_report = reference(root, tmp_path)

    # a fresh output directory: the build record cannot be reused, every document is looked up
    fresh = run("build", root, "--out", tmp_path / "fresh")
    assert fresh.exit_code == 0, fresh.output
    assert files(tmp_path / "fresh") == expected
    assert report(fresh.output) == expected_report

    # the original output directory, with the damaged (or by now repaired) build record
    again = run("build", root)
    assert again.exit_code == 0, again.output
    assert files(root / "build") == expected
    assert report(again.output) == expected_report


def test_corrupt_doc_cache_is_not_trusted_and_is_repaired(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    for path in cache_files(tmp_path, "docs"):
        _payload_changed_header_kept(path, random.Random(0))
    assert sum(b"adServerAlibs" in p.read_bytes() for p in cache_files(tmp_path, "docs")) == 1
    result = run("build", root, "--out", tmp_path / "out")
    assert result.exit_code == 0
    assert b"adServerAlibs" not in (tmp_path / "out/artifact.json").read_bytes()
    assert not any(b"adServerAlibs" in p.read_bytes() for p in cache_files(tmp_path, "docs"))


@pytest.mark.parametrize("corrupt", [_junk_json, _garble, _truncate], ids=lambda f: f.__name__.strip("_"))
def test_corrupt_cache_with_config_errors_still_reports_them(tmp_path, corrupt):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    edit(root / "destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    first = run("build", root)
    assert first.exit_code == 1 and "CP132" in first.output
    for path in cache_files(tmp_path):
        corrupt(path, random.Random(1))
    again = run("build", root)
    assert again.exit_code == 1
    assert again.output == first.output == run("build", root, "--no-cache").output


def test_cached_parses_give_the_same_positions(tmp_path):
    """Diagnostics of documents read from the cache point at the same file:line:col."""
    root = copy_example(tmp_path / "root")
    edit(root / "destinations/ad-server.yaml", "datastream: web-prod", "datastream: web-prd")
    edit(root / "destinations/home-personalization.yaml", "end: 2027-01-31", "end: 2026-11-30")
    first = run("build", root)
    assert first.exit_code == 1
    assert len(cache_files(tmp_path, "docs")) == 7
    again = run("build", root)
    assert again.output == first.output == run("build", root, "--no-cache").output
    assert "destinations/ad-server.yaml:7:13: error CP132" in again.output
    assert "CP126" in again.output


def test_cache_dir_that_cannot_be_created(tmp_path):
    root = copy_example(tmp_path / "root")
    (tmp_path / "cache").write_text("not a directory")
    for _ in range(2):
        result = run("build", root, "--cache-dir", tmp_path / "cache" / "sub")
        assert result.exit_code == 0, result.output
        assert "wrote" in result.output
    assert files(root / "build") == reference(root, tmp_path)[0]
    assert (tmp_path / "cache").read_text() == "not a directory"


def test_cache_of_another_version_is_not_read(tmp_path):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    (version_dir,) = (p for p in (tmp_path / CACHE).iterdir() if p.is_dir())
    foreign = version_dir.with_name("v1-0.0.0-old-schema1")
    shutil.copytree(version_dir, foreign)
    shutil.rmtree(version_dir)
    for path in cache_files(tmp_path):
        _garble(path, random.Random(2))
    result = run("build", root)
    assert result.exit_code == 0 and "wrote" in result.output
    assert files(root / "build") == reference(root, tmp_path)[0]


def test_build_record_byte_flip_does_not_change_the_report(tmp_path):
    """A build record whose payload still parses but says something else is not trusted."""
    root = copy_example(tmp_path / "root")
    first = run("build", root)
    (record,) = cache_files(tmp_path, "builds")
    _payload_changed_header_kept(record, random.Random(0))
    assert re.search(rb'"files_checked":\s*8', record.read_bytes())
    again = run("build", root)
    assert again.exit_code == 0
    assert report(again.output) == report(first.output)
    assert "in 7 files checked" in again.output


# --- what discovery finds wrong is part of the input too ------------------------------------------

def _add_not_utf8(root: Path, tmp_path: Path) -> None:
    (root / "destinations/bad.yaml").write_bytes(b"id: \xff\n")


def _add_too_big(root: Path, tmp_path: Path) -> None:
    (root / "destinations/huge.yaml").write_bytes(b"# " + b"x" * (4 * 1024 * 1024) + b"\n")


def _add_link_out_of_root(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_bytes((root / "destinations/ad-server.yaml").read_bytes())
    os.symlink(tmp_path / "outside.yaml", root / "destinations/link.yaml")


def _add_stray_file(root: Path, tmp_path: Path) -> None:
    (root / "destinations/notes.txt").write_text("not config\n")


@pytest.mark.parametrize(
    ("add", "code", "flags", "exit_code"),
    [
        (_add_not_utf8, "CP105", [], 1),
        (_add_too_big, "CP110", [], 1),
        (_add_link_out_of_root, "CP111", [], 1),
        (_add_stray_file, "CP112", [], 0),
        (_add_stray_file, "CP112", ["--strict"], 1),
    ],
    ids=["not-utf8", "too-big", "link-out-of-root", "stray-file", "stray-file-strict"],
)
def test_file_rejected_by_discovery_is_seen_by_a_cached_build(tmp_path, add, code, flags, exit_code):
    root = copy_example(tmp_path / "root")
    assert run("build", root, *flags).exit_code == 0
    before = dir_state(root / "build")
    add(root, tmp_path)
    expected = run("build", root, "--no-cache", "--out", tmp_path / "reference", *flags)
    assert expected.exit_code == exit_code and code in expected.output  # what the cache must not hide

    result = run("build", root, *flags)
    assert code in result.output
    assert result.exit_code == exit_code
    if exit_code:
        assert result.output == expected.output
        assert dir_state(root / "build") == before
    else:
        assert report(result.output) == report(expected.output)
