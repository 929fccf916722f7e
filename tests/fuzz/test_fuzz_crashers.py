"""Inputs that could crash the interpreter or hang, each run in a child process.

A segmentation fault (the C YAML composer recursing once per nesting level, for example) or a
read that never ends must fail one test, not take pytest down with it. Few and targeted: the
property tests cover the breadth in-process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TIMEOUT = 60
HANG = 15  # validating one small folder takes well under a second

DEEP_YAML = {
    "flow-lists": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "flow-maps": "a: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n",
    "mixed-flow-unclosed": "a: " + "[{" * 50_000 + "\n",
    "block-lists": "a:\n" + "".join("  " * i + "-\n" for i in range(3_000)) + "  " * 3_000 + "- x\n",
    "block-maps": "".join("  " * i + "a:\n" for i in range(3_000)) + "  " * 3_000 + "a: 1\n",
    "complex-keys": "? " * 20_000 + "x\n",
    "compact-lists": "- " * 20_000 + "x\n",
    "after-directive": "%YAML 1.1\n---\n" + "[" * 100_000 + "\n",
    "after-tab-error": "a:\t[\n" + "[" * 100_000 + "\n",
    "after-bad-char": "a: `x\n" + "[" * 100_000 + "\n",
    "in-second-document": "a: 1\n---\n" + "[" * 100_000 + "\n",
    "anchored": "a: &x " + "[" * 100_000 + "\nb: *x\n",
    "huge-number": "id: " + "9" * 100_000 + "\n",
    "many-aliases": "a: &a [x]\n" + "".join(f"b{i}: [*a, *a, *a]\n" for i in range(2_000)),
}

# Runs the CLI in-process inside the child, one tree per input, and prints each outcome; a
# crash shows as a signal in the return code, and the last name printed says on which input.
_VALIDATE_ALL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from click.testing import CliRunner
    from cpcompile.cli import cli

    for root in sys.argv[1:]:
        print("start", root, flush=True)
        result = CliRunner().invoke(cli, ["validate", root, "--format", "json"])
        print("exit", result.exit_code, root, repr(result.exception), flush=True)
    """
)


def _run(code: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )


def _validate_each(roots: list[str]) -> list[tuple[str, str]]:
    """(root, problem) for each root whose validation crashed the child or did not exit 0/1;
    after a crash the child is started again on the roots not yet tried."""
    problems = []
    while roots:
        done = _run(_VALIDATE_ALL, *roots)
        started = [line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("start ")]
        for line in done.stdout.splitlines():
            if line.startswith("exit ") and line.split(" ")[1] not in ("0", "1"):
                problems.append((line.split(" ")[2], line))
        if done.returncode == 0:
            break
        crashed = started[-1] if started else roots[0]
        problems.append((crashed, f"child died with {done.returncode}: {done.stderr[-1500:]}"))
        roots = roots[roots.index(crashed) + 1 :]
    return problems


def test_deeply_nested_yaml_is_reported_not_fatal(tmp_path: Path) -> None:
    roots = []
    for name, text in DEEP_YAML.items():
        root = tmp_path / name
        (root / "datastreams").mkdir(parents=True)
        (root / "datastreams" / "web.yaml").write_text(text)
        roots.append(str(root))
    problems = _validate_each(roots)
    assert not problems, "\n".join(f"{Path(root).name}: {problem}" for root, problem in problems)


def _special_tree(tmp_path: Path) -> Path:
    root = tmp_path / "config"
    folder = root / "destinations"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.yaml")
    (folder / "to-fifo.yaml").symlink_to("fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    (folder / "tty.yaml").symlink_to("/dev/tty")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "socket.yaml"))
    except OSError:  # a path too long for a socket address: the other entries still count
        pass
    finally:
        sock.close()
    return root


def test_fifos_devices_and_sockets_in_the_checkout_do_not_hang_validate(tmp_path: Path) -> None:
    root = _special_tree(tmp_path)
    try:
        done = _run(_VALIDATE_ALL, str(root), timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail(f"validate hung for {HANG} s on a FIFO, device or socket in the config folders")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "exit 1 " in done.stdout, done.stdout  # the entries are reported, as errors or warnings


DEEP_ARTIFACT = textwrap.dedent(
    """
    import hashlib, json, sys
    import msgpack
    from cpcompile import runtime

    def document(body: bytes) -> dict:
        return {"format": "cpcompile-artifact", "min_reader_version": 1, "schema_version": 1,
                "revision": "sha256:" + hashlib.sha256(body).hexdigest(), "body": "@"}

    for depth in (500, 900, 990, 1000, 1100, 5000, 1_000_000):
        body = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
        doc = json.dumps(document(body), sort_keys=True, separators=(",", ":")).encode()
        cases = {"json": doc.replace(b'"@"', body)}
        packed = msgpack.packb(document(body))
        cases["msgpack"] = packed.replace(msgpack.packb("@"), b"\\x81\\xa1a" + b"\\x91" * (depth - 1) + b"\\x90")
        for encoding, data in cases.items():
            try:
                runtime.loads(data, encoding=encoding)
                print("loaded", encoding, depth, flush=True)
            except runtime.ArtifactError as err:
                print("rejected", encoding, depth, type(err).__name__, flush=True)
            except BaseException as err:
                print("BAD", encoding, depth, type(err).__name__, err, flush=True)
    """
)


def test_deeply_nested_artifacts_are_artifact_errors() -> None:
    done = _run(DEEP_ARTIFACT)
    assert done.returncode == 0, f"child died ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "BAD" not in done.stdout, done.stdout
