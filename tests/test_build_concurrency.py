"""Two builds into one output directory at once: one waits for the other, neither breaks it."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from conftest import copy_example



def example(root: Path, alias: str) -> Path:
    copy_example(root)
    ad_server = root / "destinations" / "ad-server.yaml"
    ad_server.write_text(ad_server.read_text().replace("adServerAlias", alias))
    return root


def test_concurrent_builds_leave_a_consistent_build(tmp_path: Path) -> None:
    roots = [example(tmp_path / "a", "adServerA"), example(tmp_path / "b", "adServerB")]
    out = tmp_path / "build"
    for _ in range(6):
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "cpcompile", "build", str(root), "--out", str(out), "--no-cache"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            for root in roots
        ]
        results = [(run.returncode, run.communicate(timeout=60)[1].decode()) for run in runs]
        results = [(run.returncode, err) for run, (_, err) in zip(runs, results)]
        assert all(code == 0 for code, _ in results), results
        manifest = json.loads((out / "manifest.json").read_bytes())
        for name, expected in manifest["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == expected["sha256"]
        artifact = json.loads((out / "artifact.json").read_bytes())
        assert artifact["revision"] == manifest["artifact"]["revision"]
        assert sorted(p.name for p in out.iterdir()) == ["artifact.json", "artifact.msgpack", "manifest.json"]
