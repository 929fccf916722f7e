"""Hypothesis profiles for the property tests, and the artifacts they mutate.

``ci`` (the default) is what the suite runs: a fixed, derandomized set of examples with no
example database, so a CI failure reproduces on any machine, and the whole folder stays well
under a minute on two cores. ``campaign`` is the long hunt, run by hand or on a schedule:
random seeds and fifty times the examples of each test (see docs/security.md, "Fuzzing").

    HYPOTHESIS_PROFILE=campaign python -m pytest tests/fuzz -q
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from cpcompile.cli import cli
from .fuzzkit import copy_example

_SLOW_INPUTS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

# Each test asks for its own number of examples relative to 100 (fuzzkit.budget); the profile's
# max_examples scales all of them at once.
settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=_SLOW_INPUTS,
)
settings.register_profile(
    "campaign", max_examples=5000, deadline=None, derandomize=False, database=None,
    print_blob=True, suppress_health_check=_SLOW_INPUTS,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Built:
    """The example config compiled once per session: the bytes the mutations start from."""

    out: Path
    json_bytes: bytes
    msgpack_bytes: bytes
    signature: bytes
    public_key: Path

    def __repr__(self) -> str:  # what a failing test prints: the bytes are always the same
        return f"Built(out={str(self.out)!r})"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("built")
    root = copy_example(base / "config")
    runner = CliRunner()
    keys = runner.invoke(cli, ["keygen", "--out", str(base / "keys")])
    assert keys.exit_code == 0, keys.output
    out = base / "out"
    result = runner.invoke(
        cli, ["build", str(root), "--out", str(out), "--no-cache", "--sign-key", str(base / "keys" / "cpcompile.key")]
    )
    assert result.exit_code == 0, result.output
    return Built(
        out=out,
        json_bytes=(out / "artifact.json").read_bytes(),
        msgpack_bytes=(out / "artifact.msgpack").read_bytes(),
        signature=(out / "artifact.sig").read_bytes(),
        public_key=base / "keys" / "cpcompile.pub",
    )
