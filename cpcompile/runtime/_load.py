"""Reading artifact files: ``load`` (a path) and ``loads`` (bytes, e.g. fetched over HTTP).

Everything is verified (format, versions, canonical form, revision, signature, shape) before
``loads`` returns, so nothing is served from content that is not trusted: for a canonical
``artifact.json`` on its bytes (``_lazy.verify_lazily``), leaving each datastream's proven
audiences to be decoded by its first lookup; for anything else by
``artifact_format.document.read_document`` and then the index's shape check.
"""

from __future__ import annotations

import os

from cpcompile.artifact_format.document import read_document
from cpcompile.artifact_format.errors import SignatureInvalid, SignatureMissing
from cpcompile.runtime._artifact import Artifact
from cpcompile.runtime._gc import made_in_bulk
from cpcompile.runtime._lazy import verify_lazily

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    from cpcompile.artifact_format.keys import KeySource

    PathLike = Union[str, "os.PathLike[str]"]


def loads(
    data: bytes,
    *,
    encoding: str = "json",
    public_key: KeySource | None = None,
    signature: bytes | str | None = None,
) -> Artifact:
    """An ``Artifact`` from the bytes of ``artifact.json`` (or ``.msgpack``).

    ``public_key``: 32 raw bytes, key-file text or a key file path; when given, ``signature``
    (the content of ``artifact.sig``) must be present and valid.
    """
    if isinstance(data, memoryview):
        data = data.tobytes()
    key = public_key_of(public_key)
    if isinstance(signature, str):
        signature = signature.encode("utf-8")
    with made_in_bulk():
        proven = None
        if encoding == "json" and type(data) is bytes:
            proven = verify_lazily(data, key, signature)
        if proven is not None:
            return Artifact(*proven)
        # anything verify_lazily cannot prove: decode it all, and name what is wrong
        document = read_document(data, encoding=encoding, public_key=key, signature=signature)
        return Artifact(document)


def load(
    path: PathLike,
    *,
    public_key: KeySource | None = None,
    signature_path: PathLike | None = None,
    encoding: str | None = None,
) -> Artifact:
    """An ``Artifact`` from a file; the encoding follows the suffix (``.msgpack`` or JSON).

    With ``public_key``, the signature is read from ``signature_path``, by default the
    artifact's path with the suffix ``.sig`` (``build/artifact.sig``).
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    key = public_key_of(public_key)
    signature = None
    if key is not None:
        signature = read_signature(signature_path or default_signature_path(path))
    return loads(data, encoding=encoding or encoding_for(path), public_key=key, signature=signature)


def public_key_of(public_key: KeySource | None) -> bytes | None:
    """The 32 raw bytes of a public key given in any form ``keys.parse_public_key`` takes. Its
    module is imported only when a key is given, so unsigned deployments never pay for it."""
    if public_key is None:
        return None
    from cpcompile.artifact_format.keys import parse_public_key

    return parse_public_key(public_key)


def encoding_for(path: PathLike) -> str:
    return "msgpack" if os.fspath(path).endswith(".msgpack") else "json"


def default_signature_path(path: PathLike) -> str:
    return os.path.splitext(os.fspath(path))[0] + ".sig"


def read_signature(path: PathLike) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise SignatureMissing(
            f"no signature file {os.fspath(path)}: a public key was given, so the artifact "
            "must be signed (cpcompile build --sign-key)"
        ) from None
    except OSError as err:
        raise SignatureInvalid(f"cannot read signature file {os.fspath(path)}: {err.strerror}") from None
