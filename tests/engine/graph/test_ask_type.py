"""The built-in `ask` node type (ENGINE.md 8.3): it interrupts with {"prompt": ...}, writes the answer to
extra[key], and a config schema that is not JSON Schema is a validate-time problem at the node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine import AppRunner, PausedReport, StepReport
from engine.graph.doc_model import DocumentError
from engine.graph.document import document_input_state, document_to_app, graph_problems, parse_document


def doc(schema: Any = None) -> Any:
    config: dict[str, Any] = {"prompt": "Name for {extra[thing]}?", "key": "name"}
    if schema is not None:
        config["schema"] = schema
    return parse_document(
        json.dumps(
            {
                "format": "weavegraph.graph",
                "version": 1,
                "nodes": [{"id": "q", "type": "ask", "config": config}],
                "edges": [{"from": "Start", "to": "q"}, {"from": "q", "to": "End"}],
                "input": {"extra": {"thing": "cat"}},
            }
        )
    )


def test_a_bad_answer_schema_is_reported_at_the_node() -> None:
    with pytest.raises(DocumentError) as bad:
        doc({"type": "nope"})
    assert [str(p) for p in bad.value.problems] == [
        "$.nodes[0].config.schema.type: not valid JSON Schema: "
        "'nope' is not valid under any of the given schemas"
    ]
    assert graph_problems(doc({"type": "string", "minLength": 1})) == []


async def test_ask_interrupts_with_the_prompt_and_writes_the_answer() -> None:
    document = doc({"type": "string", "minLength": 1})
    async with await AppRunner.builder().app(document_to_app(document)).build() as runner:
        await runner.create_session("s", document_input_state(document))
        paused = await runner.run_step("s")
        assert isinstance(paused, PausedReport)
        [waiting] = paused.interrupts
        assert waiting.payload == {"prompt": "Name for cat?"} and waiting.schema == {
            "type": "string",
            "minLength": 1,
        }
        done = await runner.resume("s", "Tom")
        assert isinstance(done, StepReport)
        assert runner.get_session("s").state.extra == {"thing": "cat", "name": "Tom"}
