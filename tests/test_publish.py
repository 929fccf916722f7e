"""`cpcompile publish`: the content-addressed layout, its current.json pointer written last, the
verification before anything is written, rollback and pruning; and the stdlib-only reader of
the pointer (cpcompile.publish_layout) against hostile bytes."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import copy_example, edit, run

import cpcompile.publish
from cpcompile.publish_layout import Pointer, PointerError, parse_pointer

HEX = "0123456789abcdef"


def _build(root: Path, *extra: object) -> str:
    result = run("build", root, "--no-cache", *extra)
    assert result.exit_code == 0, result.output
    return json.loads((root / "build/manifest.json").read_text())["artifact"]["revision"]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("keys")
    for name in ("ours", "theirs"):
        assert run("keygen", "--out", base / name).exit_code == 0
    return base


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, keys: Path) -> dict[str, tuple[Path, str]]:
    """Three unsigned builds of different revisions (a, b, c) and a signed one of a."""
    out: dict[str, tuple[Path, str]] = {}
    root = copy_example(tmp_path_factory.mktemp("config"))
    for name, alias in (("a", "adServerAlias"), ("b", "adServerAliasB"), ("c", "adServerAliasC")):
        if name != "a":
            edit(root / "destinations/ad-server.yaml", "alias: adServerAlias\n", f"alias: {alias}\n")
        revision = _build(root)
        kept = tmp_path_factory.mktemp(f"build-{name}")
        shutil.copytree(root / "build", kept, dirs_exist_ok=True)
        out[name] = (kept, revision)
        edit(root / "destinations/ad-server.yaml", f"alias: {alias}\n", "alias: adServerAlias\n")
    revision = _build(root, "--sign-key", keys / "ours/cpcompile.key")
    assert revision == out["a"][1]
    signed = tmp_path_factory.mktemp("build-signed")
    shutil.copytree(root / "build", signed, dirs_exist_ok=True)
    out["signed"] = (signed, revision)
    return out


@pytest.fixture
def build_copy(builds: dict[str, tuple[Path, str]], tmp_path: Path):  # type: ignore[no-untyped-def]
    """A private copy of a build, to damage."""

    def copy(name: str) -> Path:
        target = tmp_path / f"copy-{name}"
        shutil.copytree(builds[name][0], target)
        return target

    return copy


def stem(revision: str) -> str:
    return "sha256-" + revision.removeprefix("sha256:")


def pointer_of(dest: Path) -> Pointer:
    return parse_pointer((dest / "current.json").read_bytes())


def publish(*args: object):  # type: ignore[no-untyped-def]
    return run("publish", *args)


def tree(dest: Path) -> dict[str, tuple[bytes, int, int]]:
    """Content, mtime and inode of every file under ``dest``, temp files too, to show that a
    command left it untouched."""
    state = {}
    for path in sorted(dest.rglob("*")):
        if path.is_file():
            st = path.stat()
            state[path.relative_to(dest).as_posix()] = (path.read_bytes(), st.st_mtime_ns, st.st_ino)
    return state


# --- the layout ---------------------------------------------------------------------------------


def test_layout_holds_the_build_under_its_revision_and_a_pointer_to_it(builds, tmp_path):
    build, revision = builds["a"]
    dest = tmp_path / "site"
    result = publish(build, dest)
    assert result.exit_code == 0, result.output
    assert f"current.json now points to {revision}" in result.output
    assert sorted(os.listdir(dest)) == ["artifacts", "current.json"]
    assert sorted(os.listdir(dest / "artifacts")) == [f"{stem(revision)}.json", f"{stem(revision)}.msgpack"]
    assert (dest / f"artifacts/{stem(revision)}.json").read_bytes() == (build / "artifact.json").read_bytes()
    assert (dest / f"artifacts/{stem(revision)}.msgpack").read_bytes() == (build / "artifact.msgpack").read_bytes()

    document = json.loads((dest / "current.json").read_text())
    assert document == {
        "format": "cpcompile-pointer",
        "version": 1,
        "revision": revision,
        "files": {
            kind: {
                "path": f"artifacts/{stem(revision)}.{suffix}",
                "bytes": len((build / f"artifact.{suffix}").read_bytes()),
                "sha256": json.loads((build / "manifest.json").read_text())["files"][f"artifact.{suffix}"]["sha256"],
            }
            for kind, suffix in (("json", "json"), ("msgpack", "msgpack"))
        },
    }
    # the reader helper finds and checks the same files
    pointer = pointer_of(dest)
    for kind in ("json", "msgpack"):
        where = pointer.location(kind, str(dest / "current.json"))
        assert Path(where) == dest / f"artifacts/{stem(revision)}.{kind}"
        pointer.check(kind, Path(where).read_bytes())


def test_a_signed_build_publishes_its_signature_and_verifies_with_the_key(builds, keys, tmp_path):
    build, revision = builds["signed"]
    dest = tmp_path / "site"
    result = publish(build, dest, "--public-key", keys / "ours/cpcompile.pub")
    assert result.exit_code == 0, result.output
    sig = dest / f"artifacts/{stem(revision)}.sig"
    assert sig.read_bytes() == (build / "artifact.sig").read_bytes()
    pointer = pointer_of(dest)
    assert sorted(pointer.files) == ["json", "msgpack", "signature"]
    pointer.check("signature", sig.read_bytes())
    # what a replica does with it: the runtime verifies the published files with the key
    from cpcompile import runtime

    loaded = runtime.load(dest / pointer.files["json"].path, public_key=keys / "ours/cpcompile.pub")
    assert loaded.revision == revision


@pytest.mark.parametrize(
    ("name", "key", "message"),
    [
        ("signed", "theirs", "signed with key"),
        ("a", "ours", "not signed"),
    ],
)
def test_a_build_that_does_not_verify_with_the_key_is_refused(builds, keys, tmp_path, name, key, message):
    dest = tmp_path / "site"
    result = publish(builds[name][0], dest, "--public-key", keys / key / "cpcompile.pub")
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert not dest.exists()


def test_republishing_the_same_revision_changes_nothing(builds, tmp_path):
    build, revision = builds["a"]
    dest = tmp_path / "site"
    assert publish(build, dest).exit_code == 0
    before = tree(dest)
    again = publish(build, dest)
    assert again.exit_code == 0, again.output
    assert f"already points to {revision}" in again.output and "wrote" not in again.output
    assert tree(dest) == before  # same bytes, same mtimes, same inodes: nothing rewritten


def test_a_signature_published_later_is_added_and_listed(builds, keys, tmp_path):
    dest = tmp_path / "site"
    assert publish(builds["a"][0], dest).exit_code == 0
    result = publish(builds["signed"][0], dest, "--public-key", keys / "ours/cpcompile.pub")
    assert result.exit_code == 0, result.output
    assert result.output.count("wrote") == 1 and ".sig" in result.output
    assert sorted(pointer_of(dest).files) == ["json", "msgpack", "signature"]


# --- refusing what does not verify -------------------------------------------------------------


def _flip_a_digit(data: bytes) -> bytes:
    at = data.index(b"adServerAlias")
    return data[:at] + b"adServerAliaz" + data[at + len(b"adServerAlias") :]


def _tamper_consistently(build: Path) -> None:
    """Change the artifact and record the change in the manifest, as an attacker would."""
    import hashlib

    data = _flip_a_digit((build / "artifact.json").read_bytes())
    (build / "artifact.json").write_bytes(data)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["files"]["artifact.json"]["sha256"] = hashlib.sha256(data).hexdigest()
    (build / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: (b / "artifact.json").write_bytes(_flip_a_digit((b / "artifact.json").read_bytes())),
         "artifact.json does not match manifest.json"),
        (_tamper_consistently, "body does not match its revision"),
        (lambda b: (b / "manifest.json").unlink(), "no manifest.json: not a finished build"),
        (lambda b: (b / "artifact.msgpack").unlink(), "artifact.msgpack is missing"),
        (lambda b: (b / "manifest.json").write_text("{"), "manifest.json is not JSON"),
    ],
    ids=["changed-bytes", "changed-with-manifest", "no-manifest", "file-missing", "manifest-not-json"],
)
def test_a_tampered_or_incomplete_build_is_refused_and_nothing_is_written(builds, build_copy, tmp_path, damage, message):
    dest = tmp_path / "site"
    assert publish(builds["b"][0], dest).exit_code == 0
    before = tree(dest)
    build = build_copy("a")
    damage(build)
    result = publish(build, dest)
    assert result.exit_code == 1, result.output
    assert message in result.stderr and "nothing changed" in result.stderr
    assert "Traceback" not in result.output
    assert tree(dest) == before
    fresh = tmp_path / "fresh"
    assert publish(build, fresh).exit_code == 1
    assert not fresh.exists()


def test_other_bytes_under_a_published_name_are_never_replaced(builds, tmp_path):
    dest = tmp_path / "site"
    build_a, revision_a = builds["a"]
    assert publish(build_a, dest).exit_code == 0
    assert publish(builds["b"][0], dest).exit_code == 0
    damaged = dest / f"artifacts/{stem(revision_a)}.msgpack"
    damaged.write_bytes(b"not the artifact")
    before = tree(dest)
    result = publish(build_a, dest)
    assert result.exit_code == 1, result.output
    assert f"{damaged} already exists with other content" in result.stderr
    assert tree(dest) == before  # neither the file nor the pointer changed


# --- the pointer is written last ---------------------------------------------------------------


def test_the_pointer_is_written_after_every_artifact_file(builds, keys, tmp_path, monkeypatch):
    written: list[str] = []
    real = cpcompile.publish.write_atomic

    def recording(path: Path, data: bytes, **options: object) -> None:
        # what a reader would find at this moment: the pointer names only files that are there
        if (tmp_path / "site/current.json").exists():
            pointer = pointer_of(tmp_path / "site")
            for published in pointer.files.values():
                pointer.check(next(k for k, f in pointer.files.items() if f == published),
                              (tmp_path / "site" / published.path).read_bytes())
        written.append(path.name)
        real(path, data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(cpcompile.publish, "write_atomic", recording)
    assert publish(builds["a"][0], tmp_path / "site").exit_code == 0
    result = publish(builds["signed"][0], tmp_path / "site", "--public-key", keys / "ours/cpcompile.pub")
    assert result.exit_code == 0
    assert publish(builds["b"][0], tmp_path / "site").exit_code == 0
    a, b = stem(builds["a"][1]), stem(builds["b"][1])
    assert written == [
        f"{a}.json", f"{a}.msgpack", "current.json",
        f"{a}.sig", "current.json",
        f"{b}.json", f"{b}.msgpack", "current.json",
    ]


def test_a_crash_between_files_leaves_the_old_pointer_and_a_rerun_completes(builds, tmp_path, monkeypatch):
    dest = tmp_path / "site"
    build_a, revision_a = builds["a"]
    build_b, revision_b = builds["b"]
    assert publish(build_a, dest).exit_code == 0
    real = cpcompile.publish.write_atomic

    def disk_full_at_msgpack(path: Path, data: bytes, **options: object) -> None:
        if path.suffix == ".msgpack":
            raise OSError(28, "No space left on device")
        real(path, data, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(cpcompile.publish, "write_atomic", disk_full_at_msgpack)
    result = publish(build_b, dest)
    assert result.exit_code == 2 and "No space left on device" in result.stderr
    pointer = pointer_of(dest)
    assert pointer.revision == revision_a  # still the old revision, whose files are all there
    for kind, published in pointer.files.items():
        pointer.check(kind, (dest / published.path).read_bytes())
    assert not (dest / f"artifacts/{stem(revision_b)}.msgpack").exists()

    monkeypatch.setattr(cpcompile.publish, "write_atomic", real)
    again = publish(build_b, dest)
    assert again.exit_code == 0, again.output
    assert again.output.count("wrote") == 1  # the .json had made it; it is kept, not rewritten
    assert pointer_of(dest).revision == revision_b


def test_each_new_pointer_has_a_later_whole_second_modification_time(builds, tmp_path):
    """nginx's ETag and Last-Modified are whole seconds and the size, the same for every pointer."""
    dest = tmp_path / "site"
    seconds = []
    for name in ("a", "b", "a"):
        args = (builds[name][0], dest) if not seconds or name == "b" else ("--rollback", builds[name][1], dest)
        assert publish(*args).exit_code == 0
        seconds.append((dest / "current.json").stat().st_mtime_ns // 1_000_000_000)
    assert seconds[0] < seconds[1] < seconds[2]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _get(url: str, since: str | None = None) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(url, headers={"If-Modified-Since": since} if since else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Last-Modified")
    except urllib.error.HTTPError as err:
        err.close()
        return err.code, b"", None


def test_a_poller_over_http_sees_each_new_revision_and_fetches_its_files(builds, tmp_path):
    """The replica's path: a static server (stdlib's, which answers If-Modified-Since from the
    whole-second mtime, as nginx does) serves the directory; publications a second apart or less."""
    from cpcompile import runtime

    dest = tmp_path / "site"
    assert publish(builds["a"][0], dest).exit_code == 0
    handler = functools.partial(_QuietHandler, directory=str(dest))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        pointer_url = f"http://127.0.0.1:{server.server_address[1]}/current.json"
        status, data, modified = _get(pointer_url)
        assert status == 200 and parse_pointer(data).revision == builds["a"][1]
        for name in ("b", "c"):
            assert publish(builds[name][0], dest).exit_code == 0
            status, data, modified = _get(pointer_url, modified)
            assert status == 200, f"the publication of {name} looked unchanged to the poller"
            pointer = parse_pointer(data)
            assert pointer.revision == builds[name][1]
            status, artifact, _ = _get(pointer.location("json", pointer_url))
            assert status == 200
            pointer.check("json", artifact)
            assert runtime.loads(artifact).revision == builds[name][1]
        assert _get(pointer_url, modified)[0] == 304  # and unchanged is unchanged
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- rollback and pruning ----------------------------------------------------------------------


@pytest.fixture
def site(builds, tmp_path) -> Path:
    """a, then b, then c published: c is current."""
    dest = tmp_path / "site"
    for name in ("a", "b", "c"):
        assert publish(builds[name][0], dest).exit_code == 0
    return dest


@pytest.mark.parametrize("form", ["full", "stem", "hex", "prefix", "upper-prefix", "file-name"])
def test_rollback_repoints_to_a_kept_revision(builds, site, form):
    revision = builds["a"][1]
    digits = revision.removeprefix("sha256:")
    wanted = {
        "full": revision, "stem": stem(revision), "hex": digits, "prefix": "sha256:" + digits[:7],
        "upper-prefix": digits[:10].upper(), "file-name": stem(revision) + ".json",
    }[form]
    before = tree(site)
    result = publish("--rollback", wanted, site)
    assert result.exit_code == 0, result.output
    assert f"now points to {revision} (was {builds['c'][1]})" in result.output
    assert pointer_of(site).revision == revision
    after = tree(site)
    assert {k: v for k, v in after.items() if k != "current.json"} == {
        k: v for k, v in before.items() if k != "current.json"
    }  # only the pointer changed


def test_rollback_to_an_unknown_revision_names_the_closest_and_lists_the_kept(builds, site):
    revision = builds["b"][1]
    digits = revision.removeprefix("sha256:")
    typo = digits[:7] + HEX[(HEX.index(digits[7]) + 1) % 16]
    before = tree(site)
    result = publish("--rollback", typo, site)
    assert result.exit_code == 2, result.output
    assert f"no revision {typo} is kept in {site}; did you mean {revision}?" in result.stderr
    assert f"{builds['c'][1]} (current)" in result.stderr
    assert tree(site) == before


def test_rollback_to_an_ambiguous_prefix_names_the_candidates(site):
    for digit in "12":
        (site / f"artifacts/sha256-abcd{digit * 60}.json").write_bytes(b"{}")
    result = publish("--rollback", "sha256:abcd", site)
    assert result.exit_code == 2
    assert f"sha256:abcd is ambiguous in {site}" in result.stderr
    assert "sha256:abcd" + "1" * 60 in result.stderr and "sha256:abcd" + "2" * 60 in result.stderr


def test_list_of_a_directory_with_nothing_published_is_empty(tmp_path):
    result = publish("--list", tmp_path)
    assert result.exit_code == 0 and result.output == ""


@pytest.mark.parametrize("wanted", ["abc", "sha256:", "xyz12345", "latest\n::error::x"])
def test_rollback_to_something_that_is_not_a_revision_is_a_usage_error(site, wanted):
    result = publish("--rollback", wanted, site)
    assert result.exit_code == 2
    assert "is not a revision" in result.stderr
    assert "\n::error" not in result.stderr


def test_rollback_to_a_damaged_revision_is_refused(builds, site):
    kept = site / f"artifacts/{stem(builds['a'][1])}.json"
    kept.write_bytes(_flip_a_digit(kept.read_bytes()))
    before = tree(site)
    result = publish("--rollback", builds["a"][1], site)
    assert result.exit_code == 1
    assert "rejected" in result.stderr and "nothing changed" in result.stderr
    assert tree(site) == before


def test_rollback_needs_the_signature_when_a_key_is_given(builds, keys, site):
    result = publish("--rollback", builds["a"][1], site, "--public-key", keys / "ours/cpcompile.pub")
    assert result.exit_code == 1
    assert "not signed" in result.stderr


def test_list_shows_the_kept_revisions_newest_first(builds, site):
    result = publish("--list", site)
    assert result.exit_code == 0
    assert result.output.splitlines() == [f"{builds['c'][1]} (current)", builds["b"][1], builds["a"][1]]


def test_keep_removes_the_oldest_but_never_the_current(builds, site):
    result = publish(builds["c"][0], site, "--keep", "2")
    assert result.exit_code == 0, result.output
    assert f"removed {builds['a'][1]}" in result.output
    assert publish("--list", site).output.splitlines() == [f"{builds['c'][1]} (current)", builds["b"][1]]
    # the current one stays even when it is the oldest: a republished old revision
    assert publish(builds["a"][0], site, "--keep", "1").exit_code == 0
    assert publish("--list", site).output.splitlines() == [f"{builds['a'][1]} (current)"]
    assert sorted(os.listdir(site / "artifacts")) == [f"{stem(builds['a'][1])}.json", f"{stem(builds['a'][1])}.msgpack"]


@pytest.mark.parametrize(
    "args",
    [
        ("only-one",),
        ("--rollback", "abcd", "x", "y"),
        ("--list", "--rollback", "abcd", "x"),
        ("--rollback", "abcd", "x", "--keep", "1"),
        ("b", "x", "--keep", "0"),
    ],
)
def test_usage_errors(tmp_path, args):
    result = publish(*(tmp_path / a if a in ("x", "y", "b") else a for a in args))
    assert result.exit_code == 2, result.output


# --- the pointer reader, on hostile bytes ------------------------------------------------------


def test_the_reader_imports_only_the_standard_library():
    code = (
        "import sys, cpcompile.publish_layout; "
        "bad = [m for m in ('pydantic', 'click', 'msgpack', 'ruamel', 'yaml', 'cryptography') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _pointer_bytes(revision: str = "sha256:" + "ab" * 32) -> bytes:
    from cpcompile.publish_layout import encode_pointer

    return encode_pointer(revision, {"json": b"{}", "msgpack": b"\x80"})


def test_locations_are_relative_to_the_pointer():
    pointer = parse_pointer(_pointer_bytes())
    name = "sha256-" + "ab" * 32
    assert pointer.location("json", "https://cdn.example/cp/current.json") == f"https://cdn.example/cp/artifacts/{name}.json"
    assert pointer.location("msgpack", "http://h:8080/current.json?x=1") == f"http://h:8080/artifacts/{name}.msgpack"
    assert pointer.location("json", "current.json") == f"artifacts/{name}.json"
    with pytest.raises(PointerError, match="no signature file published"):
        pointer.location("signature", "current.json")


def test_check_refuses_other_bytes():
    pointer = parse_pointer(_pointer_bytes())
    pointer.check("json", b"{}")
    with pytest.raises(PointerError, match="is 1 bytes, the pointer says 2"):
        pointer.check("json", b"{")
    with pytest.raises(PointerError, match="has sha256"):
        pointer.check("json", b"[]")


def _edited(change) -> bytes:  # type: ignore[no-untyped-def]
    document = json.loads(_pointer_bytes())
    change(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 60_000, "nested too deeply"),
        (b"[]", "not an object but an array"),
        (b'{"format": "cpcompile-pointer", "format": "x"}', "duplicate key 'format'"),
        (b'{"version": NaN}', "NaN is not a JSON value"),
        (b" " * 70_000, "more than 65536"),
        (_edited(lambda d: d.update(version=2)), "newer than this reader"),
        (_edited(lambda d: d.update(version=True)), "positive integer, got True"),
        (_edited(lambda d: d.update(extra=1)), "unknown field 'extra'"),
        (_edited(lambda d: d.pop("files")), "no 'files' field"),
        (_edited(lambda d: d.update(revision="sha256:" + "AB" * 32)), "64 lowercase hex"),
        (_edited(lambda d: d["files"].pop("json")), "lists no json file"),
        (_edited(lambda d: d["files"].update(exe=d["files"]["json"])), "unknown kind 'exe'"),
        (_edited(lambda d: d["files"]["json"].update(path="../../etc/passwd")), "path must be 'artifacts/sha256-abab"),
        (_edited(lambda d: d["files"]["json"].update(path="https://evil.example/x.json")), "path must be"),
        (_edited(lambda d: d["files"]["json"].update(bytes=0)), "bytes must be a positive integer"),
        (_edited(lambda d: d["files"]["json"].update(sha256="z" * 64)), "sha256 must be 64"),
        (_edited(lambda d: d.update(format="x\n::error::forged")), "format is 'x\\n::error::forged'"),
    ],
)
def test_the_reader_refuses_what_is_not_a_pointer(data, message):
    with pytest.raises(PointerError) as caught:
        parse_pointer(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_valid_pointer_reads_back():
    pointer = parse_pointer(_pointer_bytes())
    assert pointer.revision == "sha256:" + "ab" * 32
    assert sorted(pointer.files) == ["json", "msgpack"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _mutations() -> st.SearchStrategy[bytes]:
    valid = _pointer_bytes()

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data) - 1))
            action = draw(st.sampled_from(["flip", "cut", "insert"]))
            if action == "flip":
                data[at] = draw(st.integers(0, 255))
            elif action == "cut":
                del data[at : at + draw(st.integers(1, 40))]
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=8))
            if not data:
                break
        return bytes(data)

    return mutate()


_hostile = st.one_of(
    st.binary(max_size=300),
    _mutations(),
    _json.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"format": st.just("cpcompile-pointer"), "version": st.just(1), "revision": st.text(max_size=80),
         "files": st.dictionaries(st.sampled_from(["json", "msgpack", "signature", "x"]), _json, max_size=3)}
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=_hostile)
def test_hostile_pointer_bytes_give_a_pointer_or_a_pointer_error(data):
    try:
        pointer = parse_pointer(data)
    except PointerError as err:
        message = str(err)
        assert message.isascii() and "\n" not in message and len(message) < 400
        return
    # whatever parses names only files of its revision, inside artifacts/
    digits = pointer.revision.removeprefix("sha256:")
    for kind, published in pointer.files.items():
        assert published.path.startswith(f"artifacts/sha256-{digits}.")
        assert pointer.location(kind, "https://cdn.example/cp/current.json").startswith("https://cdn.example/cp/artifacts/")
