"""Coverage-guided fuzz targets (atheris, libFuzzer for Python); not collected by pytest.

    pip install '.[fuzz]'
    python tests/fuzz/atheris_targets.py artifact -max_total_time=600 [corpus_dir]
    python tests/fuzz/atheris_targets.py config -max_total_time=600
    python tests/fuzz/atheris_targets.py lookup -max_total_time=600

Each target checks the same properties as the hypothesis tests beside it (docs/security.md):
a crash, an uncaught exception or a failed check is reported by libFuzzer with the input that
caused it, saved as crash-<sha1>. Seeds come from the example config and a build of it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import atheris  # noqa: E402

with atheris.instrument_imports():
    from click.testing import CliRunner

    from cpcompile import runtime
    from cpcompile.cli import cli

from fuzzkit import check_cli_output, check_payload, copy_example, lookup_exercise  # noqa: E402

_WORK = Path(tempfile.mkdtemp(prefix="cpcompile-atheris-"))
_RUNNER = CliRunner()


def _built() -> bytes:
    root = copy_example(_WORK / "example")
    result = _RUNNER.invoke(cli, ["build", str(root), "--out", str(_WORK / "out"), "--no-cache"])
    assert result.exit_code == 0, result.output
    return (_WORK / "out" / "artifact.json").read_bytes()


def artifact_target(data: bytes) -> None:
    encoding = "msgpack" if data[:1] == b"\x85" else "json"
    try:
        artifact = runtime.loads(data, encoding=encoding)
    except runtime.ArtifactError:
        return
    lookup_exercise(artifact, json.loads(data).get("body") if encoding == "json" else None)


def config_target(data: bytes) -> None:
    """The input replaces one file of the example config; validate in all three formats."""
    path = _WORK / "config" / "destinations" / "home-personalization.yaml"
    path.write_bytes(data)
    for fmt in ("text", "json", "github"):
        check_cli_output(fmt, _RUNNER.invoke(cli, ["validate", str(_WORK / "config"), "--format", fmt]))


def lookup_target(data: bytes) -> None:
    """The input is JSON: [datastream_id, memberships, now, attributes, authenticated]."""
    try:
        args = json.loads(data)
    except (ValueError, RecursionError):
        return
    if not isinstance(args, list) or len(args) != 5:
        return
    datastream_id, memberships, now, attributes, authenticated = args
    try:
        payload = _ARTIFACT.lookup(datastream_id, memberships, now=now, attributes=attributes, authenticated=bool(authenticated))
    except (TypeError, ValueError):
        return
    check_payload(payload)


def _seed_corpus(target: str, directory: Path, artifact_bytes: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if target == "artifact":
        (directory / "artifact.json").write_bytes(artifact_bytes)
        (directory / "artifact.msgpack").write_bytes((_WORK / "out" / "artifact.msgpack").read_bytes())
    elif target == "config":
        for path in sorted((_WORK / "example").rglob("*.yaml")):
            (directory / path.name).write_bytes(path.read_bytes())
    else:
        (directory / "lookup.json").write_text(json.dumps([
            "0f3a6c1e-2b7d-4e59-9c3a-1d2e3f4a5b6c",
            {"ups": {"399eb3e7-3d50-47d3-ad30-a5ad99e8ab77": {"status": "realized"}}},
            1798761600, {"person": {"name": {"firstName": "Ada"}}}, True,
        ]))


TARGETS: dict[str, Callable[[bytes], None]] = {
    "artifact": artifact_target, "config": config_target, "lookup": lookup_target,
}
_ARTIFACT: Any = None


def main() -> None:
    global _ARTIFACT
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [corpus dirs]")
    target = sys.argv.pop(1)
    artifact_bytes = _built()
    _ARTIFACT = runtime.loads(artifact_bytes)
    copy_example(_WORK / "config")
    args = sys.argv
    if not any(not a.startswith("-") for a in args[1:]):  # no corpus given: start from the seeds
        corpus = _WORK / f"corpus-{target}"
        _seed_corpus(target, corpus, artifact_bytes)
        args = [*args, str(corpus)]
    atheris.Setup(args, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
