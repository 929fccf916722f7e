"""Crash safety of `cpcompile build`: SIGKILL at any step never leaves build/ lying.

The commit protocol (cpcompile/build.py): manifest.json is removed first and written last, and
every file is written to a temp file and renamed. So after any kill:

- each artifact.json / artifact.msgpack / artifact.sig present is whole (old or new, never half);
- a manifest.json present describes exactly the files beside it (sizes, sha256, revision), and an
  unsigned manifest never sits beside a stale artifact.sig;
- the next uninterrupted build succeeds and cleans up the temp files a kill left behind.

The runs build a generated tree over an earlier, signed build of another config. Each run kills
itself just before its N-th file system operation in the output directory (a Python audit hook
in the child), for every N an uninterrupted run has: every step of the write phase is hit, and
the same steps on every machine, however loaded (timed kills missed the few milliseconds of
the write phase now and then).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cpcompile.artifact_format.document import read_document
from cpcompile.build import build
from cpcompile.cli import cli
from cpcompile.artifact_format.keys import parse_public_key as load_public_key
from cpcompile.artifact_format.signer import load_private_key

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


# A build run in a child process that kills itself with SIGKILL just before its N-th file system
# operation (an audit event: open, rename, remove, chmod, mkdir, listing) on a path under WATCH.
# The kill points are counted operations, not moments, so the runs are the same however loaded
# the machine is. Audit hooks run before the operation: killed "at" N, operation N never happened.
_KILLER = r"""
import os, signal, sys
watch, at, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log else None
events = {"open", "os.remove", "os.rename", "os.chmod", "os.mkdir", "os.scandir", "os.listdir", "os.link"}
count = 0

def hook(event, args):
    global count
    if event not in events or not args or isinstance(args[0], int) or args[0] is None:
        return
    path = os.fsdecode(os.fspath(args[0]))
    if path != watch and not path.startswith(watch + os.sep):
        return
    count += 1
    if log_fd is not None:
        os.write(log_fd, f"{count} {event} {os.path.basename(path)}\n".encode())
    if count == at:
        os.kill(os.getpid(), signal.SIGKILL)

sys.addaudithook(hook)
sys.argv = ["cpcompile", *sys.argv[4:]]
from cpcompile.cli import main
main()
"""


def start_killed_at(at: int, watch: Path, args: list[str], env: dict[str, str], log: Path | None = None):
    """``cpcompile ARGS`` in a child that SIGKILLs itself before its ``at``-th operation on
    ``watch`` (0: never)."""
    return subprocess.Popen(
        [sys.executable, "-c", _KILLER, str(watch), str(at), str(log or ""), *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _clean_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CPCOMPILE_CACHE_DIR": str(tmp_path / "cache")}


def _run_all(procs: list[subprocess.Popen]) -> list[int]:
    codes = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode in (0, -signal.SIGKILL), stderr.decode()
        codes.append(proc.returncode)
    return codes


def test_sigkill_at_every_step_of_the_write_phase(tmp_path):
    gen = _generate_module()
    old_root, root = tmp_path / "old-config", tmp_path / "config"
    gen.generate(old_root, size="s", seed=101)
    gen.generate(root, size="s", seed=102)
    keys = tmp_path / "keys"
    assert CliRunner().invoke(cli, ["keygen", "--out", str(keys)]).exit_code == 0
    public_key = load_public_key(keys / "cpcompile.pub")

    # the earlier build in OUT is of another config, and signed; the new builds are not
    pristine = tmp_path / "old-build"
    outcome = build(old_root, pristine, sign_key=load_private_key(keys / "cpcompile.key"), cache_dir=None)
    assert outcome.revision is not None
    env = _clean_env(tmp_path)

    def args(out: Path) -> list[str]:
        return ["build", str(root), "--out", str(out), "--no-cache"]

    # one uninterrupted run over a copy of the earlier build: every operation it does in OUT
    reference, log = tmp_path / "reference", tmp_path / "operations.log"
    shutil.copytree(pristine, reference)
    assert _run_all([start_killed_at(0, reference, args(reference), env, log)]) == [0]
    operations = log.read_text().splitlines()
    assert "os.remove manifest.json" in {op.split(" ", 1)[1] for op in operations}, operations
    assert any(op.endswith(("os.rename .manifest.json", "manifest.json")) for op in operations), operations
    steps = len(operations)

    # killed before each operation in turn, each run from a copy of the whole earlier build
    outs = []
    for at in range(1, steps + 1):
        out = tmp_path / f"out-{at}"
        shutil.copytree(pristine, out)
        outs.append(out)
    states: dict[str, int] = {}
    for first in range(0, steps, 4):  # a few at a time: the kill points, not the timing, decide
        batch = range(first, min(first + 4, steps))
        codes = _run_all([start_killed_at(at + 1, outs[at], args(outs[at]), env) for at in batch])
        assert codes == [-signal.SIGKILL] * len(batch)
        for at in batch:
            state = check_consistent(outs[at], public_key)
            states[state] = states.get(state, 0) + 1
    print(f"killed before each of {steps} operations: {states}")
    assert set(states) == {"old manifest", "no manifest", "new manifest"}, states

    # killed again and again in one directory, from whatever the last kill left
    out = tmp_path / "out"
    shutil.copytree(pristine, out)
    for at in range(steps, 0, -3):
        assert _run_all([start_killed_at(at, out, args(out), env)]) == [-signal.SIGKILL]
        check_consistent(out, public_key)

    for target in (out, outs[len(outs) // 2]):
        final = subprocess.run([sys.executable, "-m", "cpcompile", *args(target)], env=env, capture_output=True, timeout=120)
        assert final.returncode == 0, final.stderr
        assert _temp_files(target) == []
        assert check_consistent(target, public_key) == "new manifest"
        assert sorted(os.listdir(target)) == ["artifact.json", "artifact.msgpack", "manifest.json"]
        for name in os.listdir(target):
            assert (target / name).read_bytes() == (reference / name).read_bytes(), name
        for name in ("artifact.json", "artifact.msgpack"):
            assert CliRunner().invoke(cli, ["verify", str(target / name)]).exit_code == 0


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
    """A build killed while it makes the key or writes entries leaves a cache the next builds
    can use or ignore: they succeed and write what a --no-cache build writes."""
    gen = _generate_module()
    root = tmp_path / "config"
    gen.generate(root, size="s", seed=103)
    cache = tmp_path / "cache"
    env = _clean_env(tmp_path)

    def args(out: Path) -> list[str]:
        return ["build", str(root), "--out", str(out), "--cache-dir", str(cache)]

    reference = tmp_path / "reference"
    assert build(root, reference, cache_dir=None).revision is not None
    log = tmp_path / "operations.log"
    assert _run_all([start_killed_at(0, cache, args(tmp_path / "first"), env, log)]) == [0]
    operations = log.read_text().splitlines()
    renames = [at for at, op in enumerate(operations, 1) if " os.rename " in op]
    assert any(" os.link .key." in op for op in operations) and renames, operations
    assert any(" os.scandir " in op for op in operations[renames[-1]:]), operations  # then the look over the cache
    steps, last_write = len(operations), renames[-1]
    shutil.rmtree(cache)

    # the key file (first few operations), the document entries, the build record (the last
    # write), the look over the cache that follows it (cache_tidy)
    points = sorted({1, 3, 4, 5, last_write // 2, last_write - 1, last_write, last_write + 2, steps})
    for i, at in enumerate(points):
        if i % 3 == 0:
            shutil.rmtree(cache, ignore_errors=True)  # else: whatever the last kill left
        (code,) = _run_all([start_killed_at(at, cache, args(tmp_path / f"out-{i}"), env)])
        if code == 0:  # fewer operations than that, with what the last kill left: it finished
            for name in ("artifact.json", "artifact.msgpack"):
                assert (tmp_path / f"out-{i}" / name).read_bytes() == (reference / name).read_bytes()
        final = subprocess.run(
            [sys.executable, "-m", "cpcompile", *args(tmp_path / f"final-{i}")], env=env, capture_output=True, timeout=120
        )
        assert final.returncode == 0, final.stderr
        for name in ("artifact.json", "artifact.msgpack", "manifest.json"):
            assert (tmp_path / f"final-{i}" / name).read_bytes() == (reference / name).read_bytes(), name
