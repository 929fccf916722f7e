"""The published layout and its ``current.json`` pointer: names, encoding and a strict reader.

Standard library only, and cheap to import: a replica that polls the pointer over HTTP imports
this, not the compiler. docs/deploy.md ("Publishing") is the format for people::

    DEST/current.json                      the pointer, replaced last and atomically
    DEST/artifacts/sha256-<hex>.json       artifact.json of revision sha256:<hex>
    DEST/artifacts/sha256-<hex>.msgpack    artifact.msgpack, the same body
    DEST/artifacts/sha256-<hex>.sig        artifact.sig, when the build was signed

A reader fetches the pointer (by its own means), then::

    pointer = parse_pointer(data)                       # PointerError for anything else
    where = pointer.location("json", "https://cdn.example/cp/current.json")
    pointer.check("json", fetched)                      # the bytes the pointer promised

and verifies the artifact as usual (``cpcompile.runtime.loads``, with the signature when it
has a public key): the pointer says where to look, the artifact proves what it is.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

POINTER = "current.json"
ARTIFACTS_DIR = "artifacts"
POINTER_FORMAT = "cpcompile-pointer"
POINTER_VERSION = 1
# the files of one revision, by kind, and the suffix of each in artifacts/
SUFFIXES = {"json": ".json", "msgpack": ".msgpack", "signature": ".sig"}
REQUIRED_KIND = "json"
MAX_POINTER_BYTES = 64 * 1024
MAX_FILE_BYTES = 1 << 40  # far above any artifact; only here to refuse absurd numbers

_REVISION_PREFIX = "sha256:"
_STEM_PREFIX = "sha256-"
_HEX = frozenset("0123456789abcdef")
_TOP_KEYS = frozenset(("files", "format", "revision", "version"))
_FILE_KEYS = frozenset(("bytes", "path", "sha256"))


class PointerError(ValueError):
    """The pointer is not a usable cpcompile pointer, or a file does not match it; the
    message says why, in one line, with anything quoted from the pointer escaped."""


class PublishedFile:
    """One file of the pointer's revision. (Plain classes, not dataclasses: importing
    ``dataclasses`` would triple the import time of this module.)"""

    __slots__ = ("path", "sha256", "bytes")

    def __init__(self, path: str, sha256: str, size: int) -> None:
        self.path = path  # relative to the pointer's directory: artifacts/<stem><suffix>
        self.sha256 = sha256
        self.bytes = size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublishedFile) and (self.path, self.sha256, self.bytes) == (
            other.path, other.sha256, other.bytes
        )

    def __hash__(self) -> int:
        return hash((self.path, self.sha256, self.bytes))

    def __repr__(self) -> str:
        return f"PublishedFile(path={self.path!r}, sha256={self.sha256!r}, bytes={self.bytes})"


class Pointer:
    """What ``current.json`` says: the current revision and its files, by kind ("json",
    "msgpack", "signature")."""

    __slots__ = ("revision", "files")

    def __init__(self, revision: str, files: Mapping[str, PublishedFile]) -> None:
        self.revision = revision
        self.files = files

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pointer) and (self.revision, dict(self.files)) == (other.revision, dict(other.files))

    def __hash__(self) -> int:
        return hash(self.revision)

    def __repr__(self) -> str:
        return f"Pointer(revision={self.revision!r}, files={dict(self.files)!r})"

    def location(self, kind: str, pointer_location: str) -> str:
        """Where the file of ``kind`` is, given where the pointer was read from: a URL
        (``https://host/dir/current.json``) or a file path (``/srv/cp/current.json``)."""
        path = self._file(kind).path
        if "://" in pointer_location:
            from urllib.parse import urljoin

            return urljoin(pointer_location, path)
        import os.path

        return os.path.join(os.path.dirname(pointer_location), *path.split("/"))

    def check(self, kind: str, data: bytes) -> None:
        """PointerError unless ``data`` is exactly the file of ``kind`` the pointer lists."""
        import hashlib

        published = self._file(kind)
        if len(data) != published.bytes:
            raise PointerError(
                f"{published.path} is {len(data)} bytes, the pointer says {published.bytes} "
                "(truncated, still uploading, or replaced?)"
            )
        actual = hashlib.sha256(data).hexdigest()
        if actual != published.sha256:
            raise PointerError(f"{published.path} has sha256 {actual}, the pointer says {published.sha256}")

    def _file(self, kind: str) -> PublishedFile:
        try:
            return self.files[kind]
        except KeyError:
            raise PointerError(
                f"revision {self.revision} has no {kind} file published; it has {', '.join(sorted(self.files))}"
            ) from None


# --- names --------------------------------------------------------------------------------------


def is_revision(value: object) -> bool:
    return (
        type(value) is str
        and len(value) == len(_REVISION_PREFIX) + 64
        and value.startswith(_REVISION_PREFIX)
        and set(value[len(_REVISION_PREFIX) :]) <= _HEX
    )


def stem_of(revision: str) -> str:
    """``sha256:<hex>`` as a file name stem that is safe everywhere: ``sha256-<hex>``."""
    if not is_revision(revision):
        raise PointerError(f"not a revision: {_quote(revision)}")
    return _STEM_PREFIX + revision[len(_REVISION_PREFIX) :]


def revision_of_stem(stem: str) -> str | None:
    """The revision a file name stem stands for, or None when it is not one."""
    if not stem.startswith(_STEM_PREFIX):
        return None
    revision = _REVISION_PREFIX + stem[len(_STEM_PREFIX) :]
    return revision if is_revision(revision) else None


def file_path(revision: str, kind: str) -> str:
    """The path of a revision's file of ``kind``, relative to the pointer's directory."""
    return f"{ARTIFACTS_DIR}/{stem_of(revision)}{SUFFIXES[kind]}"


# --- writing ------------------------------------------------------------------------------------


def encode_pointer(revision: str, files: Mapping[str, bytes]) -> bytes:
    """The pointer to ``revision`` whose files (by kind) hold ``files``: pretty, sorted JSON
    ending in a newline, the same bytes for the same files."""
    import hashlib
    import json

    if REQUIRED_KIND not in files or not set(files) <= SUFFIXES.keys():
        raise ValueError(f"a pointer lists a {REQUIRED_KIND} file and only {', '.join(SUFFIXES)}")
    document = {
        "files": {
            kind: {"bytes": len(data), "path": file_path(revision, kind), "sha256": hashlib.sha256(data).hexdigest()}
            for kind, data in files.items()
        },
        "format": POINTER_FORMAT,
        "revision": revision,
        "version": POINTER_VERSION,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("ascii")


# --- reading ------------------------------------------------------------------------------------


def parse_pointer(data: bytes) -> Pointer:
    """The pointer in ``data``, checked strictly; PointerError (a ValueError) for anything that
    is not exactly a pointer of this version, whatever the bytes are."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"pointer data must be bytes, got {type(data).__name__}")
    if len(data) > MAX_POINTER_BYTES:
        raise PointerError(f"pointer is {len(data)} bytes, more than {MAX_POINTER_BYTES}: not a cpcompile pointer")
    document = _decode(bytes(data))
    if type(document) is not dict:
        raise PointerError(f"not a cpcompile pointer: the document is not an object but {_kind(document)}")
    if document.get("format") != POINTER_FORMAT:
        raise PointerError(f"not a cpcompile pointer: format is {_quote(document.get('format'))}, expected {POINTER_FORMAT!r}")
    version = document.get("version")
    if type(version) is not int or version < 1:
        raise PointerError(f"pointer version must be a positive integer, got {_quote(version)}")
    if version > POINTER_VERSION:
        raise PointerError(
            f"pointer version {version} is newer than this reader supports (up to {POINTER_VERSION}); upgrade cpcompile"
        )
    _exact_keys(document, _TOP_KEYS, "the pointer")
    revision = document["revision"]
    if not is_revision(revision):
        raise PointerError(f"pointer revision must be 'sha256:' and 64 lowercase hex digits, got {_quote(revision)}")
    files = document["files"]
    if type(files) is not dict:
        raise PointerError(f"pointer files must be an object, got {_kind(files)}")
    unknown = sorted(set(files) - SUFFIXES.keys())
    if unknown:
        raise PointerError(f"pointer lists a file of unknown kind {_quote(unknown[0])}; kinds are {', '.join(SUFFIXES)}")
    if REQUIRED_KIND not in files:
        raise PointerError(f"pointer lists no {REQUIRED_KIND} file")
    return Pointer(revision, {kind: _published_file(revision, kind, entry) for kind, entry in sorted(files.items())})


def _decode(data: bytes) -> Any:
    import json

    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise PointerError("pointer is not UTF-8 text: not a cpcompile pointer") from None
    except RecursionError:
        raise PointerError("pointer is nested too deeply: not a cpcompile pointer") from None
    except ValueError as err:  # JSONDecodeError, a duplicate key, NaN, a number too long
        raise PointerError(f"pointer is not valid JSON: {_first_line(str(err))}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {_quote(key)}")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _published_file(revision: str, kind: str, entry: Any) -> PublishedFile:
    where = f"pointer files.{kind}"
    if type(entry) is not dict:
        raise PointerError(f"{where} must be an object, got {_kind(entry)}")
    _exact_keys(entry, _FILE_KEYS, where)
    expected = file_path(revision, kind)
    if entry["path"] != expected:
        # the name follows from the revision: a pointer cannot send a reader anywhere else
        raise PointerError(f"{where}.path must be {expected!r} for revision {revision}, got {_quote(entry['path'])}")
    digest, size = entry["sha256"], entry["bytes"]
    if type(digest) is not str or len(digest) != 64 or not set(digest) <= _HEX:
        raise PointerError(f"{where}.sha256 must be 64 lowercase hex digits, got {_quote(digest)}")
    if type(size) is not int or not 0 < size <= MAX_FILE_BYTES:
        raise PointerError(f"{where}.bytes must be a positive integer, got {_quote(size)}")
    return PublishedFile(expected, digest, size)


def _exact_keys(document: dict[str, Any], expected: frozenset[str], where: str) -> None:
    missing = sorted(expected - document.keys())
    if missing:
        raise PointerError(f"{where} has no {_quote(missing[0])} field")
    extra = sorted(document.keys() - expected)
    if extra:
        raise PointerError(f"{where} has an unknown field {_quote(extra[0])}")


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _quote(value: object) -> str:
    """A value from the pointer, safe for one log line: printable ASCII, at most 80 characters."""
    text = ascii(value)  # escapes line breaks, control characters, lone surrogates
    if len(text) > 80:
        text = text[:77] + "..."
    return text


def _first_line(text: str) -> str:
    line = ascii(text)[1:-1]
    return line if len(line) <= 160 else line[:157] + "..."
