"""The save encoder's shortcuts (issue 20) give exactly the plain encoding: `serde.dumps` with its encoder
built once, cached node and channel list texts, the empty extra map and error list written without the
encoder, integer versions without it. Bad values are refused as before, and a refused text is not cached."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.persistence.errors import CheckpointDataError
from engine.persistence.incremental import TextCache, encode_save
from engine.persistence.serde import dumps, nodes_to_json, state_to_json, versions_seen_to_json
from engine.types import ErrorEvent, NodeKind, WeaveError
from tests.engine.persistence.helpers import make_cp

REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
names = st.text(min_size=1, max_size=6).filter(lambda s: not s.startswith("__"))


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_dumps_is_the_plain_encoder(value: Any) -> None:
    assert dumps(value) == REFERENCE.encode(value)


def test_dumps_refuses_what_the_plain_encoder_refuses() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for bad in (math.nan, [math.inf], {"x": object()}, loop):
        with pytest.raises((ValueError, TypeError)):
            REFERENCE.encode(bad)
        with pytest.raises((ValueError, TypeError)):
            dumps(bad)
    with pytest.raises(ValueError, match="Circular"):
        dumps(loop)


@given(
    frontier=st.lists(names, max_size=3),
    ran=st.lists(names, max_size=3),
    channels=st.lists(st.text(max_size=5), max_size=3),
    extra=st.dictionaries(st.text(max_size=4), json_values, max_size=3),
    errors=st.lists(st.text(max_size=5), max_size=2),
    versions=st.tuples(st.integers(1, 10**6), st.integers(1, 10**6), st.integers(1, 10**6)),
)
@settings(max_examples=200, deadline=None)
def test_encoded_texts_equal_the_plain_encoding(
    frontier: list[str],
    ran: list[str],
    channels: list[str],
    extra: dict[str, Any],
    errors: list[str],
    versions: tuple[int, int, int],
) -> None:
    cp = make_cp("s", 3, ran=ran, extra=extra)
    cp = dataclasses.replace(cp, frontier=[NodeKind.custom(n) for n in frontier], updated_channels=channels)
    state = cp.state
    state.errors = [ErrorEvent(error=WeaveError(m)) for m in errors]
    state.messages_version, state.extra_version, state.errors_version = versions
    for _ in range(2):  # the second time from the caches
        enc = encode_save(cp, TextCache())
        assert enc.frontier_json == REFERENCE.encode(nodes_to_json(cp.frontier))
        assert enc.ran_nodes_json == REFERENCE.encode(nodes_to_json(cp.ran_nodes))
        assert enc.skipped_nodes_json == REFERENCE.encode(nodes_to_json(cp.skipped_nodes))
        assert enc.updated_channels_json == REFERENCE.encode(list(channels))
        assert enc.versions_seen_json == REFERENCE.encode(versions_seen_to_json(cp.versions_seen))
        assert enc.state_text() == REFERENCE.encode(state_to_json(state))
        assert enc.state_bytes() == len(enc.state_text().encode())
        others = (
            enc.frontier_json,
            enc.versions_seen_json,
            enc.ran_nodes_json,
            enc.skipped_nodes_json,
            enc.updated_channels_json,
        )
        assert enc.other_bytes == sum(len(t.encode()) for t in others)
        assert enc.small_bytes == len(enc.extra_json.encode()) + len(enc.errors_json.encode())
        assert (enc.messages_version, enc.extra_version, enc.errors_version) == tuple(map(str, versions))


def test_a_channel_name_utf8_cannot_hold_is_refused_every_time() -> None:
    cp = dataclasses.replace(make_cp("s", 1), updated_channels=["ok", "\ud800"])
    for _ in range(2):  # refused, and not cached as if it were fine
        with pytest.raises(CheckpointDataError, match="session 's' step 1"):
            encode_save(cp, TextCache())
