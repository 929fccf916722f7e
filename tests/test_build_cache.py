"""The incremental build cache: an optimisation that never changes the result.

A build with the cache must write exactly what a ``--no-cache`` build writes, whatever state the
cache is in; an unchanged input gives "up to date" and touches nothing. Each test has its own
default cache directory (CPCOMPILE_CACHE_DIR = tmp_path/cache, outside the config root).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import stat
from pathlib import Path

import pytest

from conftest import CONFIG_DIRS, copy_example, dir_state, edit, example_files, run

from cpcompile import __version__, yamlsrc

OUTPUTS = ("artifact.json", "artifact.msgpack", "manifest.json")
CACHE = "cache"
EXAMPLE_FILES = len(example_files())  # the example config's files: one cached parse each

pytestmark = pytest.mark.usefixtures("cache_dir")  # each test's own default cache directory: tmp_path/cache


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


# --- up to date ----------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, "elsewhere"])
def test_unchanged_input_is_up_to_date_and_writes_nothing(tmp_path, cache_dir, given):
    """With the default cache directory (given None) and with --cache-dir."""
    root = copy_example(tmp_path / "root")
    used = cache_dir if given is None else tmp_path / given
    flags = [] if given is None else ["--cache-dir", used]
    first = run("build", root, *flags)
    assert first.exit_code == 0 and "wrote" in first.output
    before = dir_state(root / "build")
    cache_before = {p: p.stat().st_mtime_ns for p in used.rglob("*")}
    assert cache_before

    second = run("build", root, *flags)
    assert second.exit_code == 0, second.output
    assert f"up to date {root / 'build'}: " in second.output
    assert report(second.output) == report(first.output)
    assert second.output.splitlines()[-1].split(": ", 1)[1] == first.output.splitlines()[-1].split(": ", 1)[1]
    assert dir_state(root / "build") == before
    cache_after = {p: p.stat().st_mtime_ns for p in used.rglob("*")}
    assert cache_after == cache_before
    if given is not None:
        assert not cache_dir.exists()
    assert sorted(os.listdir(root)) == sorted([*CONFIG_DIRS, "build"])


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
    assert f"0 errors, 1 warning in {len(example_files())} files checked" in second.output

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
    elif re.search(rb'"files_checked":\s*%d\b' % EXAMPLE_FILES, payload):  # one file more, same length
        payload = re.sub(rb'("files_checked":\s*)%d\b' % EXAMPLE_FILES, rb"\g<1>%d" % (EXAMPLE_FILES + 1), payload)
    else:
        match = re.search(rb'"(?:name|alias)":\s*"', payload)
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
    assert len(docs) == EXAMPLE_FILES and len(cache_files(tmp_path, "builds")) == 1
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
    # without the per-destination records and datastream pieces, every document is read again
    for path in cache_files(tmp_path, "state") + cache_files(tmp_path, "piece"):
        path.unlink()
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
    assert len(cache_files(tmp_path, "docs")) == EXAMPLE_FILES
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
    assert re.search(rb'"files_checked":\s*%d' % (EXAMPLE_FILES + 1), record.read_bytes())
    again = run("build", root)
    assert again.exit_code == 0
    assert report(again.output) == report(first.output)
    assert f"in {EXAMPLE_FILES} files checked" in again.output


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


# --- nothing in the checkout, and nothing without the key, decides what is built -------------------
#
# The attack: a pull request leaves destinations/ad-server.yaml as reviewed but plants a cache
# entry for that very file (keyed by its sha256) whose parsed document maps the ad server to
# another audience. The build must write what the YAML says, as `--no-cache` and `validate` do.

AD_SERVER = "destinations/ad-server.yaml"
LISTED, UNLISTED = "499eb3e7-3d50-47d3-ad30-a5ad99e8ab77", "399eb3e7-3d50-47d3-ad30-a5ad99e8ab77"
AD_SERVER_ID = "2c0e6f4a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"


def forged_config(root: Path, tmp_path: Path) -> Path:
    """A copy of ``root`` whose ad server has the audience list the attacker wants."""
    forged = tmp_path / "forged-config"
    if not forged.exists():
        shutil.copytree(root, forged, ignore=shutil.ignore_patterns("build", ".cpcompile-cache"))
        edit(forged / AD_SERVER, LISTED, UNLISTED)
    return forged


def ad_server_audiences(out: Path) -> set[str]:
    body = json.loads((out / "artifact.json").read_bytes())["body"]
    found = set()
    for stream in body["datastreams"].values():
        index = [i for i, d in enumerate(stream["destinations"]) if d["destinationId"] == AD_SERVER_ID]
        for audience, entry in stream["audiences"].items():
            if any(m["destination"] in index for m in entry["mappings"]):
                found.add(audience)
    return found


def old_style_entry(key: str, value_or_payload) -> bytes:
    """An entry as cpcompile 0.1.0 wrote it: a header with the entry's own sha256, which anyone
    can compute."""
    payload = value_or_payload if isinstance(value_or_payload, bytes) else json.dumps(
        value_or_payload, ensure_ascii=False, separators=(",", ":")
    ).encode()
    return b"cpcompile-cache %s %s\n" % (key.encode(), hashlib.sha256(payload).hexdigest().encode()) + payload


def payload_of(entry: Path) -> bytes:
    return entry.read_bytes().partition(b"\n")[2]


def the_attack_works(root: Path, tmp_path: Path) -> dict[str, bytes]:
    """What the forged config compiles to, shown to differ from the reviewed one."""
    out = tmp_path / "forged-build"
    assert run("build", forged_config(root, tmp_path), "--out", out, "--no-cache").exit_code == 0
    assert UNLISTED in ad_server_audiences(out)
    return files(out)


def assert_built_as_reviewed(root: Path, tmp_path: Path, result, out: Path) -> None:
    assert result.exit_code == 0, result.output
    expected, expected_report = reference(root, tmp_path)
    assert files(out) == expected
    assert ad_server_audiences(out) == {LISTED, "6e7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a9b", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"}
    assert report(result.output) == expected_report
    validated = run("validate", root)
    assert validated.exit_code == 0 and validated.output.strip() == expected_report


def test_a_cache_committed_in_the_checkout_is_not_read(tmp_path):
    root = copy_example(tmp_path / "root")
    forged_build = the_attack_works(root, tmp_path)
    sha = hashlib.sha256((root / AD_SERVER).read_bytes()).hexdigest()
    value = yamlsrc.parse((tmp_path / "forged-config" / AD_SERVER).read_text())
    # where cpcompile 0.1.0 looked, and where this version looks, relative to the root
    for version_dir in (f"v1-{__version__}-schema1", f"v2-{__version__}-schema1"):
        entry = root / ".cpcompile-cache" / version_dir / "docs" / sha[:2] / f"{sha}.json"
        entry.parent.mkdir(parents=True)
        entry.write_bytes(old_style_entry(sha, value))
    # and a build/ that the forged config would give, committed too
    (root / "build").mkdir()
    for name, data in forged_build.items():
        (root / "build" / name).write_bytes(data)

    result = run("build", root)
    assert "wrote" in result.output
    assert_built_as_reviewed(root, tmp_path, result, root / "build")

    # nor can the operator be talked into using it: a cache directory inside the root is refused
    refused = run("build", root, "--cache-dir", root / ".cpcompile-cache", "--out", tmp_path / "o")
    assert refused.exit_code == 2 and "inside the config root" in refused.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("forgery", ["old-style-checksum", "tagged-under-another-key"])
def test_a_forged_document_in_the_cache_directory_is_ignored(tmp_path, cache_dir, forgery):
    """Someone who can write the cache directory (a shared CI cache) but has not the key."""
    root = copy_example(tmp_path / "root")
    the_attack_works(root, tmp_path)
    assert run("build", root, "--out", tmp_path / "first").exit_code == 0
    sha = hashlib.sha256((root / AD_SERVER).read_bytes()).hexdigest()
    (entry,) = (p for p in cache_files(tmp_path, "docs") if p.name == f"{sha}.json")
    attacker_cache = tmp_path / "attacker-cache"
    forged = forged_config(root, tmp_path)
    assert run("build", forged, "--out", tmp_path / "attacker-out", "--cache-dir", attacker_cache).exit_code == 0
    forged_sha = hashlib.sha256((forged / AD_SERVER).read_bytes()).hexdigest()
    (theirs,) = (p for p in attacker_cache.glob("*/docs/*/*.json") if p.name == f"{forged_sha}.json")
    if forgery == "old-style-checksum":
        entry.write_bytes(old_style_entry(sha, payload_of(theirs)))
    else:
        entry.write_bytes(theirs.read_bytes())
    # without the per-destination records and datastream pieces, the document is read again
    for path in cache_files(tmp_path, "state") + cache_files(tmp_path, "piece"):
        path.unlink()

    result = run("build", root, "--out", tmp_path / "fresh")
    assert "wrote" in result.output
    assert_built_as_reviewed(root, tmp_path, result, tmp_path / "fresh")
    assert UNLISTED.encode() not in entry.read_bytes()  # and the entry is repaired


@pytest.mark.parametrize("forgery", ["old-style-checksum", "tagged-under-another-key"])
def test_a_forged_build_record_with_a_forged_build_is_not_up_to_date(tmp_path, forgery):
    """A build record claims that build/, which holds the forged config's output, is up to date."""
    root = copy_example(tmp_path / "root")
    forged_build = the_attack_works(root, tmp_path)
    # the record's name is the digest of the reviewed inputs, which anyone can compute
    assert run("build", root, "--out", tmp_path / "scratch", "--cache-dir", tmp_path / "scratch-cache").exit_code == 0
    (record_name,) = [p.name for p in (tmp_path / "scratch-cache").glob("*/builds/*.json")]
    attacker_cache = tmp_path / "attacker-cache"
    forged = forged_config(root, tmp_path)
    assert run("build", forged, "--out", tmp_path / "attacker-out", "--cache-dir", attacker_cache).exit_code == 0
    (theirs,) = attacker_cache.glob("*/builds/*.json")
    (version_dir,) = (p.name for p in attacker_cache.iterdir() if p.is_dir())
    planted = tmp_path / CACHE / version_dir / "builds" / record_name
    planted.parent.mkdir(parents=True)
    if forgery == "old-style-checksum":
        planted.write_bytes(old_style_entry(record_name.removesuffix(".json"), payload_of(theirs)))
    else:
        planted.write_bytes(theirs.read_bytes())
    (root / "build").mkdir()
    for name, data in forged_build.items():
        (root / "build" / name).write_bytes(data)

    result = run("build", root)
    assert "up to date" not in result.output and "wrote" in result.output
    assert_built_as_reviewed(root, tmp_path, result, root / "build")


def _inside_by_option(root: Path, tmp_path: Path) -> tuple[list, dict]:
    return ["--cache-dir", root / ".cache"], {}


def _the_root_itself(root: Path, tmp_path: Path) -> tuple[list, dict]:
    return ["--cache-dir", root], {}


def _inside_by_environment(root: Path, tmp_path: Path) -> tuple[list, dict]:
    return [], {"CPCOMPILE_CACHE_DIR": str(root / "destinations" / "cache")}


def _inside_through_a_link(root: Path, tmp_path: Path) -> tuple[list, dict]:
    (root / "hidden").mkdir()
    os.symlink(root / "hidden", tmp_path / "looks-outside")
    return ["--cache-dir", tmp_path / "looks-outside" / "cache"], {}


def _relative_from_inside(root: Path, tmp_path: Path) -> tuple[list, dict]:
    return ["--cache-dir", Path(os.path.relpath(root, Path.cwd())) / "sub" / ".." / "c"], {}


@pytest.mark.parametrize(
    "where", [_inside_by_option, _the_root_itself, _inside_by_environment, _inside_through_a_link, _relative_from_inside],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_cache_directory_inside_the_root_is_refused(tmp_path, where):
    root = copy_example(tmp_path / "root")
    flags, env = where(root, tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = run("build", root, *flags, env=env)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert "inside the config root" in result.output and "--no-cache" in result.output
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written, no build/
    assert run("build", root, *flags, "--no-cache", env=env).exit_code == 0


def test_a_cache_directory_inside_the_root_is_refused_by_the_api(tmp_path):
    from cpcompile.build import build
    from cpcompile.cache import CacheDirInsideRoot

    root = copy_example(tmp_path / "root")
    with pytest.raises(CacheDirInsideRoot):
        build(root, tmp_path / "out", cache_dir=root / ".cpcompile-cache")
    assert not (root / ".cpcompile-cache").exists() and not (tmp_path / "out").exists()


# --- the key ---------------------------------------------------------------------------------------


def test_the_key_file_is_made_private_on_first_use(tmp_path, cache_dir):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    key = cache_dir / "key"
    st = key.lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert [p.name for p in cache_dir.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert "up to date" in run("build", root).output
    assert key.read_bytes() == key.read_bytes() and key.lstat().st_ino == st.st_ino


def _truncated(key: Path, tmp_path: Path) -> None:
    key.write_bytes(key.read_bytes()[:7])


def _empty_key(key: Path, tmp_path: Path) -> None:
    key.write_bytes(b"")


def _too_long(key: Path, tmp_path: Path) -> None:
    key.write_bytes(key.read_bytes() + b"\n")


def _readable_by_others(key: Path, tmp_path: Path) -> None:
    key.chmod(0o644)  # anyone on the machine could forge entries with it


def _a_link(key: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.key").write_bytes(key.read_bytes())
    (tmp_path / "elsewhere.key").chmod(0o600)
    key.unlink()
    os.symlink(tmp_path / "elsewhere.key", key)


def _another_key(key: Path, tmp_path: Path) -> None:
    key.write_bytes(os.urandom(32))  # a whole key, just not the one the entries were tagged with


def _a_fifo(key: Path, tmp_path: Path) -> None:
    key.unlink()
    os.mkfifo(key, 0o600)


@pytest.mark.parametrize(
    "damage", [_truncated, _empty_key, _too_long, _readable_by_others, _a_link, _another_key, _a_fifo],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_damaged_key_file_is_replaced_and_its_entries_ignored(tmp_path, cache_dir, damage):
    root = copy_example(tmp_path / "root")
    assert run("build", root).exit_code == 0
    damage(cache_dir / "key", tmp_path)
    result = run("build", root)
    assert "wrote" in result.output  # nothing tagged under the old key is trusted
    assert files(root / "build") == reference(root, tmp_path)[0]
    st = (cache_dir / "key").lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32
    assert "up to date" in run("build", root).output
    if damage is _a_link:
        assert (tmp_path / "elsewhere.key").exists()  # replaced the link, not what it points to


def test_a_key_file_that_cannot_be_replaced_means_no_cache(tmp_path, cache_dir):
    root = copy_example(tmp_path / "root")
    (cache_dir / "key").mkdir(parents=True)
    for _ in range(2):
        result = run("build", root)
        assert result.exit_code == 0 and "wrote" in result.output
        assert files(root / "build") == reference(root, tmp_path)[0]
    assert cache_files(tmp_path) == []


def test_a_key_from_the_environment(tmp_path, cache_dir):
    root = copy_example(tmp_path / "root")
    ci = {"CPCOMPILE_CACHE_KEY": "0123456789abcdef-secret-of-the-ci"}
    assert "wrote" in run("build", root, env=ci).output
    assert not (cache_dir / "key").exists()
    assert "up to date" in run("build", root, env=ci).output
    other = {"CPCOMPILE_CACHE_KEY": "another-secret-of-another-ci"}
    assert "wrote" in run("build", root, env=other).output  # entries tagged under the first key: ignored
    assert "wrote" in run("build", root).output  # the key file's key is another one again
    assert files(root / "build") == reference(root, tmp_path)[0]

    short = run("build", root, env={"CPCOMPILE_CACHE_KEY": "short"})
    assert short.exit_code == 2 and "CPCOMPILE_CACHE_KEY" in short.output and "internal error" not in short.output
    assert run("build", root, "--no-cache", env={"CPCOMPILE_CACHE_KEY": "short"}).exit_code == 0


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CPCOMPILE_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/cpcompile"),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/cpcompile"),
        ({"CPCOMPILE_CACHE_DIR": "", "XDG_CACHE_HOME": "", "HOME": "/h"}, "/h/.cache/cpcompile"),
    ],
)
def test_default_cache_directory(tmp_path, environ, expected):
    root = copy_example(tmp_path / "root")
    env = {"CPCOMPILE_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": None, **environ}
    for name, value in env.items():
        if value is not None and value.startswith("/"):
            env[name] = str(tmp_path) + value
    result = run("build", root, env=env)
    assert result.exit_code == 0, result.output
    assert (tmp_path / expected.lstrip("/") / "key").is_file()


def test_a_cached_report_does_not_outlive_the_day(tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the catalog freshness warning (CP148) depends on today: a build the next month must not
    # take yesterday's report from the cache
    import time as clock

    root = copy_example(tmp_path / "config")
    edit(root / "audiences" / "prod.yaml", "sandbox: prod\n", "sandbox: prod\nexported_at: 2026-11-01T00:00:00Z\n")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    exported = 1793491200  # 2026-11-01
    monkeypatch.setattr(clock, "time", lambda: float(exported + 86400))
    first = run("build", root, "--out", tmp_path / "out")
    assert first.exit_code == 0 and "CP148" not in first.output
    monkeypatch.setattr(clock, "time", lambda: float(exported + 40 * 86400))
    later = run("build", root, "--out", tmp_path / "out")
    assert later.exit_code == 0 and "CP148" in later.output, later.output


def test_without_a_home_directory_build_is_a_usage_error(tmp_path, monkeypatch):
    """No --cache-dir, no CPCOMPILE_CACHE_DIR or XDG_CACHE_HOME, and no home: nowhere to keep the
    cache, which the user must settle (exit 2, not an internal error)."""
    def no_home() -> Path:
        raise RuntimeError("no home")

    root = copy_example(tmp_path / "root")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    result = run("build", root, env={"CPCOMPILE_CACHE_DIR": None, "XDG_CACHE_HOME": None, "HOME": None})
    assert result.exit_code == 2, result.output
    assert "--no-cache" in result.output
    assert not (root / "build").exists()
    assert run("build", root, "--no-cache", env={"HOME": None}).exit_code == 0


def test_a_build_record_is_not_reused_past_the_second_a_catalog_turns_stale(tmp_path, monkeypatch):
    """With the clock as "now", CP148 appears at a precise second: an identical earlier build of
    the same day is reused only before it."""
    import time

    root = copy_example(tmp_path / "root")
    edit(root / "audiences" / "prod.yaml", "sandbox: prod\n", "sandbox: prod\nexported_at: 2026-01-01T12:00:00Z\n")
    crossing = 1_767_268_800 + 30 * 86_400 + 1  # 2026-01-01T12:00:00Z plus the default 30 days
    env = {"SOURCE_DATE_EPOCH": None}
    monkeypatch.setattr(time, "time", lambda: crossing - 10)
    first = run("build", root, env=env)
    assert first.exit_code == 0 and "CP148" not in first.output
    again = run("build", root, env=env)
    assert "up to date" in again.output
    monkeypatch.setattr(time, "time", lambda: crossing + 10)
    later = run("build", root, env=env)
    assert later.exit_code == 0 and "CP148" in later.output and "up to date" not in later.output
