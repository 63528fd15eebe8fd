"""64-bit FNV-1a over parts, each followed by one 0xFF byte (the graph and runtime-config hashes)."""

from __future__ import annotations

from collections.abc import Iterable

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_MASK = 0xFFFFFFFFFFFFFFFF


def fnv1a_parts(parts: Iterable[str]) -> str:
    """Hash UTF-8 `parts` (each terminated by 0xFF) and print 16 lowercase hex digits."""
    h = FNV_OFFSET
    for part in parts:
        for byte in part.encode("utf-8"):
            h = ((h ^ byte) * FNV_PRIME) & _MASK
        h = ((h ^ 0xFF) * FNV_PRIME) & _MASK
    return f"{h:016x}"
