"""Making many objects at once without the collector in the way (loads, and a datastream's
audiences decoded on first lookup): ``made_in_bulk`` pauses it, then ``settle`` hands the new
objects to its oldest generation."""

from __future__ import annotations

import gc


def settle() -> None:
    """Move the objects just made to the collector's oldest generation.

    They all sit in the youngest generation, far over its threshold: the next allocation
    anywhere (likely a request) would pay for scanning them, and ``gc.collect(1)`` here costs
    as much (~90 ms at xl). They are acyclic and stay alive, so scanning them finds nothing:
    ``gc.freeze()`` then ``gc.unfreeze()`` moves every tracked object to the oldest generation
    in constant time instead. Only when the application has frozen objects itself (a
    pre-fork server's ``gc.freeze()``), which ``unfreeze`` would thaw, is the scan done.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()
    else:
        gc.collect(1)


class made_in_bulk:
    """``with made_in_bulk():`` pauses the cyclic collector while the block makes its objects
    (up to a million acyclic containers for an artifact: scanning them again and again while
    they are made more than doubles the time), then settles what it made, unless the collector
    was already off or the block failed. A class rather than ``contextlib.contextmanager``: the runtime does not import
    contextlib."""

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, failure: object, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()
            if failure is None:
                settle()
