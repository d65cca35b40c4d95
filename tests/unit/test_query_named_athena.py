"""Named queries on Athena, at the boto3 boundary (an in-memory Athena): the SQL sent is the
template file byte for byte, every value travels only in ExecutionParameters, and the rows come
back typed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from vanta_vuln_stats.query.athena import AthenaClient, render_parameters
from vanta_vuln_stats.query.engines import AthenaEngine, run_named_query
from vanta_vuln_stats.query.named import load_queries

from .athena_fake import FakeAthena, Script

TEMPLATES = Path(__file__).resolve().parents[2] / "shared/vanta_vuln_stats/query/templates"
LATEST = date(2026, 11, 6)
NOW = datetime(2026, 11, 7, 9, 30, tzinfo=UTC)
HOSTILE = "x' OR '1'='1'; DROP TABLE vanta_vulnerabilities; --"


def engine(fake: FakeAthena) -> AthenaEngine:
    client = AthenaClient("primary", database="vanta", client=fake, cache=False)
    return AthenaEngine(client, lambda: LATEST)


@pytest.mark.parametrize("name", sorted(load_queries()))
def test_the_sql_sent_is_the_template_and_values_are_only_parameters(name: str) -> None:
    query = load_queries()[name]
    strings = [p.name for p in query.parameters if p.type == "string"]
    given = dict.fromkeys(strings, HOSTILE)
    fake = FakeAthena()

    resolved, _ = run_named_query(engine(fake), query, given, now=NOW)

    (request,) = fake.started
    assert request["QueryString"] == (TEMPLATES / f"{name}.sql").read_text(encoding="utf-8")
    assert request["QueryString"].encode() == query.sql.encode()
    assert request["QueryExecutionContext"] == {"Database": "vanta"}
    assert request.get("ExecutionParameters", []) == list(render_parameters(resolved.parameters))
    if strings:
        # The hostile text is one string literal (quotes doubled), never part of the SQL.
        literal = "'" + HOSTILE.replace("'", "''") + "'"
        assert request["ExecutionParameters"].count(literal) == 2 * len(strings)
        assert "DROP TABLE" not in request["QueryString"]


def test_latest_and_the_partition_keys_are_sent_as_values() -> None:
    fake = FakeAthena()
    run_named_query(engine(fake), load_queries()["top_cves"], {"top": "3"}, now=NOW)
    assert fake.started[0]["ExecutionParameters"] == ["'2026'", "'11'", "'06'", "'open'", "3"]
    fake = FakeAthena()
    given = {"since": "2026-01-31", "severity": "high"}
    run_named_query(engine(fake), load_queries()["new_vs_remediated"], given, now=NOW)
    assert fake.started[0]["ExecutionParameters"] == [
        "'2026'",
        "'2026'",
        "'2026-01-31'",
        "'2026-11-06'",
        "'HIGH'",
        "'HIGH'",
    ]
    fake = FakeAthena()
    run_named_query(engine(fake), load_queries()["sla_due_soon"], {"days": "2"}, now=NOW)
    parameters = fake.started[0]["ExecutionParameters"]
    assert parameters[:7] == [
        "TIMESTAMP '2026-11-07 09:30:00.000'",
        "'2026'",
        "'11'",
        "'06'",
        "TIMESTAMP '2026-11-07 09:30:00.000'",
        "2",
        "TIMESTAMP '2026-11-07 09:30:00.000'",
    ]


def test_rows_come_back_typed_with_the_cost() -> None:
    fake = FakeAthena(
        Script(
            columns=(
                ("rank", "bigint"),
                ("cve_id", "varchar"),
                ("findings", "bigint"),
                ("cve_ids_with_findings", "bigint"),
            ),
            rows=(("1", "CVE-2021-44228", "17", "60"), ("2", "CVE-2024-3094", "9", "60")),
            bytes_scanned=25 * 1024**2,
        )
    )
    _, output = run_named_query(engine(fake), load_queries()["top_cves"], {}, now=NOW)
    assert output.as_dicts()[0] == {
        "rank": 1,
        "cve_id": "CVE-2021-44228",
        "findings": 17,
        "cve_ids_with_findings": 60,
    }
    assert output.bytes_scanned == 25 * 1024**2 and not output.estimated
    assert output.cost_usd == pytest.approx(25 / 1024**2 * 5.0)
