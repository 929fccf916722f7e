"""`cpcompile build`: validate, compile and write build/ so that no crash can leave it lying.

Write order is the commit protocol: manifest.json is removed first and written last, after
artifact.json, artifact.msgpack and artifact.sig are in place (each written to a temp file,
fsynced and renamed). So a manifest, when present, always describes the files beside it;
without one, the build is incomplete, yet each artifact file is whole and self-verifying.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from . import incremental, sources
from .atomic import fsync_dir, write_atomic
from .cache import Cache, check_outside, input_digest
from .cache_tidy import DEFAULT_LIMITS, CacheLimits
from .diagnostics import Diagnostic, diagnostic_from_dict, exit_code
from .freshness import freshness_span, holds_at, now_key, source_date_epoch
from .gcpause import paused_gc
from .load import parse_source
from .manifest import MANIFEST, NO_PROVENANCE, Provenance, make_manifest, pretty_json
from .artifact_format.signature import SIGNATURE_FILENAME, encode_signature
from .artifact_format.signer import PrivateKey, signature_document

ARTIFACT_JSON = "artifact.json"
ARTIFACT_MSGPACK = "artifact.msgpack"
SIGNATURE = SIGNATURE_FILENAME


@dataclass
class BuildOutcome:
    diagnostics: list[Diagnostic]
    files_checked: int
    revision: str | None = None  # None: errors, nothing written
    up_to_date: bool = False  # the inputs had not changed: nothing needed writing
    manifest: dict[str, Any] | None = None


def build(
    root: Path,
    out_dir: Path,
    *,
    sign_key: PrivateKey | None = None,
    cache_dir: Path | None = None,
    cache_key: bytes | None = None,
    cache_limits: CacheLimits = DEFAULT_LIMITS,
    strict: bool = False,
    built_at: int | None = None,
    provenance: Provenance = NO_PROVENANCE,
    discovery: sources.Discovery | None = None,
) -> BuildOutcome:
    """Validate ``root`` and, if it passes (warnings included when ``strict``), write out_dir.

    Reads the config files and the cache, nothing else: no git, and of the environment only
    SOURCE_DATE_EPOCH, which is "now" for the catalog freshness warning (freshness.py). ``built_at``
    (Unix seconds) and ``provenance`` go to the manifest as given; the command line gathers
    them (manifest.parse_source_date_epoch, manifest.git_provenance). ``cache_dir`` must be
    outside the root (else cache.CacheDirInsideRoot); its entries are authenticated with
    ``cache_key``, or with the key file in it, and it is kept within ``cache_limits``.
    ``discovery``: the files of ``root``, if the caller has already found them."""
    if discovery is None:
        discovery = sources.discover(root)
    cache = None
    if cache_dir is not None:
        check_outside(cache_dir, root)
        cache = Cache(cache_dir, cache_key, cache_limits)
    key = sign_key.key_id if sign_key else ""
    # a catalog's freshness warning (CP148) depends on "now": SOURCE_DATE_EPOCH, else the clock,
    # and then a record holds for the day and only until a catalog crosses its limit
    epoch, clock = source_date_epoch(), int(time.time())
    options = [f"sign={key}", f"source={provenance.as_dict()}", f"epoch={built_at}", now_key(epoch, clock)]
    digest = input_digest(discovery.inputs(), [*options, *discovery.findings()])
    if cache is not None:
        reused = _reuse(cache, digest, out_dir, clock if epoch is None else None)
        if reused is not None and exit_code(reused.diagnostics, strict=strict) == 0:
            return reused
    parse = cache.parse if cache else parse_source
    with paused_gc():
        checked = incremental.check(discovery, cache, parse)
        outcome = BuildOutcome(checked.diagnostics, checked.files_checked)
        if exit_code(checked.diagnostics, strict=strict) == 0:
            outcome.manifest = _write_outputs(out_dir, checked.compile(), sign_key, provenance, built_at)
            outcome.revision = outcome.manifest["artifact"]["revision"]
            if cache is not None:
                span = freshness_span(checked.catalogs, checked.max_catalog_age_days, clock) if epoch is None else None
                cache.store_build_record(digest, _record(outcome, span))
    if cache is not None:
        cache.flush()
    return outcome


def _write_outputs(
    out_dir: Path, compiled: incremental.Compiled, sign_key: PrivateKey | None, provenance: Provenance, built_at: int | None
) -> dict[str, Any]:
    outputs = {ARTIFACT_JSON: compiled.json, ARTIFACT_MSGPACK: compiled.msgpack}
    if sign_key is not None:
        outputs[SIGNATURE] = encode_signature(signature_document(compiled.header["revision"], sign_key))
    manifest = make_manifest(
        compiled.header, outputs, compiled.counts.as_dict(),
        signed_by=sign_key.key_id if sign_key is not None else None, provenance=provenance, built_at=built_at,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(out_dir):
        _remove_stale_temp_files(out_dir)
        (out_dir / MANIFEST).unlink(missing_ok=True)
        fsync_dir(out_dir)
        for name, data in outputs.items():
            write_atomic(out_dir / name, data)
        if sign_key is None:
            (out_dir / SIGNATURE).unlink(missing_ok=True)  # it would sign another revision
        write_atomic(out_dir / MANIFEST, pretty_json(manifest))
    return manifest


@contextmanager
def _exclusive(out_dir: Path) -> Iterator[None]:
    """One build at a time writes into out_dir; a second one waits for the first to finish.
    Without it, two builds could remove each other's temp files or interleave their files."""
    fd = os.open(out_dir, os.O_RDONLY)  # flock works on a directory: no lock file to leave behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove_stale_temp_files(out_dir: Path) -> None:
    # left behind only if an earlier build was killed between creating and renaming them
    for name in (ARTIFACT_JSON, ARTIFACT_MSGPACK, SIGNATURE, MANIFEST):
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _record(outcome: BuildOutcome, span: list[int] | None) -> dict[str, Any]:
    assert outcome.manifest is not None
    return {
        "diagnostics": [d.as_dict() for d in outcome.diagnostics],
        "files_checked": outcome.files_checked,
        "manifest": outcome.manifest,
        "span": span,
    }


def _reuse(cache: Cache, digest: str, out_dir: Path, clock: int | None) -> BuildOutcome | None:
    """The outcome of an identical earlier build, if build/ still holds exactly its output and,
    when "now" is the clock, ``clock`` is within the seconds its report holds for."""
    record = cache.build_record(digest)
    if record is None:
        return None
    try:
        if not holds_at(record["span"], clock):
            return None
        manifest = record["manifest"]
        if (out_dir / MANIFEST).read_bytes() != pretty_json(manifest):
            return None
        for name, expected in manifest["files"].items():
            if hashlib.sha256((out_dir / name).read_bytes()).hexdigest() != expected["sha256"]:
                return None
        if SIGNATURE not in manifest["files"] and (out_dir / SIGNATURE).exists():
            return None
        diagnostics = [diagnostic_from_dict(d) for d in record["diagnostics"]]
        return BuildOutcome(diagnostics, int(record["files_checked"]), manifest["artifact"]["revision"], True, manifest)
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return None
