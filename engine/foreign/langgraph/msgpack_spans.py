"""Byte spans of values inside a msgpack document, without decoding them (no msgpack library needed).

The SQLite saver stores a whole checkpoint as one msgpack map; its `channel_values` map holds every
channel's value. `channel_spans` finds where each value starts and ends, so sizes, content hashes and
per-channel decoding
work on the slice alone, and one corrupt channel never hides the others.
"""

from __future__ import annotations

from collections.abc import Iterator

# Fixed extra bytes after the marker: nil/bool, floats, ints, fixext (type byte + data).
_FIXED = {
    0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,
}  # fmt: skip
# Length-prefixed: (bytes of the length, extra bytes after it: 1 for the ext type byte).
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),
          0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)}  # fmt: skip
_CONTAINER = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # (bytes of the count, items per count)


class MsgpackError(ValueError):
    """The bytes are not well-formed msgpack."""


def _uint(buf: bytes, pos: int, size: int) -> int:
    if pos + size > len(buf):
        raise MsgpackError(f"truncated at byte {pos}")
    return int.from_bytes(buf[pos : pos + size], "big")


def _table() -> list[tuple[int, int, int]]:
    """(kind, a, b) per marker byte: 0 done, 1 fixmap, 2 fixarray, 3 fixstr, 4 fixed size a, 5 sized
    (a bytes of length, b extra), 6 container (a bytes of count, b items per count), 7 invalid."""
    out = []
    for b in range(256):
        if b <= 0x7F or b >= 0xE0:
            out.append((0, 0, 0))
        elif b <= 0x8F:
            out.append((1, b & 0x0F, 0))
        elif b <= 0x9F:
            out.append((2, b & 0x0F, 0))
        elif b <= 0xBF:
            out.append((3, b & 0x1F, 0))
        elif b in _FIXED:
            out.append((4, _FIXED[b], 0))
        elif b in _SIZED:
            out.append((5, *_SIZED[b]))
        elif b in _CONTAINER:
            out.append((6, *_CONTAINER[b]))
        else:
            out.append((7, 0, 0))
    return out


_TABLE = _table()


def skip(buf: bytes, pos: int) -> int:
    """The offset just after the value starting at `pos`."""
    remaining = 1
    end = len(buf)
    table = _TABLE
    while remaining:
        remaining -= 1
        if pos >= end:
            raise MsgpackError(f"truncated at byte {pos}")
        kind, a, b = table[buf[pos]]
        pos += 1
        if kind == 0:
            continue
        if kind == 1:
            remaining += 2 * a
        elif kind == 2:
            remaining += a
        elif kind == 3 or kind == 4:
            pos += a
        elif kind == 5:
            if pos + a > end:
                raise MsgpackError(f"truncated at byte {pos}")
            pos += a + b + int.from_bytes(buf[pos : pos + a], "big")
        elif kind == 6:
            if pos + a > end:
                raise MsgpackError(f"truncated at byte {pos}")
            remaining += b * int.from_bytes(buf[pos : pos + a], "big")
            pos += a
        else:
            raise MsgpackError(f"invalid msgpack marker 0x{buf[pos - 1]:02x} at byte {pos - 1}")
    if pos > end:
        raise MsgpackError(f"truncated: a value runs past the end ({pos} > {end})")
    return pos


def _map_header(buf: bytes, pos: int) -> tuple[int, int]:
    """(entries, offset of the first key) of the map at `pos`."""
    if pos >= len(buf):
        raise MsgpackError(f"truncated at byte {pos}")
    b = buf[pos]
    if 0x80 <= b <= 0x8F:
        return b & 0x0F, pos + 1
    if b == 0xDE:
        return _uint(buf, pos + 1, 2), pos + 3
    if b == 0xDF:
        return _uint(buf, pos + 1, 4), pos + 5
    raise MsgpackError(f"expected a map at byte {pos}, found marker 0x{b:02x}")


def _str(buf: bytes, pos: int) -> tuple[str, int]:
    b = buf[pos] if pos < len(buf) else -1
    if 0xA0 <= b <= 0xBF:
        size, start = b & 0x1F, pos + 1
    elif b in (0xD9, 0xDA, 0xDB):
        width = {0xD9: 1, 0xDA: 2, 0xDB: 4}[b]
        size, start = _uint(buf, pos + 1, width), pos + 1 + width
    else:
        raise MsgpackError(f"expected a string key at byte {pos}")
    if start + size > len(buf):
        raise MsgpackError(f"truncated string at byte {pos}")
    return bytes(buf[start : start + size]).decode("utf-8", "replace"), start + size


def map_spans(buf: bytes, pos: int = 0) -> Iterator[tuple[str, int, int]]:
    """(key, value start, value end) of each entry of the string-keyed map at `pos`."""
    count, pos = _map_header(buf, pos)
    for _ in range(count):
        key, pos = _str(buf, pos)
        end = skip(buf, pos)
        yield key, pos, end
        pos = end


def channel_spans(blob: bytes) -> dict[str, tuple[int, int]]:
    """{channel: (start, end)} of the `channel_values` of a msgpack-encoded LangGraph checkpoint."""
    count, pos = _map_header(blob, 0)
    for _ in range(count):
        key, pos = _str(blob, pos)
        if key == "channel_values":  # walk into it; never skip it whole first
            entries, pos = _map_header(blob, pos)
            out: dict[str, tuple[int, int]] = {}
            for _ in range(entries):
                name, pos = _str(blob, pos)
                end = skip(blob, pos)
                out[name] = (pos, end)
                pos = end
            return out
        pos = skip(blob, pos)
    return {}


def _plain(buf: bytes, pos: int, depth: int) -> tuple[object, int]:
    if depth > 200:
        raise MsgpackError("nested too deeply")
    if pos >= len(buf):
        raise MsgpackError(f"truncated at byte {pos}")
    b = buf[pos]
    if b <= 0x7F:
        return b, pos + 1
    if b >= 0xE0:
        return b - 0x100, pos + 1
    if b <= 0x8F or b in (0xDE, 0xDF):
        count, pos = _map_header(buf, pos)
        out: dict[object, object] = {}
        for _ in range(count):
            key, pos = _plain(buf, pos, depth + 1)
            out[key if isinstance(key, str | int | float | bool) or key is None else repr(key)], pos = _plain(
                buf, pos, depth + 1
            )
        return out, pos
    if b <= 0x9F or b in (0xDC, 0xDD):
        if b <= 0x9F:
            count, pos = b & 0x0F, pos + 1
        else:
            width = 2 if b == 0xDC else 4
            count, pos = _uint(buf, pos + 1, width), pos + 1 + width
        items = []
        for _ in range(count):
            item, pos = _plain(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if b <= 0xBF or b in (0xD9, 0xDA, 0xDB):
        return _str(buf, pos)
    if b in (0xC0, 0xC2, 0xC3):
        return {0xC0: None, 0xC2: False, 0xC3: True}[b], pos + 1
    if b in (0xC4, 0xC5, 0xC6):
        width = {0xC4: 1, 0xC5: 2, 0xC6: 4}[b]
        size = _uint(buf, pos + 1, width)
        start = pos + 1 + width
        return bytes(buf[start : start + size]), start + size
    if b in (0xCA, 0xCB):
        import struct

        size = 4 if b == 0xCA else 8
        if pos + 1 + size > len(buf):
            raise MsgpackError(f"truncated at byte {pos}")
        return struct.unpack(">f" if size == 4 else ">d", buf[pos + 1 : pos + 1 + size])[0], pos + 1 + size
    if 0xCC <= b <= 0xD3:
        size = 1 << ((b - 0xCC) % 4)
        raw = bytes(buf[pos + 1 : pos + 1 + size])
        if len(raw) < size:
            raise MsgpackError(f"truncated at byte {pos}")
        return int.from_bytes(raw, "big", signed=b >= 0xD0), pos + 1 + size
    raise MsgpackError(f"msgpack extension type at byte {pos} needs LangGraph's serializer")


def decode_plain(buf: bytes) -> object:
    """Decode msgpack made only of maps, arrays, strings, numbers, booleans, nil and bytes (no extension
    types, which carry Python objects; those raise `MsgpackError`)."""
    value, end = _plain(buf, 0, 0)
    if end != len(buf):
        raise MsgpackError(f"{len(buf) - end} bytes after the value")
    return value


def top_level(blob: bytes, keys: tuple[str, ...]) -> dict[str, object]:
    """The named plain entries of a checkpoint's top-level map (entries that fail to decode are left out)."""
    out: dict[str, object] = {}
    for key, start, end in map_spans(blob):
        if key in keys:
            try:
                out[key] = decode_plain(blob[start:end])
            except MsgpackError:
                continue
    return out
