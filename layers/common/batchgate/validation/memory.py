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

The same holds for the Python side's large buffers, the readers' blocks (``bytes`` of about the
block size, two per block: the read and the block cut from it), which glibc's ``malloc`` takes
from ``mmap`` or gives back by trimming the heap, block after block. :func:`keep_freed_heap`
sets glibc's mmap threshold to :data:`MMAP_THRESHOLD` and its trim threshold to
:data:`TRIM_THRESHOLD` (``mallopt``), once per process, so those blocks reuse the heap's pages:
on the peers benchmark's profile CSV the reader thread's page faults fell from ~29,000 to ~4,000
and its CPU from 0.16 to 0.09 s. Only where the C library is glibc (the Lambda runtime's is);
``BATCHGATE_MALLOC=default`` leaves ``malloc`` as it is. Architecture decision 59.
"""

from __future__ import annotations

import ctypes
import os
import threading

import pyarrow as pa

# How long jemalloc keeps freed (dirty) pages before returning them to the kernel. Blocks of a
# file follow each other within milliseconds; 10 s covers a whole validation and then lets go.
DECAY_MS = 10_000

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Allocations below this come from the heap (glibc's largest allowed value: a reader's block of
# up to 32 MiB); free memory at the heap's top is given back beyond TRIM_THRESHOLD only.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 512 << 20

_lock = threading.Lock()
_done = False


def use_validation_pool() -> bool:
    """Make jemalloc (decay :data:`DECAY_MS`) Arrow's default pool; whether it is in use."""
    global _done
    with _lock:
        if _done:
            return pa.default_memory_pool().backend_name == "jemalloc"
        _done = True
        keep_freed_heap()
        if os.environ.get("BATCHGATE_ARROW_POOL", "") == "default":
            return False
        try:
            pool = pa.jemalloc_memory_pool()
            pa.jemalloc_set_decay_ms(DECAY_MS)
        except NotImplementedError:  # pyarrow built without jemalloc
            return False
        pa.set_memory_pool(pool)
        return True


def keep_freed_heap() -> bool:
    """Have glibc's malloc keep freed large blocks for reuse (see the module docstring); whether
    it was done. A no-op returning False with another C library or ``BATCHGATE_MALLOC=default``."""
    if os.environ.get("BATCHGATE_MALLOC", "") == "default":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # glibc only (musl has a no-op mallopt)
    except (OSError, AttributeError):
        return False
    del gnu_get_libc_version
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
