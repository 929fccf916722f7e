"""Hot reload in-process: keep serving the last good artifact while a new one is deployed.

A new artifact is read, verified and indexed completely before ``current`` is replaced, and
the swap is one attribute assignment: a reader that fetched ``holder.current`` keeps a whole
artifact for as long as it uses it, the old or the new one, never a mix.
"""

from __future__ import annotations

import _thread
import os
from time import time as _time

from cpcompile.runtime._load import (
    default_signature_path,
    encoding_for,
    loads,
    public_key_of,
    read_signature,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from typing import Any, Optional, Tuple

    from cpcompile.artifact_format.keys import KeySource
    from cpcompile.runtime._artifact import Artifact, Payload
    from cpcompile.runtime._load import PathLike

    FileKey = Optional[Tuple[int, int, int]]
    # (artifact file, signature file or None when unsigned or absent)
    ChangeKey = Tuple[FileKey, FileKey]


class ArtifactHolder:
    """The current ``Artifact`` of a file, reloaded when the file changes.

    ``current`` is the artifact to use, ``revision`` its revision, ``loaded_at`` when it was
    loaded (Unix seconds), ``last_error`` the exception of the last failed reload (``None``
    after a successful one). The first load raises; later failures only set ``last_error``.
    With ``prepare`` (the default), each artifact is ``prepare``d before it becomes current.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        public_key: KeySource | None = None,
        signature_path: PathLike | None = None,
        encoding: str | None = None,
        poll_interval: float = 2.0,
        prepare: bool = True,
    ) -> None:
        if not poll_interval > 0:
            raise ValueError(
                f"poll_interval must be a positive number of seconds, got {poll_interval!r}"
            )
        self.path = os.fspath(path)
        self.poll_interval = float(poll_interval)
        self._public_key = public_key_of(public_key)
        self._signature_path = os.fspath(signature_path or default_signature_path(self.path))
        self._encoding = encoding or encoding_for(self.path)
        self._prepare = prepare
        self._reload_lock = _thread.allocate_lock()
        self._thread: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self.last_error: BaseException | None = None
        self.current, self._key = self._load()
        self.loaded_at = _time()

    @property
    def revision(self) -> str:
        return self.current.revision

    def lookup(self, datastream_id: str, memberships: Any, **options: Any) -> Payload:
        """``self.current.lookup(...)``, for callers that do not keep the artifact."""
        return self.current.lookup(datastream_id, memberships, **options)

    def lookup_shared(self, datastream_id: str, memberships: Any, **options: Any) -> Payload:
        """``self.current.lookup_shared(...)``, for callers that do not keep the artifact."""
        return self.current.lookup_shared(datastream_id, memberships, **options)

    def lookup_bytes(self, datastream_id: str, memberships: Any, **options: Any) -> bytes:
        """``self.current.lookup_bytes(...)``, for callers that do not keep the artifact."""
        return self.current.lookup_bytes(datastream_id, memberships, **options)

    def reload_if_changed(self) -> bool:
        """Reload if the file (or its signature) changed; ``True`` if a new artifact is current.

        Changes are seen by (mtime_ns, size, inode), so an atomic rename of a new file is
        noticed even within one mtime tick. A file that failed is not retried until it
        changes again.
        """
        try:
            key = self._change_key()
        except OSError as e:  # e.g. removed between two deploy steps: keep serving
            self.last_error = e
            return False
        if key == self._key:
            return False
        with self._reload_lock:
            if key == self._key:  # another thread reloaded it meanwhile
                return False
            try:
                artifact, loaded_key = self._load()
            except Exception as e:  # any failure: the last good artifact keeps serving
                self.last_error = e
                self._key = key
                return False
            self._key = loaded_key
            self.current = artifact
            self.loaded_at = _time()
            self.last_error = None
            return True

    def start(self) -> ArtifactHolder:
        """Poll for changes every ``poll_interval`` seconds in a daemon thread."""
        import threading  # only pollers pay for it

        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._poll,
            args=(self._stopping,),
            name=f"cpcompile-reload:{self.path}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; waits at most ``timeout`` seconds for a reload in progress."""
        thread, stopping = self._thread, self._stopping
        if thread is None or stopping is None:
            return
        stopping.set()
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> ArtifactHolder:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _poll(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.poll_interval):
            try:
                self.reload_if_changed()
            except Exception as e:  # never let the poller die silently
                self.last_error = e

    def _load(self) -> tuple[Artifact, ChangeKey]:
        # stat the open file descriptor: the key then describes exactly the bytes read
        with open(self.path, "rb") as f:
            artifact_key = _file_key(os.fstat(f.fileno()))
            data = f.read()
        signature = None
        if self._public_key is not None:
            signature = read_signature(self._signature_path)
        artifact = loads(
            data, encoding=self._encoding, public_key=self._public_key, signature=signature
        )
        if self._prepare:  # before it becomes current: no request decodes anything
            artifact.prepare()
        return artifact, (artifact_key, self._signature_key())

    def _change_key(self) -> ChangeKey:
        return _file_key(os.stat(self.path)), self._signature_key()

    def _signature_key(self) -> FileKey:
        # a signature deployed after its artifact must trigger a reload too
        if self._public_key is None:
            return None
        try:
            return _file_key(os.stat(self._signature_path))
        except FileNotFoundError:
            return None


def _file_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mtime_ns, st.st_size, st.st_ino
