"""Writes events/: one real input per function, captured from the workflow's steps run over a
small fixed simulator tenant (vulnerabilities only, 300 findings, no faults). The events chain:
run them in the workflow's order (prepare, fetch_pages, plan_chunks, write_parquet, finalize,
update_partitions, notify) against a stack and each finds what the one before wrote; then
catalog_on_s3_event, start_sync and query_api (a named query over the day just synced).

``${DATA_BUCKET}`` in an event stands for the stack's data bucket; ``make invoke`` fills it in
from the function's environment (VANTA_LAKE).

    python -m vanta_vuln_stats.devstack.events [DIRECTORY]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from vanta_vuln_stats.config.credentials import Credentials
from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator
from vanta_vuln_stats.pipeline import steps
from vanta_vuln_stats.vanta import VantaClient

BUCKET = "${DATA_BUCKET}"
LAKE = f"s3://{BUCKET}"
STARTED_AT = "2026-11-01T06:00:00.000Z"
EXECUTION = "sync-2026-11-01"
TENANT = SimulatorConfig(
    records=300,
    seed=7,
    client_id="vci_events",
    client_secret="events",
    rate_limit=0,
    as_of=BASE_DATE,
)
REQUEST = {"run_date": BASE_DATE.isoformat(), "resources": ["vulnerabilities"], "mode": "full"}


def capture() -> dict[str, Any]:
    """Event name -> event, from one run of the steps into a temporary local lake."""
    events: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as lake, VantaSimulator(TENANT) as sim:
        client = VantaClient(
            Credentials(TENANT.client_id, TENANT.client_secret),
            base_url=sim.url,
            requests_per_minute=None,
        )
        events["prepare"] = {"request": REQUEST, "execution": EXECUTION, "started_at": STARTED_AT}
        state = steps.prepare(REQUEST, execution=EXECUTION, started_at=STARTED_AT, lake=lake)
        run = steps.Run.from_payload(state["run"])
        events["fetch_pages"] = {"run": state["run"], "fetch": state["fetch"]}
        with client:
            fetch = steps.fetch_pages(run, state["fetch"], client, steps.FetchBudget())
        assert fetch["done"], "the sample tenant fits one fetch"
        events["plan_chunks"] = {"run": state["run"], "fetch": fetch}
        plan = steps.plan_chunks(run, fetch)
        (batch,) = json.loads(Path(lake, plan["key"]).read_bytes())
        events["write_parquet"] = {"run": state["run"], "batch": batch}
        steps.write_batch(run, batch)
        events["finalize"] = {"run": state["run"], "fetch": fetch, "plan": plan}
        result = steps.finalize(run, fetch, plan)
        result["finalize_seconds"] = 0.5
        events["update_partitions"] = {"run": state["run"], "result": result}
        events["notify"] = {
            "status": "SUCCEEDED",
            "execution": EXECUTION,
            "run": state["run"],
            "result": result,
            "catalog": {
                "database": "vanta_vulns",
                "run_date": BASE_DATE.isoformat(),
                "tables_created": [],
                "partitions_created": 5,
                "partitions_existing": 0,
                "tables": [],
            },
        }
        text = json.dumps(events).replace(json.dumps(lake)[1:-1], LAKE)
        text = text.replace('"bucket": ""', f'"bucket": "{BUCKET}"')
    events = json.loads(text)
    events["catalog_on_s3_event"] = {
        "version": "0",
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {
            "bucket": {"name": BUCKET},
            "object": {"key": f"_commits/{BASE_DATE.isoformat()}.json"},
        },
    }
    events["start_sync"] = {"run_date": BASE_DATE.isoformat()}
    events["query_api"] = query_api_event(
        "POST",
        "/api/v1/query",
        {
            "query": "sync_history",
            "parameters": {"since": BASE_DATE.isoformat(), "until": BASE_DATE.isoformat()},
        },
    )
    return events


def query_api_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST API proxy event for the query API (stage v1), as API Gateway sends
    it once the API key has been checked."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "X-Api-Key": "sample-api-key"},
        "multiValueHeaders": {
            "Content-Type": ["application/json"],
            "X-Api-Key": ["sample-api-key"],
        },
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "00000000-0000-4000-8000-000000000000",
            "identity": {"sourceIp": "127.0.0.1", "apiKey": "sample-api-key"},
            "accountId": "123456789012",
            "apiId": "sample",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "events")
    folder.mkdir(parents=True, exist_ok=True)
    for name, event in capture().items():
        (folder / f"{name}.json").write_text(json.dumps(event, indent=2) + "\n")
        print(folder / f"{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
