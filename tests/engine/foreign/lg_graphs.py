"""Small real LangGraph graphs that write the databases the reader tests open (with LangGraph's savers)."""

from __future__ import annotations

import datetime as _dt
import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt


class Chat(MessagesState):
    turns: int


def chat_graph(saver: Any) -> Any:
    def bot(state: Chat) -> dict[str, Any]:
        last = state["messages"][-1].content
        return {"messages": [AIMessage(f"echo: {last}")], "turns": state.get("turns", 0) + 1}

    def tidy(state: Chat) -> dict[str, Any]:
        return {"turns": state["turns"]}

    g = StateGraph(Chat)
    g.add_node("bot", bot)
    g.add_node("tidy", tidy)
    g.add_edge(START, "bot")
    g.add_edge("bot", "tidy")
    g.add_edge("tidy", END)
    return g.compile(checkpointer=saver)


class Approval(TypedDict):
    request: str
    answer: str
    log: Annotated[list[str], operator.add]


def approval_graph(saver: Any) -> Any:
    def ask(state: Approval) -> dict[str, Any]:
        answer = interrupt({"question": f"approve {state['request']}?"})
        return {"answer": str(answer), "log": ["asked"]}

    def done(state: Approval) -> dict[str, Any]:
        return {"log": [f"done: {state['answer']}"]}

    g = StateGraph(Approval)
    g.add_node("ask", ask)
    g.add_node("done", done)
    g.add_edge(START, "ask")
    g.add_edge("ask", "done")
    g.add_edge("done", END)
    return g.compile(checkpointer=saver)


class Outer(TypedDict):
    items: Annotated[list[str], operator.add]


def nested_graph(saver: Any) -> Any:
    def inner_a(state: Outer) -> dict[str, Any]:
        return {"items": ["inner-a"]}

    def inner_b(state: Outer) -> dict[str, Any]:
        return {"items": ["inner-b"]}

    sub = StateGraph(Outer)
    sub.add_node("inner_a", inner_a)
    sub.add_node("inner_b", inner_b)
    sub.add_edge(START, "inner_a")
    sub.add_edge("inner_a", "inner_b")
    sub.add_edge("inner_b", END)

    def first(state: Outer) -> dict[str, Any]:
        return {"items": ["first"]}

    g = StateGraph(Outer)
    g.add_node("first", first)
    g.add_node("child", sub.compile())
    g.add_edge(START, "first")
    g.add_edge("first", "child")
    g.add_edge("child", END)
    return g.compile(checkpointer=saver)


class Odd(TypedDict):
    when: _dt.datetime
    tags: set[str]


def odd_graph(saver: Any) -> Any:
    def stamp(state: Odd) -> dict[str, Any]:
        return {"when": _dt.datetime(2026, 1, 2, tzinfo=_dt.UTC), "tags": {"a", "b"}}

    g = StateGraph(Odd)
    g.add_node("stamp", stamp)
    g.add_edge(START, "stamp")
    g.add_edge("stamp", END)
    return g.compile(checkpointer=saver)


def cfg(thread: str, **extra: Any) -> Any:
    return {"configurable": {"thread_id": thread, **extra}}


def populate(saver: Any) -> dict[str, Any]:
    """Write the standard test database with `saver`: chat threads (one forked by update_state), an
    interrupted approval and a resumed one, a subgraph run, and a thread with non-JSON values. Returns facts
    to check."""
    chat = chat_graph(saver)
    for thread, turns in (("chat-1", 3), ("chat-2", 1)):
        for i in range(turns):
            chat.invoke({"messages": [HumanMessage(f"hi {i}")]}, cfg(thread))
    history = list(chat.get_state_history(cfg("chat-1")))
    fork_from = history[len(history) // 2]
    fork_config = chat.update_state(fork_from.config, {"messages": [HumanMessage("forked")]}, as_node="tidy")
    approval = approval_graph(saver)
    approval.invoke({"request": "refund", "answer": "", "log": []}, cfg("approve-waiting"))
    approval.invoke({"request": "loan", "answer": "", "log": []}, cfg("approve-done"))
    approval.invoke(Command(resume="yes"), cfg("approve-done"))
    nested = nested_graph(saver)
    nested.invoke({"items": []}, cfg("nested"))
    odd_graph(saver).invoke({"tags": set()}, cfg("odd"))
    return {"fork": fork_config["configurable"]["checkpoint_id"], "fork_parent": fork_from.config}
