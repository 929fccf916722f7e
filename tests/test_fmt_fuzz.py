"""Property: `cpcompile fmt` on any config tree, however broken, never crashes, never changes
what a valid config compiles to, and is idempotent. Trees are the fuzz tests' (tests/fuzz):
the example config and the golden cases, damaged as bytes and as data. FMT_FUZZ=5000 runs a
longer hunt (the suite runs 100 examples, a few seconds)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from conftest import run
from fuzz.fuzzkit import ConfigTree, config_trees, write_tree

REVISION = re.compile(r"(?:wrote|up to date) .*: (sha256:[0-9a-f]{64})")


def _revision(root: Path) -> str | None:
    result = run("build", root, "--no-cache", "--out", root.parent / "out")
    match = REVISION.search(result.stdout)
    return match.group(1) if result.exit_code == 0 and match else None


@settings(max_examples=int(__import__("os").environ.get("FMT_FUZZ", "100")), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(tree=config_trees())
def test_fmt_keeps_the_artifact_and_is_idempotent(tree: ConfigTree) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "config"
        write_tree(root, tree)
        before = _revision(root)
        result = run("fmt", root)
        assert result.exit_code in (0, 1), result.output  # 1: files YAML refuses, left alone
        assert "internal error" not in result.output and "Traceback" not in result.output
        if before is not None:
            assert _revision(root) == before
        again = run("fmt", root, "--check")
        assert "would reformat" not in again.stdout, again.output
