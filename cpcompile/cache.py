"""Incremental builds: parsed documents, finished builds and validation reports, cached by content hash.

Everything here is an optimisation, and none of it may decide what a build writes: the artifact
is a function of the reviewed config files and the cpcompile version only. So (docs/build.md):

- the cache lives outside the checkout (``default_cache_dir``); a directory inside the config
  root is refused (``CacheDirInsideRoot``), because a pull request could commit entries there;
- every entry is authenticated with HMAC-SHA256 under a secret key that is not in the checkout:
  ``CPCOMPILE_CACHE_KEY`` (read by the command line) or the file ``key`` in the cache directory,
  created on first use, mode 0600. An entry whose tag does not verify under that key (forged,
  copied from another cache, written by another version, damaged) is ignored;
- anything else that goes wrong (missing, truncated, unreadable, unwritable) is ignored too and
  the work is simply done again;
- it stays within size and age limits (cache_tidy.py): what has not been used for long, then the
  least recently used, is deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import __version__
from .artifact_format.document import SCHEMA_VERSION
from .cache_tidy import DAY, DEFAULT_LIMITS, CacheLimits, due, tidy
from .fingerprint import code_fingerprint
from .sources import SourceFile

CACHE_FORMAT = 2
KEY_FILE = "key"
KEY_BYTES = 32
MIN_KEY_TEXT = 16  # characters of CPCOMPILE_CACHE_KEY: anything shorter is not a secret
_MAGIC = b"cpcompile-cache-2"
# what an entry's tag covers besides its payload: entries of another format, cpcompile version or
# schema, or of other code (code_fingerprint), never verify, even when written under the same key
_CONTEXT = f"cpcompile-cache {CACHE_FORMAT} cpcompile {__version__} schema {SCHEMA_VERSION}".encode()


class CacheSetupError(ValueError):
    """A cache the operator asked for that cannot be used safely (a usage error)."""


class CacheDirInsideRoot(CacheSetupError):
    pass


def default_cache_dir(environ: Mapping[str, str]) -> Path:
    """$CPCOMPILE_CACHE_DIR, else $XDG_CACHE_HOME/cpcompile, else ~/.cache/cpcompile."""
    explicit = environ.get("CPCOMPILE_CACHE_DIR", "")
    if explicit:
        return Path(explicit)
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec: a relative path is to be ignored
        return Path(xdg) / "cpcompile"
    try:
        home = Path(environ.get("HOME") or Path.home())
    except RuntimeError:  # no HOME and no user database entry: nowhere to keep a cache
        raise CacheSetupError("no home directory for the cache; pass --cache-dir DIR or --no-cache") from None
    return home / ".cache" / "cpcompile"


def key_from_text(text: str) -> bytes:
    """The cache key from a secret given as text (CPCOMPILE_CACHE_KEY, for CI)."""
    if len(text) < MIN_KEY_TEXT:
        raise CacheSetupError(
            f"CPCOMPILE_CACHE_KEY is {len(text)} characters long; use a random secret of at least "
            f"{MIN_KEY_TEXT} (such as the output of `openssl rand -hex 32`), or unset it"
        )
    return hashlib.sha256(b"cpcompile cache key\0" + text.encode("utf-8", "surrogateescape")).digest()


def check_outside(directory: Path, root: Path) -> None:
    """Refuse a cache directory inside the config root: the checkout is what a pull request
    writes, so a cache there would be theirs to fill."""
    place, config = directory.resolve(), root.resolve()
    if place == config or config in place.parents:
        raise CacheDirInsideRoot(
            f"the cache directory {directory} is inside the config root {root}, where a pull request "
            "could plant entries; use a directory outside the checkout (the default is "
            "~/.cache/cpcompile; see docs/build.md) or --no-cache"
        )


class Cache:
    """The cache in ``directory`` (outside the root; see ``check_outside``), authenticated with
    ``key``, or with the key file in ``directory`` when ``key`` is None, and kept within
    ``limits`` (cache_tidy.py)."""

    def __init__(self, directory: Path, key: bytes | None = None, limits: CacheLimits = DEFAULT_LIMITS):
        self.root = directory
        self.limits = limits
        # a new tool version may parse or check differently: it gets a folder of its own
        self.directory = directory / f"v{CACHE_FORMAT}-{__version__}-schema{SCHEMA_VERSION}"
        self._key = key if key is not None else _key_file(directory)
        self._context = b"%s code %s" % (_CONTEXT, code_fingerprint().encode())
        self._pending: dict[Path, bytes] = {}

    @property
    def usable(self) -> bool:
        return self._key is not None

    # parsed documents ---------------------------------------------------------------------
    def parse(self, source: SourceFile) -> dict[str, Any]:
        path = self.directory / "docs" / source.sha256[:2] / f"{source.sha256}.json"
        data = self._read(path, "doc", source.sha256)
        if isinstance(data, dict):
            return data
        from . import yamlsrc  # here: a run answered from the cache never needs the YAML parser

        data = yamlsrc.parse(source.text)  # a YamlProblem propagates and is not cached
        self._store(path, "doc", source.sha256, data)
        return data

    # finished builds ----------------------------------------------------------------------
    def build_record(self, digest: str) -> dict[str, Any] | None:
        record = self._read(self.directory / "builds" / f"{digest}.json", "build", digest)
        return record if isinstance(record, dict) else None

    def store_build_record(self, digest: str, record: dict[str, Any]) -> None:
        self._store(self.directory / "builds" / f"{digest}.json", "build", digest, record)

    # what an incremental build keeps (incremental.py): JSON values and bytes, by kind and digest
    def value(self, kind: str, digest: str) -> Any:
        return self._read(self._entry(kind, digest), kind, digest)

    def store_value(self, kind: str, digest: str, value: Any) -> None:
        self._store(self._entry(kind, digest), kind, digest, value)

    def blob(self, kind: str, digest: str) -> bytes | None:
        return self._verified(self._entry(kind, digest), kind, digest)

    def store_blob(self, kind: str, digest: str, payload: bytes) -> None:
        if self._key is not None:
            self._pending[self._entry(kind, digest)] = self._framed(kind, digest, payload)

    def _entry(self, kind: str, digest: str) -> Path:
        return self.directory / kind / digest[:2] / digest

    # finished validations (validate_cache.py) ----------------------------------------------
    def validation_record(self, digest: str) -> dict[str, Any] | None:
        record = self._read(self.directory / "validations" / f"{digest}.json", "validation", digest)
        return record if isinstance(record, dict) else None

    def store_validation_record(self, digest: str, record: dict[str, Any]) -> None:
        self._store(self.directory / "validations" / f"{digest}.json", "validation", digest, record)

    def flush(self) -> None:
        """Write what was learnt; failing to write a cache never fails the build."""
        if not self._pending:
            return
        from .atomic import write_atomic  # here: a run answered from the cache writes nothing

        for path, data in self._pending.items():
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(path, data, mode=0o600, durable=False)
            except OSError:
                pass
        self._pending.clear()
        now = time.time()
        if due(self.root, self.limits, now):
            tidy(self.root, self.limits, now)

    # entries: a header line with the tag, then the JSON payload --------------------------------
    def _tag(self, kind: str, lookup: str, payload: bytes) -> bytes:
        assert self._key is not None
        message = b"\0".join((self._context, kind.encode(), lookup.encode(), payload))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest().encode()

    def _framed(self, kind: str, lookup: str, payload: bytes) -> bytes:
        return b"%s %s\n" % (_MAGIC, self._tag(kind, lookup, payload)) + payload

    def _store(self, path: Path, kind: str, lookup: str, value: Any) -> None:
        if self._key is None:
            return
        payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        self._pending[path] = self._framed(kind, lookup, payload)

    def _verified(self, path: Path, kind: str, lookup: str) -> bytes | None:
        """The payload stored at ``path`` for ``lookup``, or None unless its tag verifies."""
        if self._key is None:
            return None
        try:
            header, _, payload = path.read_bytes().partition(b"\n")
        except OSError:
            return None
        magic, _, tag = header.partition(b" ")
        if magic != _MAGIC or not hmac.compare_digest(tag, self._tag(kind, lookup, payload)):
            return None
        _mark_used(path)
        return payload

    def _read(self, path: Path, kind: str, lookup: str) -> Any:
        """The value stored at ``path`` for ``lookup``, or None unless its tag verifies."""
        payload = self._verified(path, kind, lookup)
        try:
            return None if payload is None else json.loads(payload)
        except ValueError:
            return None


def _mark_used(path: Path) -> None:
    """Refresh the mtime of an entry read, by which cache_tidy tells the entries in use; once a
    day is enough for limits counted in days, and spares a write on every read."""
    try:
        if time.time() - path.stat().st_mtime >= DAY:
            os.utime(path)
    except OSError:
        pass


def input_digest(files: Iterable[SourceFile], extra: Iterable[str]) -> str:
    """Identity of a build's inputs: every file's path and content, plus build options."""
    h = hashlib.sha256(f"cpcompile {__version__} schema {SCHEMA_VERSION}\n".encode())
    for source in files:
        h.update(f"{source.kind.value}\0{source.relpath}\0{source.sha256}\n".encode())
    for item in extra:
        h.update(f"option\0{item}\n".encode())
    return h.hexdigest()


# --- the key file ---------------------------------------------------------------------------------


def _key_file(directory: Path) -> bytes | None:
    """The key in ``directory``/key, made on first use; None if there can be none (then the cache
    is neither read nor written). A key file that is not a private regular file of ours holding
    exactly a key (damaged, a link, readable by others) is replaced: whoever could write or read
    it could forge entries, and entries tagged with a lost key are only work to redo."""
    path = directory / KEY_FILE
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = _read_key(path)
        if key is not None:
            return key
        return _new_key(path, replace=path.exists() or path.is_symlink())
    except OSError:
        return None


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(fd)
        private = stat.S_ISREG(st.st_mode) and not st.st_mode & 0o077
        ours = not hasattr(os, "getuid") or st.st_uid == os.getuid()
        if not (private and ours and st.st_size == KEY_BYTES):
            return None
        key = handle.read(KEY_BYTES + 1)
    return key if len(key) == KEY_BYTES else None


def _new_key(path: Path, *, replace: bool) -> bytes | None:
    """A new random key, written whole (0600) before it appears at ``path``. Two builds that
    start at once: the first link wins and the other one reads the winner's key."""
    import tempfile  # here: only a first run makes a key

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key.", suffix=".tmp")  # mode 0600
    try:
        key = os.urandom(KEY_BYTES)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        if replace:
            os.replace(tmp, path)
            return key
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_key(path)
        except OSError:  # a file system without hard links: last writer wins, which is harmless
            os.replace(tmp, path)
        return key
    finally:
        Path(tmp).unlink(missing_ok=True)
