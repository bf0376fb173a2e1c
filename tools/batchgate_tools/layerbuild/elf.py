"""ELF ``DT_NEEDED`` reading, and the check that every shared library a kept one needs is there."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path

# Libraries the manylinux policy lets wheels take from the system; every other DT_NEEDED entry of
# a kept shared object must be a file in the layer.
SYSTEM_LIBS = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libnsl.so.1",
        "libcrypt.so.1",
        "libstdc++.so.6",
        "libgcc_s.so.1",
        "ld-linux-x86-64.so.2",
        "libz.so.1",
    }
)


def elf_needed(path: Path) -> list[str] | None:
    """DT_NEEDED entries of a 64-bit little-endian ELF shared object; None if ``path`` is not one.

    Parsed here rather than with ``readelf`` so the safety check needs nothing but Python.
    """
    with path.open("rb") as fh:
        head = fh.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return None
        data = head + fh.read()
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    for sh_name, sh_type, _fl, _addr, offset, size, link, _info, _align, entsize in sections:
        del sh_name
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab_offset = sections[link][4]
        for pos in range(offset, offset + size, entsize or 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab_offset + value)
                needed.append(data[strtab_offset + value : end].decode())
    return needed


def shared_objects(root: Path) -> Iterator[Path]:
    for p in root.rglob("*.so*"):
        if p.is_file() and not p.is_symlink() and re.search(r"\.so(\.\d+)*$", p.name):
            yield p


def check_needed_closure(root: Path) -> list[str]:
    """Every DT_NEEDED of every kept shared object is a system library or a file in the layer."""
    present = {p.name for p in root.rglob("*") if p.is_file()}
    problems = []
    for so in shared_objects(root):
        for lib in elf_needed(so) or []:
            if lib not in SYSTEM_LIBS and lib not in present:
                problems.append(f"{so.relative_to(root)} needs {lib}, which is not in the layer")
    return problems
