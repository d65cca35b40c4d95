"""The JSON Schema of every state payload, defined once here and written to
``pipeline/schemas/<function>.{input,output}.json`` (``workflows/schemas`` is the same folder).

Regenerate after a change: ``python -m vanta_vuln_stats.pipeline.payloads``; a test fails when
the files and this module disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from vanta_vuln_stats.model.fields import Resource

DRAFT = "https://json-schema.org/draft/2020-12/schema"
RESOURCES = [r.value for r in Resource]
DAY = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"}
TIMESTAMP = {"type": "string", "format": "date-time"}
RUN_ID = {"type": "string", "pattern": r"^\d{8}T\d{9}Z$"}
COUNT = {"type": "integer", "minimum": 0}
KEY = {"type": "string", "minLength": 1, "maxLength": 1024}
NAME = {"type": "string", "minLength": 1, "maxLength": 256}


def _object(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


REQUEST = _object(
    {
        "run_date": DAY,
        "resources": {
            "type": "array",
            "items": {"enum": RESOURCES},
            "minItems": 1,
            "uniqueItems": True,
        },
        "mode": {"enum": ["full", "incremental"]},
    },
    required=[],
    description="The execution's input: every field optional.",
)

RUN = _object(
    {
        "run_id": RUN_ID,
        "run_date": DAY,
        "started_at": TIMESTAMP,
        "execution": NAME,
        "lake": {"type": "string", "pattern": "^(s3://[a-z0-9.-]{3,63}(/.*)?|[^:]+)$"},
        "mode": {"enum": ["full", "incremental"]},
        "resources": REQUEST["properties"]["resources"],
        "watermarks": {
            "type": "object",
            "propertyNames": {"enum": RESOURCES},
            "additionalProperties": TIMESTAMP,
        },
    },
    description="The run, as prepare opened it; every later step receives it.",
)

RESOURCE_COUNTS = _object({"fetched": COUNT, "pages": COUNT, "chunks": COUNT})

FETCH = _object(
    {
        "resource": {"enum": RESOURCES},
        "cursor": {"type": ["string", "null"], "maxLength": 4096},
        "chunk": COUNT,
        "done": {"type": "boolean"},
        "invocations": COUNT,
        "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 900},
        "counts": {
            "type": "object",
            "propertyNames": {"enum": RESOURCES},
            "additionalProperties": RESOURCE_COUNTS,
        },
    },
    description="Where the fetch is: a resource, its cursor and the next chunk number; counts.",
)

PLAN = _object(
    {"bucket": {"type": "string"}, "key": KEY, "batches": COUNT, "chunks": COUNT},
    description="The batch manifest in S3 (a JSON array the Distributed Map reads).",
)

BATCH = _object(
    {
        "resource": {"enum": RESOURCES},
        "part": COUNT,
        "chunks": {"type": "array", "items": KEY, "minItems": 1},
    }
)

PART = _object(
    {
        "resource": {"enum": RESOURCES},
        "part": COUNT,
        "key": KEY,
        "rows": COUNT,
        "bytes": COUNT,
        "rejected": COUNT,
        "rejects_key": {"type": ["string", "null"]},
        "rejects_bytes": COUNT,
    }
)

CHANGE_COUNTS = {
    "type": "object",
    "additionalProperties": COUNT,
    "required": ["fetched", "written", "rejected"],
}

RESULT = _object(
    {
        "run_id": RUN_ID,
        "run_date": DAY,
        "committed": {"const": True},
        "manifest": KEY,
        "summary": KEY,
        "counts": {
            "type": "object",
            "propertyNames": {"enum": RESOURCES},
            "additionalProperties": CHANGE_COUNTS,
        },
        "bytes_written": COUNT,
        "finalize_seconds": {"type": "number", "minimum": 0},
    },
    description="The committed day.",
)

CATALOG = _object(
    {
        "database": NAME,
        "run_date": DAY,
        "tables_created": {"type": "array", "items": NAME},
        "partitions_created": COUNT,
        "partitions_existing": COUNT,
        "tables": {"type": "array", "items": NAME},
    }
)

ERROR = {
    "type": "object",
    "properties": {"Error": {"type": "string"}, "Cause": {"type": ["string", "null"]}},
    "required": ["Error"],
}

NOTIFY_INPUT = {
    "oneOf": [
        _object(
            {
                "status": {"const": "SUCCEEDED"},
                "execution": NAME,
                "run": RUN,
                "result": RESULT,
                "catalog": CATALOG,
            }
        ),
        _object(
            {
                "status": {"const": "FAILED"},
                "execution": NAME,
                "failed_step": NAME,
                "error": ERROR,
                "state": {"type": "object"},
            }
        ),
    ]
}

NOTIFY_OUTPUT = _object(
    {
        "status": {"enum": ["SUCCEEDED", "FAILED"]},
        "subject": {"type": "string", "maxLength": 100},
        "message_id": {"type": "string"},
        "slack": {"type": "string"},
    },
    required=["status", "subject", "slack"],
)

S3_EVENT = {
    "type": "object",
    "description": "An S3 Object Created event: from EventBridge (detail) or an S3 notification.",
    "anyOf": [
        {
            "properties": {
                "detail-type": {"const": "Object Created"},
                "detail": {
                    "type": "object",
                    "properties": {
                        "bucket": _object({"name": NAME}, additionalProperties=True),
                        "object": {
                            "type": "object",
                            "properties": {"key": KEY},
                            "required": ["key"],
                        },
                    },
                    "required": ["bucket", "object"],
                },
            },
            "required": ["detail"],
        },
        {
            "properties": {
                "Records": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"s3": {"type": "object"}},
                        "required": ["s3"],
                    },
                }
            },
            "required": ["Records"],
        },
    ],
}

START_SYNC_INPUT = {
    "type": "object",
    "description": 'An EventBridge Scheduler event, or {} / {"run_date": ...} by hand.',
    "properties": {"run_date": DAY, "time": TIMESTAMP},
}

HEADERS = {"type": ["object", "null"], "additionalProperties": {"type": "string"}}
MULTI_HEADERS = {
    "type": ["object", "null"],
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}

API_GATEWAY_EVENT = {
    "type": "object",
    "description": "An API Gateway REST API proxy event (Lambda proxy integration).",
    "properties": {
        "resource": {"type": "string"},
        "path": {"type": "string", "minLength": 1},
        "httpMethod": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
        "headers": HEADERS,
        "multiValueHeaders": MULTI_HEADERS,
        "queryStringParameters": HEADERS,
        "multiValueQueryStringParameters": MULTI_HEADERS,
        "pathParameters": HEADERS,
        "body": {"type": ["string", "null"]},
        "isBase64Encoded": {"type": "boolean"},
        "requestContext": {"type": "object"},
    },
    "required": ["path", "httpMethod", "requestContext"],
}

API_GATEWAY_RESPONSE = {
    "type": "object",
    "description": "The proxy integration's answer: a status, headers and a JSON body.",
    "properties": {
        "statusCode": {"type": "integer", "minimum": 100, "maximum": 599},
        "headers": HEADERS,
        "multiValueHeaders": MULTI_HEADERS,
        "body": {"type": ["string", "null"]},
        "isBase64Encoded": {"type": "boolean"},
    },
    "required": ["statusCode", "body"],
    "additionalProperties": False,
}

SCHEMAS: dict[str, tuple[Any, Any]] = {
    "prepare": (
        _object(
            {"request": REQUEST, "execution": NAME, "started_at": TIMESTAMP},
            description="The execution's input, name and start time.",
        ),
        _object({"run": RUN, "fetch": FETCH}),
    ),
    "fetch_pages": (_object({"run": RUN, "fetch": FETCH}), FETCH),
    "plan_chunks": (_object({"run": RUN, "fetch": FETCH}), PLAN),
    "write_parquet": (_object({"run": RUN, "batch": BATCH}), PART),
    "finalize": (_object({"run": RUN, "fetch": FETCH, "plan": PLAN}), RESULT),
    "update_partitions": (_object({"run": RUN, "result": RESULT}), CATALOG),
    "notify": (NOTIFY_INPUT, NOTIFY_OUTPUT),
    "catalog_on_s3_event": (
        S3_EVENT,
        _object(
            {"registered": {"type": "array", "items": CATALOG}, "ignored": {"type": "array"}},
        ),
    ),
    "start_sync": (
        START_SYNC_INPUT,
        _object(
            {
                "execution": NAME,
                "execution_arn": {"type": ["string", "null"]},
                "started": {"type": "boolean"},
                "run_date": DAY,
            }
        ),
    ),
    "query_api": (API_GATEWAY_EVENT, API_GATEWAY_RESPONSE),
}


def documents() -> dict[str, dict[str, Any]]:
    """File name -> schema document, for every function's input and output."""
    out = {}
    for step, (input_schema, output_schema) in SCHEMAS.items():
        for kind, body in (("input", input_schema), ("output", output_schema)):
            out[f"{step}.{kind}.json"] = {
                "$schema": DRAFT,
                "$id": f"https://vanta-vuln-stats/schemas/{step}.{kind}.json",
                "title": f"{step} {kind}",
                **body,
            }
    return out


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = directory / name
        path.write_text(render(document))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(__file__).with_name("schemas")):
        print(path.name)
    sys.exit(0)
