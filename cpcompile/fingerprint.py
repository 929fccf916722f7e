"""Which code is running: a fingerprint of cpcompile's own files, for the cache entries' tags and
the validation daemon's address. Standard library only: the daemon's client computes it before
anything else is imported."""

from __future__ import annotations

import functools
import hashlib
import os

_CODE = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def code_fingerprint() -> str:
    """The path, size and modification time of each of cpcompile's own files (under 1 ms): the
    version alone would let a checkout of cpcompile that is being edited reuse the entries of
    the code before the edit."""
    h = hashlib.sha256()
    for folder, subfolders, names in os.walk(_CODE):
        subfolders[:] = sorted(name for name in subfolders if name != "__pycache__")
        for name in sorted(names):
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            h.update(f"{os.path.relpath(folder, _CODE)}/{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
