"""How the server process collects cyclic garbage (API_GC_THRESHOLD).

Python's cyclic collector runs a young-generation pass every 700 allocations of container objects, and an older
pass every 10 of those. Answering a large query builds hundreds of thousands of such objects that all stay
alive until the answer is sent (records, response dicts, lists); each pass walks the ones it finds young, and
the older passes everything promoted so far. For 50 devices x 256 points with current values and history that
was over half of the request (measured: 11-14 s with the defaults, 5.1-5.4 s with collection off, in-process).
The answers hold no cycles worth collecting early, so passes far apart cost nothing but a little memory held
longer; the objects alive once the server has started (schema, modules, services) never become garbage and are
frozen out of every pass (`gc.freeze`), as CPython's documentation recommends for long-running servers.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from t3000gql.config import Settings


@contextlib.contextmanager
def gc_policy(settings: Settings) -> Iterator[None]:
    """While the server runs (its lifespan, once the services are up): the young-generation threshold raised and
    what exists now frozen; both undone when it stops (tests start many servers in one process)."""
    if settings.api_gc_threshold <= 0:
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(settings.api_gc_threshold, before[1], before[2])
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
