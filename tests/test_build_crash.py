"""Crash safety of `cpcompile build`: SIGKILL at random moments never leaves build/ lying.

The commit protocol (cpcompile/build.py): manifest.json is removed first and written last, and
every file is written to a temp file and renamed. So after any kill:

- each artifact.json / artifact.msgpack / artifact.sig present is whole (old or new, never half);
- a manifest.json present describes exactly the files beside it (sizes, sha256, revision), and an
  unsigned manifest never sits beside a stale artifact.sig;
- the next uninterrupted build succeeds and cleans up the temp files a kill left behind.

The runs build a generated size-m tree over an earlier, signed build of another config. A third
of the kills land anywhere in a run, a third near its end, and a third at a random moment of the
write phase (found by watching manifest.json disappear); that phase lasts a few milliseconds
of a run of about half a second, so purely uniform kills would hardly ever reach it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpcompile._format import read_document
from cpcompile.build import build
from cpcompile.cli import cli
from cpcompile.signing import load_private_key, load_public_key

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
KILLS = 21


def _generate_module():
    name = "_cpcompile_benchmarks_generate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / "generate.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


try:
    from cpcompile.runtime import loads as runtime_loads
except ImportError:  # the runtime is optional here; read_document checks the same bytes
    runtime_loads = None


def _read_artifact(path: Path, public_key: bytes | None = None, signature: bytes | None = None) -> str:
    """Fully verify an artifact file; return its revision. Raises if it is not whole."""
    encoding = "msgpack" if path.suffix == ".msgpack" else "json"
    data = path.read_bytes()
    doc = read_document(data, encoding=encoding, public_key=public_key, signature=signature)
    if runtime_loads is not None:
        assert runtime_loads(data, encoding=encoding).revision == doc["revision"]
    return doc["revision"]


def check_consistent(out: Path, public_key: bytes) -> str:
    """Assert the invariants of a build directory after a kill; return a word for the state."""
    names = set(os.listdir(out)) if out.exists() else set()
    revisions = {}
    for name in ("artifact.json", "artifact.msgpack"):
        if name in names:
            revisions[name] = _read_artifact(out / name)
    if "artifact.sig" in names:
        sig = json.loads((out / "artifact.sig").read_bytes())  # whole, canonical JSON
        assert set(sig) == {"algorithm", "key_id", "revision", "signature"}
    if "manifest.json" not in names:
        return "no manifest"
    manifest = json.loads((out / "manifest.json").read_bytes())
    revision = manifest["artifact"]["revision"]
    for name, entry in manifest["files"].items():
        assert name in names, f"manifest lists {name}, which is missing"
        data = (out / name).read_bytes()
        assert len(data) == entry["bytes"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
    assert set(manifest["files"]) >= {"artifact.json", "artifact.msgpack"}
    for name in ("artifact.json", "artifact.msgpack"):
        assert revisions[name] == revision, f"{name} is not the manifest's revision"
    if "artifact.sig" in manifest["files"]:
        signature = (out / "artifact.sig").read_bytes()
        assert _read_artifact(out / "artifact.json", public_key, signature) == revision
        return "old manifest"
    assert "artifact.sig" not in names, "a stale signature beside an unsigned manifest"
    return "new manifest"


def _temp_files(out: Path) -> list[str]:
    return sorted(n for n in os.listdir(out) if n.startswith(".") and n.endswith(".tmp"))


def test_sigkill_at_random_moments(tmp_path):
    gen = _generate_module()
    old_root, root = tmp_path / "old-config", tmp_path / "config"
    gen.generate(old_root, size="s", seed=101)
    gen.generate(root, size="m", seed=102)
    keys = tmp_path / "keys"
    assert CliRunner().invoke(cli, ["keygen", "--out", str(keys)]).exit_code == 0
    public_key = load_public_key(keys / "cpcompile.pub")

    # the earlier build in OUT is of another config, and signed; the new builds are not
    pristine = tmp_path / "old-build"
    outcome = build(old_root, pristine, sign_key=load_private_key(keys / "cpcompile.key"), cache_dir=None)
    assert outcome.revision is not None
    out = tmp_path / "out"
    shutil.copytree(pristine, out)
    assert check_consistent(out, public_key) == "old manifest"

    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}

    def command(target: Path) -> list[str]:
        return [sys.executable, "-m", "cpcompile", "build", str(root), "--out", str(target), "--no-cache"]

    def start(target: Path) -> subprocess.Popen:
        return subprocess.Popen(
            command(target), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def wait_for_commit_window(proc: subprocess.Popen, target: Path) -> float | None:
        """Busy-wait until the build removes manifest.json (the start of its write phase)."""
        while proc.poll() is None:
            if not (target / "manifest.json").exists():
                return time.perf_counter()
        return None

    # one uninterrupted run over a copy of the earlier build: how long it takes, how long its
    # write phase (manifest removed .. manifest written) lasts, and what it writes
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference)
    t0 = time.perf_counter()
    proc = start(reference)
    gone = wait_for_commit_window(proc, reference)
    back = None
    while proc.poll() is None and back is None:
        if (reference / "manifest.json").exists():
            back = time.perf_counter()
    assert proc.wait(timeout=120) == 0
    duration = time.perf_counter() - t0
    assert gone is not None
    window = max((back or time.perf_counter()) - gone, 0.002)

    rng = random.Random(20240611)
    states: dict[str, int] = {}
    killed = 0
    for i in range(KILLS):
        if i % 3 != 2:  # start again from the whole earlier build (temp files gone too)
            shutil.rmtree(out)
            shutil.copytree(pristine, out)
        proc = start(out)
        if i % 3 == 0:
            # at a random moment of the write phase, the few milliseconds that matter
            wait_for_commit_window(proc, out)
            time.sleep(rng.uniform(0, 1.2) * window)
        elif i % 3 == 1:
            time.sleep(rng.uniform(0.05, 1.05) * duration)  # anywhere in the run
        else:
            # from whatever the last kill left, near the end of the run
            time.sleep(rng.uniform(0.75, 1.05) * duration)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the build and any child it started, nothing else
        except ProcessLookupError:
            pass
        returncode = proc.wait(timeout=60)
        killed += returncode == -signal.SIGKILL
        state = check_consistent(out, public_key)
        states[state] = states.get(state, 0) + 1
    print(f"after {KILLS} kills ({killed} interrupted a run): {states}")
    assert killed >= KILLS // 3, f"only {killed} of {KILLS} runs were interrupted (states {states})"
    assert states.get("no manifest"), f"no kill landed in a write phase (window {window * 1000:.1f} ms)"

    final = subprocess.run(command(out), env=env, capture_output=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert _temp_files(out) == []
    assert check_consistent(out, public_key) == "new manifest"
    assert sorted(os.listdir(out)) == ["artifact.json", "artifact.msgpack", "manifest.json"]
    for name in os.listdir(out):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    for name in ("artifact.json", "artifact.msgpack"):
        assert CliRunner().invoke(cli, ["verify", str(out / name)]).exit_code == 0


def test_leftover_temp_files_are_removed(tmp_path):
    """Temp files of a killed build (any of the four outputs) go with the next build."""
    gen = _generate_module()
    gen.generate(tmp_path / "config", size="s", seed=5)
    out = tmp_path / "out"
    out.mkdir()
    leftovers = [f".{name}.k3j4_x9.tmp" for name in ("artifact.json", "artifact.msgpack", "artifact.sig", "manifest.json")]
    for name in leftovers:
        (out / name).write_bytes(b'{"body":')  # half a file
    assert build(tmp_path / "config", out, cache_dir=None).revision is not None
    assert _temp_files(out) == []
    assert sorted(os.listdir(out)) == ["artifact.json", "artifact.msgpack", "manifest.json"]


def test_sigkill_while_filling_the_cache(tmp_path):
    """A build killed while it writes its cache leaves a cache the next builds can use or ignore:
    they succeed and write what a --no-cache build writes."""
    gen = _generate_module()
    root = tmp_path / "config"
    gen.generate(root, size="m", seed=103)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "cpcompile", "build", str(root), "--out", str(out), "--cache-dir", str(cache)]

    reference = tmp_path / "reference"
    assert build(root, reference, cache_dir=None).revision is not None
    t0 = time.perf_counter()
    done = subprocess.run(command(tmp_path / "timing"), env=env, capture_output=True, timeout=120)
    duration = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr

    rng = random.Random(7)
    for i in range(9):
        if i % 3 == 0:
            shutil.rmtree(cache, ignore_errors=True)  # else: whatever the last kill left
        proc = subprocess.Popen(
            command(tmp_path / f"out-{i}"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.3, 1.05) * duration)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        if proc.returncode == 0:
            for name in ("artifact.json", "artifact.msgpack"):
                assert (tmp_path / f"out-{i}" / name).read_bytes() == (reference / name).read_bytes()

        final = subprocess.run(command(tmp_path / f"final-{i}"), env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr
        for name in ("artifact.json", "artifact.msgpack", "manifest.json"):
            assert (tmp_path / f"final-{i}" / name).read_bytes() == (reference / name).read_bytes(), name
