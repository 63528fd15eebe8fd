"""Painted canvas items: nodes, ports and edges."""

from __future__ import annotations

from studio.canvas.items.edge import EdgeItem
from studio.canvas.items.node import NodeItem, RunStatus
from studio.canvas.items.port import PortItem

__all__ = ["EdgeItem", "NodeItem", "PortItem", "RunStatus"]
