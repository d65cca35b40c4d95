"""One daily sync through the deployed workflow: what AWS would bill for it.

``python -m bench workflow`` deploys template.yaml into emulated AWS (moto with the in-process
Lambda runtime), serves a 100,000-vulnerability tenant from the simulator (no faults, no rate
limit; the tenant also serves about 1.5x as many remediations and some assets), and runs one
execution named ``sync-<date>`` with the template's default FetchPageBudget and
WriteBatchRecords and no request pacing. It reports the execution's wall time, the records
fetched, the state transitions Step Functions bills (the execution's own and the Distributed
Map's child executions'), Lambda invocations and GB-seconds per function, the largest payload,
and what the run left in S3. docs/COST.md turns these numbers into a monthly bill.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.__main__ import CLIENT_ID, CLIENT_SECRET, ROOT, Result, scaled

RECORDS = 100_000
STACK = "vvs-bench"
PAYLOAD_LIMIT = 256 * 1024  # Step Functions' limit on a state's input or output
REPORT_LINE = re.compile(
    r"^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: (\d+) ms\t"
    r"Memory Size: (\d+) MB"
)


@dataclass
class FunctionUse:
    invocations: int = 0
    billed_ms: int = 0
    memory_mb: int = 0
    log_bytes: int = 0
    metrics: set[tuple[str, str, tuple[tuple[str, str], ...]]] = field(default_factory=set)

    @property
    def gb_seconds(self) -> float:
        return self.billed_ms / 1000 * self.memory_mb / 1024


@dataclass
class Payload:
    size: int = 0
    where: str = ""


@dataclass
class Measured:
    records: int
    seconds: float
    status: str
    output: dict[str, Any]
    entered: dict[str, int]
    map_items: int
    item_states: int
    functions: dict[str, FunctionUse]
    payload: Payload
    objects: dict[str, tuple[int, int]]  # first key segment -> (objects, bytes)
    versions: int
    alone: FunctionUse  # WriteParquet's batches invoked again, one at a time
    notes: list[str] = field(default_factory=list)

    @property
    def parent_transitions(self) -> int:
        return sum(self.entered.values())

    @property
    def child_transitions(self) -> int:
        """Each child execution enters the item processor's states once; a retried task is
        billed again (AWS counts retries as transitions), so the WriteParquet attempts beyond
        one an item are added."""
        attempts = self.functions.get("WriteParquetFunction", FunctionUse()).invocations
        return self.map_items * self.item_states + max(0, attempts - self.map_items)


def _template() -> dict[str, Any]:
    from vanta_vuln_stats.devstack.check_workflows import load_template

    return load_template(ROOT / "template.yaml")


def _item_states() -> int:
    """States a child execution of the Distributed Map enters on its way to success (the item
    processor is a straight line: each of its states once)."""
    definition = json.loads((ROOT / "workflows" / "sync.asl.json").read_text())
    for state in definition["States"].values():
        processor = state.get("ItemProcessor")
        if processor and processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED":
            return len(processor["States"])
    return 0


def _history(sfn: Any, arn: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        yield from page["events"]
        if not page.get("nextToken"):
            return
        kwargs["nextToken"] = page["nextToken"]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _transitions_and_payload(sfn: Any, arn: str) -> tuple[dict[str, int], Payload]:
    """States entered, by state type; the largest input or output any event carries."""
    entered: dict[str, int] = {}
    largest = Payload()
    current = "execution"
    for event in _history(sfn, arn):
        kind = event["type"]
        details = _details(event)
        if kind.endswith("StateEntered"):
            state_type = kind.removesuffix("StateEntered")
            entered[state_type] = entered.get(state_type, 0) + 1
            current = details.get("name", current)
        for key in ("input", "output"):
            text = details.get(key)
            if isinstance(text, str) and len(text.encode()) > largest.size:
                largest = Payload(len(text.encode()), f"{current} {kind} {key}")
    return entered, largest


def _metrics(message: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The custom metrics an embedded-metric-format log line creates in CloudWatch: one per
    namespace, name and set of dimension values."""
    if not message.startswith("{") or '"_aws"' not in message:
        return set()
    try:
        document = json.loads(message)
        directives = document["_aws"]["CloudWatchMetrics"]
    except (ValueError, KeyError, TypeError):
        return set()
    found = set()
    for directive in directives:
        for dimensions in directive.get("Dimensions") or [[]]:
            values = tuple(sorted((d, str(document.get(d))) for d in dimensions))
            for metric in directive.get("Metrics", []):
                found.add((directive.get("Namespace", ""), metric["Name"], values))
    return found


def _function_use(logs: Any, names: dict[str, str]) -> dict[str, FunctionUse]:
    """Invocations, billed milliseconds and configured memory from each function's REPORT
    lines in CloudWatch Logs; the bytes its log events ingest (message + 26 bytes each, as
    CloudWatch counts them) and the custom metrics its embedded-metric lines create."""
    found: dict[str, FunctionUse] = {}
    for logical_id, name in names.items():
        use = FunctionUse()
        kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}"}
        try:
            while True:
                page = logs.filter_log_events(**kwargs)
                for event in page["events"]:
                    use.log_bytes += len(event["message"].encode()) + 26
                    use.metrics |= _metrics(event["message"])
                    match = REPORT_LINE.match(event["message"])
                    if match:
                        use.invocations += 1
                        use.billed_ms += int(match[1])
                        use.memory_mb = int(match[2])
                token = page.get("nextToken")
                if not token or not page["events"]:
                    break
                kwargs["nextToken"] = token
        except logs.exceptions.ResourceNotFoundException:
            pass  # never invoked
        if use.invocations:
            found[logical_id] = use
    return found


def _objects(s3: Any, bucket: str) -> tuple[dict[str, tuple[int, int]], int]:
    """Current objects and bytes by first key segment; object versions written (each PUT or
    completed multipart upload makes one, an overwrite included)."""
    by_prefix: dict[str, tuple[int, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            top = item["Key"].split("/", 1)[0]
            count, size = by_prefix.get(top, (0, 0))
            by_prefix[top] = (count + 1, size + int(item["Size"]))
    versions = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        versions += len(page.get("Versions", []))
    return by_prefix, versions


def measure(records: int) -> Measured:
    import boto3

    from vanta_vuln_stats.devstack.aws import EmulatedAws
    from vanta_vuln_stats.devstack.deploy import deploy_stack
    from vanta_vuln_stats.devstack.simulator import BASE_DATE, SimulatorConfig, VantaSimulator
    from vanta_vuln_stats.devstack.workflow import run_execution

    config = SimulatorConfig(
        records=records,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        rate_limit=0,
        token_rate_limit=0,
        as_of=BASE_DATE,
    )
    notes = []
    with EmulatedAws() as aws, VantaSimulator(config) as sim:
        outputs = deploy_stack(
            aws.url,
            stack_name=STACK,
            api_url=sim.url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            template_path=ROOT / "template.yaml",
            parameters={"RequestsPerMinute": 0},
        )
        sfn = boto3.client("stepfunctions")
        report = run_execution(
            sfn,
            outputs["state_machine_arn"],
            f"sync-{BASE_DATE}",
            {"run_date": BASE_DATE.isoformat()},
            on_step=lambda line: print(f"  {line}", flush=True),
            timeout=3600.0,
        )
        entered, payload = _transitions_and_payload(sfn, report.arn)
        map_items = 0
        for run in sfn.list_map_runs(executionArn=report.arn)["mapRuns"]:
            described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
            map_items += int(described["executionCounts"]["total"])
        functions = _function_use(boto3.client("logs"), outputs["functions"])
        objects, versions = _objects(boto3.client("s3"), outputs["bucket"])
        alone = _write_batches_alone(
            boto3.client("s3"), boto3.client("lambda"), outputs, report.output or {}
        )
        if report.output is None:
            notes.append(f"the execution ended {report.status}: {report.error} {report.cause}")
    return Measured(
        records=records,
        seconds=report.seconds,
        status=report.status,
        output=report.output or {},
        entered=entered,
        map_items=map_items,
        item_states=_item_states(),
        functions=functions,
        payload=payload,
        objects=objects,
        versions=versions,
        alone=alone,
        notes=notes,
    )


def _write_batches_alone(
    s3: Any, lambda_: Any, outputs: dict[str, Any], output: dict[str, Any]
) -> FunctionUse:
    """Every WriteParquet batch of the run invoked again, one at a time (the Map ran them at
    once on this machine's two cores, which stretches each one's duration). A batch rewrites
    the same objects, so the committed day is unchanged."""
    use = FunctionUse()
    plan = output.get("plan")
    if not plan:
        return use
    batches = json.loads(s3.get_object(Bucket=plan["bucket"], Key=plan["key"])["Body"].read())
    for batch in batches:
        response = lambda_.invoke(
            FunctionName=outputs["functions"]["WriteParquetFunction"],
            Payload=json.dumps({"run": output["run"], "batch": batch}).encode(),
            LogType="Tail",
        )
        if response.get("FunctionError"):
            raise RuntimeError(response["Payload"].read().decode())
        tail = base64.b64decode(response.get("LogResult") or b"").decode(errors="replace")
        for line in tail.splitlines():
            match = REPORT_LINE.match(line)
            if match:
                use.invocations += 1
                use.billed_ms += int(match[1])
                use.memory_mb = int(match[2])
    return use


def _defaults() -> dict[str, Any]:
    template = _template()
    params = template["Parameters"]
    from vanta_vuln_stats.cloud.stack import function_label
    from vanta_vuln_stats.devstack.invoke import function_settings

    memory = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            settings = function_settings(ROOT / "template.yaml", function_label(logical_id))
            memory[logical_id] = int(settings["MemorySize"])
    return {
        "FetchPageBudget": params["FetchPageBudget"]["Default"],
        "WriteBatchRecords": params["WriteBatchRecords"]["Default"],
        "memory": memory,
    }


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def results(m: Measured) -> list[Result]:
    defaults = _defaults()
    out = m.output
    fetch = out.get("fetch", {})
    counts = fetch.get("counts", {})
    fetched = sum(int(c["fetched"]) for c in counts.values())
    pages = sum(int(c["pages"]) for c in counts.values())
    chunks = sum(int(c["chunks"]) for c in counts.values())
    plan = out.get("plan", {})
    result = out.get("result", {})
    rows = [
        Result(
            f"Daily sync of {m.records:,} vulnerabilities, one execution (no pacing, no faults)",
            f"{m.seconds:.0f} s",
            "",
            None,
            f"{m.status}; {fetched:,} records, {fetched / max(m.seconds, 1e-9):,.0f} records/s; "
            f"FetchPageBudget {defaults['FetchPageBudget']}, WriteBatchRecords "
            f"{defaults['WriteBatchRecords']:,}",
        ),
    ]
    for resource, c in counts.items():
        rows.append(
            Result(
                f"  {resource} fetched",
                f"{int(c['fetched']):,}",
                "",
                None,
                f"{int(c['pages']):,} pages, {int(c['chunks'])} raw chunks",
            )
        )
    rows.append(
        Result(
            "  FetchPages calls / raw chunks / WriteParquet batches",
            f"{fetch.get('invocations')} / {chunks} / {plan.get('batches')}",
            "",
            None,
            f"{pages:,} pages of 100",
        )
    )
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(m.entered.items()))
    total = m.parent_transitions + m.child_transitions
    rows.append(
        Result(
            "State transitions billed (execution + Distributed Map children)",
            f"{total:,}",
            "",
            None,
            f"execution {m.parent_transitions} ({by_type}); children {m.child_transitions}: "
            f"{m.map_items} child executions x {m.item_states} state (moto does not list them: "
            "counted from describe_map_run, retries added from WriteParquet's invocations)",
        )
    )
    gb_seconds = sum(u.gb_seconds for u in m.functions.values())
    invocations = sum(u.invocations for u in m.functions.values())
    rows.append(
        Result(
            "Lambda, all functions",
            f"{gb_seconds:,.1f} GB-s",
            "",
            None,
            f"{invocations} invocations; billed duration x configured memory from the REPORT "
            "lines of the in-process runtime (this machine's clock, unpaced fetch)",
        )
    )
    for logical_id, use in m.functions.items():
        rows.append(
            Result(
                f"  {logical_id.removesuffix('Function')}",
                f"{use.gb_seconds:,.2f} GB-s",
                "",
                None,
                f"{use.invocations} x, {use.billed_ms / 1000:,.1f} s billed at {use.memory_mb} MB",
            )
        )
    write = m.functions.get("WriteParquetFunction")
    if write and m.alone.invocations:
        rows.append(
            Result(
                "  WriteParquet, its batches invoked again one at a time",
                f"{m.alone.gb_seconds:,.2f} GB-s",
                "",
                None,
                f"{m.alone.invocations} x, {m.alone.billed_ms / 1000:,.1f} s billed "
                f"(in the Map, {write.billed_ms / 1000:,.1f} s: up to 10 at once on 2 cores)",
            )
        )
    log_bytes = sum(u.log_bytes for u in m.functions.values())
    metrics = set().union(*(u.metrics for u in m.functions.values()))
    rows.append(
        Result(
            "CloudWatch: log bytes ingested / custom metrics created",
            f"{log_bytes / 1e6:.2f} MB / {len(metrics)}",
            "",
            None,
            "logs: every event of the run's functions, message + 26 bytes; metrics: distinct "
            "namespace, name and dimension values in the embedded-metric lines ("
            + ", ".join(sorted({name for _, name, _ in metrics}))
            + ")",
        )
    )
    rows.append(
        Result(
            "Largest state input or output",
            f"{m.payload.size / 1024:.1f} KB",
            f"< {PAYLOAD_LIMIT // 1024} KB",
            m.payload.size < PAYLOAD_LIMIT,
            m.payload.where,
        )
    )
    parquet = int(result.get("bytes_written", 0))
    rows.append(
        Result(
            "Lake: Parquet committed for the day (manifest bytes_written)",
            _mb(parquet),
            "",
            None,
            f"{_mb(round(parquet * 100_000 / m.records))} per 100,000 vulnerabilities",
        )
    )
    layout = "; ".join(
        f"{prefix}/ {count} objects {_mb(size)}"
        for prefix, (count, size) in sorted(m.objects.items())
    )
    rows.append(
        Result(
            "  S3 after the run, by top-level prefix",
            _mb(sum(size for _, size in m.objects.values())),
            "",
            None,
            f"{layout}; {m.versions} object versions written (PUTs + completed uploads)",
        )
    )
    rows.extend(Result(f"  note: {note}", "", "", None) for note in m.notes)
    return rows


def bench_workflow() -> list[Result]:
    return results(measure(scaled(RECORDS)))


def main() -> None:
    for row in bench_workflow():
        print(f"{row.name}: {row.value}  {row.detail}")


if __name__ == "__main__":
    main()
