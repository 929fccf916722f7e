"""Handing freshly loaded objects to the collector's oldest generation (loads, and a
datastream's audiences decoded on first lookup)."""

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
