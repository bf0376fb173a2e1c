"""Arrow's memory pool for validation: jemalloc, keeping freed pages for a while.

Validating a file allocates and frees the same large buffers again and again (a block's text,
its parsed columns, the staged rows, the encoder's pages). pyarrow's default pool, mimalloc,
hands freed pages back to the kernel within milliseconds; the next block faults them in again
and the kernel zeroes them (huge pages, 2 MB at a time). On the peers benchmark's 2M-row profile
CSV that was 0.3 to 0.6 of 1.6 to 1.9 CPU-seconds spent in the kernel. jemalloc with a decay of
:data:`DECAY_MS` reuses those pages instead: 0.2 CPU-s in the kernel, 1.45 CPU-s in all, and a
lower peak RSS (about 370 MB against 440). See docs/performance.md and architecture decision 57.

The pool is process-wide (``pyarrow.set_memory_pool``); it is set once, the first time a file is
validated, and only where pyarrow was built with jemalloc (its Linux wheels are, so the Lambda
layer is); elsewhere the default pool stays. ``BATCHGATE_ARROW_POOL=default`` keeps the default.
"""

from __future__ import annotations

import os
import threading

import pyarrow as pa

# How long jemalloc keeps freed (dirty) pages before returning them to the kernel. Blocks of a
# file follow each other within milliseconds; 10 s covers a whole validation and then lets go.
DECAY_MS = 10_000

_lock = threading.Lock()
_done = False


def use_validation_pool() -> bool:
    """Make jemalloc (decay :data:`DECAY_MS`) Arrow's default pool; whether it is in use."""
    global _done
    with _lock:
        if _done:
            return pa.default_memory_pool().backend_name == "jemalloc"
        _done = True
        if os.environ.get("BATCHGATE_ARROW_POOL", "") == "default":
            return False
        try:
            pool = pa.jemalloc_memory_pool()
            pa.jemalloc_set_decay_ms(DECAY_MS)
        except NotImplementedError:  # pyarrow built without jemalloc
            return False
        pa.set_memory_pool(pool)
        return True
