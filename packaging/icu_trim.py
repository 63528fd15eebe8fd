"""Shrink the ICU data library that Qt Core links (libicudata.so.NN, ~31 MB) to what Qt uses in an
English-only app: root and English locale data, root collation, time-zone rules, converter aliases and the
single-byte code pages. Linux only; needs `as` and `ld` (binutils). Used by packaging/weavegraph-studio.spec.

Usage: python packaging/icu_trim.py LIBICUDATA [--dry-run]
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

# Data trees Qt never opens: break iterators, unit/currency/language/region names, transliterators, spell-out.
DROP_TREES = {"brkitr", "unit", "curr", "lang", "region", "translit", "rbnf"}
# Top-level items Qt never opens: Unicode character names, StringPrep profiles, spoof checker data.
DROP_SUFFIXES = (".spp", ".cfu")
DROP_NAMES = {"unames.icu"}
KEEP_LOCALES = re.compile(r"^(root|en|en_(US|US_POSIX|001|GB))$")
LOCALE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]+)*$")
MAX_CONVERTER = 16 * 1024  # single-byte code pages are a few KB; multi-byte CJK and EBCDIC tables are larger


class IcuDataError(Exception):
    """The library does not hold ICU common data in the layout this tool understands."""


def read_common_data(lib: bytes) -> tuple[str, bytes]:
    """The exported data symbol's name (icudtNN_dat) and its bytes, from an ELF64 little-endian library."""
    if lib[:4] != b"\x7fELF" or lib[4] != 2 or lib[5] != 1:
        raise IcuDataError("not a 64-bit little-endian ELF file")
    (shoff,), (shentsize, shnum) = struct.unpack_from("<Q", lib, 0x28), struct.unpack_from("<HH", lib, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", lib, shoff + i * shentsize) for i in range(shnum)]
    for _name, kind, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if kind != 11:  # SHT_DYNSYM
            continue
        strtab = sections[link][4]
        for pos in range(offset, offset + size, entsize):
            st_name, _kind, _other, shndx, value, st_size = struct.unpack_from("<IBBHQQ", lib, pos)
            name = lib[strtab + st_name : lib.index(b"\0", strtab + st_name)].decode()
            if re.fullmatch(r"icudt\d+_dat", name) and shndx != 0:
                section = sections[shndx]
                start = section[4] + (value - section[3])  # file offset = section offset + (vaddr - base)
                return name, lib[start : start + st_size]
    raise IcuDataError("no exported icudtNN_dat symbol")


def parse_items(data: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split ICU common data ("CmnD") into its header and (name, item bytes) pairs."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", data, 0)
    if (magic1, magic2) != (0xDA, 0x27) or data[12:16] != b"CmnD":
        raise IcuDataError("not ICU common data (CmnD)")
    (count,) = struct.unpack_from("<I", data, header_size)
    toc = [struct.unpack_from("<II", data, header_size + 4 + 8 * i) for i in range(count)]
    body = data[header_size:]
    items = []
    for i, (name_offset, data_offset) in enumerate(toc):
        end = toc[i + 1][1] if i + 1 < count else len(body)
        name = body[name_offset : body.index(b"\0", name_offset)].decode()
        items.append((name, body[data_offset:end]))
    return data[:header_size], items


def keep(name: str, item: bytes) -> bool:
    """Whether an item ("icudt73l/coll/de.res") stays in the trimmed data."""
    parts = name.split("/")[1:]  # drop the "icudtNNl" package prefix
    if len(parts) > 1 and parts[0] in DROP_TREES:
        return False
    leaf = parts[-1]
    if leaf in DROP_NAMES or leaf.endswith(DROP_SUFFIXES):
        return False
    if leaf.endswith(".cnv"):
        return len(item) <= MAX_CONVERTER
    stem = leaf.removesuffix(".res")
    if leaf.endswith(".res") and stem != "res_index" and LOCALE.match(stem):
        return bool(KEEP_LOCALES.match(stem))
    return True


def build_common_data(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """ICU common data with a table of contents over `items` (sorted by name, each item 16-byte aligned)."""
    items = sorted(items)
    count = len(items)
    names = b""
    name_offsets = []
    toc_size = 4 + 8 * count
    for name, _ in items:
        name_offsets.append(toc_size + len(names))
        names += name.encode() + b"\0"
    offset = toc_size + len(names)
    offset += -offset % 16
    blobs, data_offsets = b"", []
    for _, item in items:
        pad = -(offset + len(blobs)) % 16
        blobs += b"\0" * pad
        data_offsets.append(offset + len(blobs))
        blobs += item
    toc = struct.pack("<I", count) + b"".join(
        struct.pack("<II", n, d) for n, d in zip(name_offsets, data_offsets, strict=True)
    )
    body = toc + names
    body += b"\0" * (-len(body) % 16)
    return header + body + blobs


def link_library(symbol: str, data: bytes, soname: str, target: Path) -> None:
    """Write a shared library exporting `symbol` = `data` (16-byte aligned, read-only) with `as` and `ld`."""
    with tempfile.TemporaryDirectory() as tmp:
        blob, source, obj = Path(tmp, "data.bin"), Path(tmp, "data.s"), Path(tmp, "data.o")
        blob.write_bytes(data)
        source.write_text(
            f"\t.section .rodata\n\t.globl {symbol}\n\t.type {symbol}, @object\n\t.balign 16\n{symbol}:\n"
            f'\t.incbin "{blob}"\n\t.size {symbol}, . - {symbol}\n\t.section .note.GNU-stack,"",@progbits\n'
        )
        subprocess.run(["as", "-o", str(obj), str(source)], check=True)
        subprocess.run(["ld", "-shared", "-soname", soname, "-z", "noexecstack", "-o", str(target), str(obj)],
                       check=True)  # fmt: skip


def trim(library: Path, *, dry_run: bool = False) -> tuple[int, int]:
    """Replace `library` with its trimmed version; returns (bytes before, bytes after)."""
    lib = library.read_bytes()
    symbol, data = read_common_data(lib)
    header, items = parse_items(data)
    kept = [(name, item) for name, item in items if keep(name, item)]
    if not any(name.endswith("coll/root.res") for name, _ in kept) or not any(
        name.endswith("zoneinfo64.res") for name, _ in kept
    ):
        raise IcuDataError("the trimmed data would miss root collation or the time-zone rules")
    if dry_run:
        return len(lib), len(build_common_data(header, kept))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, library.name)
        link_library(symbol, build_common_data(header, kept), library.name, out)
        library.write_bytes(out.read_bytes())
    return len(lib), library.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("library", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="only report the sizes")
    args = parser.parse_args(argv)
    before, after = trim(args.library, dry_run=args.dry_run)
    print(f"{args.library}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
