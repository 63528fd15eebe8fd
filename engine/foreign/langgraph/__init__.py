"""Read-only access to LangGraph checkpoint databases (SQLite and Postgres savers); prune is the one writer.

See README "LangGraph databases" for the mapping onto our state and the read-only promise.
"""

from engine.foreign.langgraph.api import (
    LangGraphReader,
    export_thread,
    export_thread_jsonl,
    is_langgraph_database,
    open_langgraph,
    prune_langgraph,
    vacuum_langgraph,
)
from engine.foreign.langgraph.convert import state_json, versioned_state
from engine.foreign.langgraph.decode import serializer_available
from engine.foreign.langgraph.errors import LangGraphSchemaTooNew, NotALangGraphDatabase, ThreadNotExportable
from engine.foreign.langgraph.pg_reader import PostgresLangGraphReader
from engine.foreign.langgraph.plan import PrunePlan
from engine.foreign.langgraph.records import (
    ChannelBytes,
    CheckpointDetail,
    CheckpointInfo,
    CheckpointPage,
    CheckpointTree,
    PendingWrite,
    PruneSummary,
    RepeatedBlob,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    ThreadPage,
    ThreadQuery,
    Value,
)
from engine.foreign.langgraph.sqlite_reader import SQLiteLangGraphReader
from engine.foreign.langgraph.text import prune_lines, report_lines

__all__ = [
    "ChannelBytes",
    "CheckpointDetail",
    "CheckpointInfo",
    "CheckpointPage",
    "CheckpointTree",
    "LangGraphReader",
    "LangGraphSchemaTooNew",
    "NotALangGraphDatabase",
    "PendingWrite",
    "PostgresLangGraphReader",
    "PrunePlan",
    "PruneSummary",
    "RepeatedBlob",
    "SQLiteLangGraphReader",
    "StorageReport",
    "ThreadInfo",
    "ThreadKey",
    "ThreadNotExportable",
    "ThreadPage",
    "ThreadQuery",
    "Value",
    "export_thread",
    "export_thread_jsonl",
    "is_langgraph_database",
    "open_langgraph",
    "prune_langgraph",
    "prune_lines",
    "report_lines",
    "serializer_available",
    "state_json",
    "vacuum_langgraph",
    "versioned_state",
]
