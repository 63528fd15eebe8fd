"""Incremental checkpoint encoding: a session's message texts are kept between saves and reused while the
live state still holds the very same (frozen) Message objects, so a save encodes only the new messages.
The texts are exactly `serde.dumps(serde.state_to_json(state))`; compact deltas are built from them too.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from operator import is_
from typing import Any

from engine.persistence.base import Checkpoint
from engine.persistence.compact import DEFAULT_SNAPSHOT_EVERY, DELTA_KEY, extra_delta, list_delta
from engine.persistence.errors import CheckpointDataError
from engine.persistence.serde import dumps, nodes_to_json, versions_seen_to_json
from engine.types import Message

MAX_SESSIONS = 256
"""Sessions whose message texts a checkpointer keeps (least recently saved dropped first)."""


@dataclass(slots=True)
class MessageTexts:
    """The messages of a session's last save and their JSON texts. `items` and `texts` only ever grow by
    appends (a mismatch builds a new object), so a prefix captured at one save stays valid."""

    items: list[Message]
    texts: list[str]
    joined: str
    """`",".join(texts)`."""
    nbytes: int
    """UTF-8 size of `joined`."""


def _texts(messages: list[Message]) -> tuple[list[str], str, int]:
    texts = [dumps(m.to_json_value()) for m in messages]
    joined = ",".join(texts)
    return texts, joined, len(joined.encode())  # also refuses text UTF-8 cannot hold (lone surrogates)


def update_texts(cache: MessageTexts | None, messages: list[Message]) -> MessageTexts:
    """`cache` extended by the new messages when `messages` starts with the cached objects themselves
    (identity, not equality: the objects are frozen, so an identical object has the identical text);
    otherwise a fresh encoding of every message."""
    if cache is not None:
        n = len(cache.items)
        if len(messages) >= n and all(map(is_, messages, cache.items)):
            if len(messages) == n:
                return cache
            new = messages[n:]
            texts, added, size = _texts(new)
            cache.items.extend(new)
            cache.texts.extend(texts)
            cache.joined = f"{cache.joined},{added}" if n else added
            cache.nbytes += size + 1 if n else size
            return cache
    texts, joined, size = _texts(list(messages))
    return MessageTexts(list(messages), texts, joined, size)


class TextCache:
    """Per session, the `MessageTexts` of the last save (a bounded LRU)."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._by_session: OrderedDict[str, MessageTexts] = OrderedDict()

    def update(self, session_id: str, messages: list[Message]) -> MessageTexts:
        found = self._by_session.pop(session_id, None)
        texts = update_texts(found, messages)
        self._by_session[session_id] = texts
        while len(self._by_session) > self.limit:
            self._by_session.popitem(last=False)
        return texts

    def forget(self, session_id: str) -> None:
        self._by_session.pop(session_id, None)


@dataclass(slots=True)
class Known:
    """A writer's record of a session's latest saved step: the base of its next compact delta."""

    step: int
    token: str
    """The session row's `state_digest` this writer stored; any other write of the row changes it."""
    chain: int
    """Deltas since the last full snapshot."""
    messages: MessageTexts
    count: int
    """How many of `messages` the step holds."""
    extra_json: str
    """`{"version", "map"}` as saved (parsed only when the next save's text differs)."""
    errors_json: str
    """`{"version", "items"}` as saved."""


def new_token() -> str:
    """A fresh value for `sessions.state_digest`: tells a writer whether its record of the row is current."""
    return os.urandom(12).hex()


@dataclass(slots=True)
class EncodedSave:
    """A checkpoint as the texts a save writes; the state text is assembled only when it is needed."""

    session_id: str
    step: int
    created_at: Any
    concurrency_limit: int
    graph_hash: str | None
    frontier_json: str
    versions_seen_json: str
    ran_nodes_json: str
    skipped_nodes_json: str
    updated_channels_json: str
    other_bytes: int
    """UTF-8 size of the five JSON payloads besides the state."""
    messages_version: str
    messages: MessageTexts
    count: int
    joined: str
    joined_bytes: int
    extra_json: str
    errors_json: str
    small_bytes: int
    """UTF-8 size of `extra_json` and `errors_json`."""
    extra_version: str
    errors_version: str

    def state_text(self) -> str:
        """Exactly `dumps(state_to_json(state))`."""
        return (
            f'{{"messages":{{"version":{self.messages_version},"items":[{self.joined}]}},'
            f'"extra":{self.extra_json},"errors":{self.errors_json}}}'
        )

    def state_bytes(self) -> int:
        return (
            len('{"messages":{"version":,"items":[]},"extra":,"errors":}')
            + len(self.messages_version)
            + self.joined_bytes
            + self.small_bytes
        )

    def known(self, token: str, chain: int) -> Known:
        return Known(self.step, token, chain, self.messages, self.count, self.extra_json, self.errors_json)

    def delta_text(self, base: Known) -> str:
        """The compact delta from `base` (a `compact.apply_delta` input) as text."""
        n, texts = base.count, self.messages.texts
        appended: str | None = None
        if n <= self.count:
            if base.messages is self.messages:
                appended = ",".join(texts[n : self.count])
            elif base.messages.texts[:n] == texts[:n]:  # equal texts are equal JSON, exactly
                appended = ",".join(texts[n : self.count])
        if appended is not None:
            messages = f'{{"version":{self.messages_version},"append":[{appended}]}}'
        else:
            messages = f'{{"version":{self.messages_version},"items":[{self.joined}]}}'
        extra, errors = self._extra(base), self._errors(base)
        return f'{{"{DELTA_KEY}":1,"messages":{messages},"extra":{extra},"errors":{errors}}}'

    def _extra(self, base: Known) -> str:
        if self.extra_json == base.extra_json:  # unchanged: only the version, which the text includes
            return f'{{"version":{self.extra_version}}}'
        return dumps(extra_delta(json.loads(base.extra_json), json.loads(self.extra_json)))

    def _errors(self, base: Known) -> str:
        if self.errors_json == base.errors_json:
            return f'{{"version":{self.errors_version},"append":[]}}'
        return dumps(list_delta(json.loads(base.errors_json), json.loads(self.errors_json)))


_NODE_TEXTS: dict[tuple[Any, ...], str] = {}
"""JSON texts of node lists (frontier, ran and skipped nodes) by value: a graph has few distinct ones, so
most saves look them up instead of encoding them."""
_CHANNEL_TEXTS: dict[tuple[Any, ...], str] = {}
"""The same for updated-channel lists."""
_TEXTS_MAX = 4096


def _list_text(cache: dict[tuple[Any, ...], str], values: Any, kinds: bool) -> str:
    """`dumps(nodes_to_json(values))` (NodeKinds) or `dumps(list(values))` (channel names), cached."""
    key = tuple(values)
    found = cache.get(key)
    if found is None:
        found = dumps(nodes_to_json(key)) if kinds else dumps(list(key))
        _utf8_len(found)  # refuses text UTF-8 cannot hold before it is cached
        if len(cache) >= _TEXTS_MAX:
            cache.clear()
        cache[key] = found
    return found


def _utf8_len(text: str) -> int:
    """UTF-8 size of `text`; raises UnicodeEncodeError for text UTF-8 cannot hold (lone surrogates)."""
    return len(text) if text.isascii() else len(text.encode())


def _version(value: Any) -> str:
    return str(value) if type(value) is int else dumps(value)


def encode_save(cp: Checkpoint, cache: TextCache) -> EncodedSave:
    """Encode a checkpoint for a save, reusing the session's cached message texts; raises
    `CheckpointDataError` naming session and step when it is not JSON."""
    try:
        state = cp.state
        texts = cache.update(cp.session_id, state.messages)
        others = (
            _list_text(_NODE_TEXTS, cp.frontier, True),
            dumps(versions_seen_to_json(cp.versions_seen)),
            _list_text(_NODE_TEXTS, cp.ran_nodes, True),
            _list_text(_NODE_TEXTS, cp.skipped_nodes, True),
            _list_text(_CHANNEL_TEXTS, cp.updated_channels, False),
        )
        extra_version, errors_version = _version(state.extra_version), _version(state.errors_version)
        extra, errors = state.extra, state.errors
        extra_json = (  # the empty map and list (the common case) without the encoder
            f'{{"version":{extra_version},"map":{{}}}}'
            if type(extra) is dict and not extra
            else dumps({"version": state.extra_version, "map": extra})
        )
        errors_json = (
            f'{{"version":{errors_version},"items":[]}}'
            if type(errors) is list and not errors
            else dumps({"version": state.errors_version, "items": [e.to_json_value() for e in errors]})
        )
        size = sum(map(_utf8_len, others))  # also refuses text UTF-8 cannot hold
        small = _utf8_len(extra_json) + _utf8_len(errors_json)
        return EncodedSave(
            cp.session_id,
            int(cp.step),
            cp.created_at,
            int(cp.concurrency_limit),
            cp.graph_hash,
            *others,
            size,
            _version(state.messages_version),
            texts,
            len(state.messages),
            texts.joined,
            texts.nbytes,
            extra_json,
            errors_json,
            small,
            extra_version,
            errors_version,
        )
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise CheckpointDataError(
            f"checkpoint of session '{cp.session_id}' step {cp.step} is not JSON-serialisable: {exc}"
        ) from exc


@dataclass(slots=True)
class StoreMode:
    """How a database stores states, and what this writer knows of each session's latest step."""

    mode: str = "full"
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    known: dict[str, Known] = field(default_factory=dict)
    texts: TextCache = field(default_factory=TextCache)

    def delta_base(self, session_id: str, latest: int | None, token: str | None, step: int) -> Known | None:
        """The known step a new `step` may be stored against, or None for a full snapshot: compact mode,
        the session's latest step is the one this writer saved (same token), and the chain is short."""
        known = self.known.get(session_id)
        if (
            self.mode != "compact"
            or known is None
            or known.step != latest
            or known.token != token
            or known.step >= step
            or known.chain + 1 >= self.snapshot_every
        ):
            return None
        return known

    def remember(self, session_id: str, known: Known) -> None:
        self.known.pop(session_id, None)
        self.known[session_id] = known
        while len(self.known) > self.texts.limit:
            del self.known[next(iter(self.known))]

    def forget(self, session_id: str) -> None:
        self.known.pop(session_id, None)
        self.texts.forget(session_id)
