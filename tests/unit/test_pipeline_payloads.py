"""Every function's payloads have a JSON Schema, written from one module; every handler rejects a
malformed payload with a named error that says where and what, before doing any work."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator

from vanta_vuln_stats.pipeline import payloads
from vanta_vuln_stats.pipeline.handler import InvalidPayload, validate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(payloads.SCHEMAS)


def _handler(name: str):
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def _context(name: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=name,
        function_version="$LATEST",
        memory_limit_in_mb=512,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        aws_request_id="req-1",
        get_remaining_time_in_millis=lambda: 60_000,
    )


def test_the_schema_files_are_the_generated_ones() -> None:
    folder = ROOT / "workflows" / "schemas"
    documents = payloads.documents()
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(documents)
    for name, document in documents.items():
        assert (folder / name).read_text() == payloads.render(document), (
            f"{name} is stale: python -m vanta_vuln_stats.pipeline.payloads"
        )


@pytest.mark.parametrize("name", sorted(payloads.documents()))
def test_every_schema_is_valid_draft_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(payloads.documents()[name])


def test_every_function_has_a_folder_and_both_schemas() -> None:
    folders = sorted(p.name for p in (ROOT / "functions").iterdir() if p.is_dir())
    assert folders == FUNCTIONS


MALFORMED = {
    "prepare": {"request": {"run_date": "29/11/2026"}, "execution": "x", "started_at": "now"},
    "fetch_pages": {"run": {"run_id": "r"}, "fetch": {}},
    "plan_chunks": {"fetch": {"done": True}},
    "write_parquet": {"run": {}, "batch": {"resource": "tickets", "part": -1, "chunks": []}},
    "finalize": {"run": {}, "fetch": {}, "plan": {"key": ""}},
    "update_partitions": {"run": {}, "result": {"committed": False}},
    "notify": {"status": "MAYBE"},
    "catalog_on_s3_event": {"detail-type": "Object Created"},
    "start_sync": {"run_date": "tomorrow"},
    "query_api": {"httpMethod": "BREW", "path": "/api/v1/query", "requestContext": {}},
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_malformed_payload_is_refused_by_name(name: str, monkeypatch) -> None:
    monkeypatch.setenv("VANTA_LAKE", "s3://never-reached")
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:1:stateMachine:x")
    handler = _handler(name)
    with pytest.raises(InvalidPayload, match=rf"^{name} input is invalid at \$"):
        handler(MALFORMED[name], _context(name))


def test_the_message_names_the_place_and_the_problem() -> None:
    event = json.loads((ROOT / "events" / "prepare.json").read_text())
    event["request"]["mode"] = "sometimes"
    with pytest.raises(InvalidPayload) as caught:
        validate("prepare", "input", event)
    assert "$.request.mode" in str(caught.value)
    assert "sometimes" in str(caught.value)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_sample_event_is_valid(name: str) -> None:
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    validate(name, "input", json.loads(json.dumps(event).replace("${DATA_BUCKET}", "bucket")))
