"""Imported by no test on purpose: a test checks an untrusted document never imports this module."""

from __future__ import annotations

from typing import Any


def node(snapshot: Any, ctx: Any) -> None:
    return None
