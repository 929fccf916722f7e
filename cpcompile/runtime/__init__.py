"""Answer profile requests from a compiled artifact: the stdlib-only runtime.

    from cpcompile import runtime

    artifact = runtime.load("build/artifact.json")
    payload = artifact.lookup(datastream_id, ["399eb3e7-…", "…"], now=None)
    body = runtime.edge_response(payload)   # what /ee/v2/interact answers
    raw = runtime.edge_response_bytes(artifact.lookup_bytes(datastream_id, ids))  # encoded

Imports only the standard library (and msgpack, lazily, for ``.msgpack`` artifacts); services
import it on every replica, so it must not pull in the compiler's dependencies. See
docs/runtime.md for the semantics and docs/artifact.md for the format.
"""

from __future__ import annotations

from cpcompile.artifact_format.document import READER_VERSION, SCHEMA_VERSION
from cpcompile.artifact_format.errors import (
    ArtifactCorrupt,
    ArtifactError,
    RevisionMismatch,
    SignatureError,
    SignatureInvalid,
    SignatureMissing,
    UnknownFormat,
    UnsupportedVersion,
)
from cpcompile.runtime._artifact import Artifact, Stats
from cpcompile.runtime._holder import ArtifactHolder
from cpcompile.runtime._load import load, loads
from cpcompile.runtime._response import edge_response, edge_response_bytes

__all__ = [
    "READER_VERSION",
    "SCHEMA_VERSION",
    "Artifact",
    "ArtifactCorrupt",
    "ArtifactError",
    "ArtifactHolder",
    "RevisionMismatch",
    "SignatureError",
    "SignatureInvalid",
    "SignatureMissing",
    "Stats",
    "UnknownFormat",
    "UnsupportedVersion",
    "edge_response",
    "edge_response_bytes",
    "load",
    "loads",
]
