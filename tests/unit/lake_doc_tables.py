"""The column tables of docs/S3_ATHENA_GUIDE.md, generated from the lake's schemas.

``python -m tests.unit.lake_doc_tables`` prints them (to paste after a schema change);
test_lake_layout.py fails while the guide and the schemas disagree."""

from __future__ import annotations

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.storage.lake import layout

STATE_EXTRA = ("first_seen_at", "last_seen_at", "resolved_at", "last_seen_run_date")
NOTES = {
    "run_date": "the run date (the partition's date)",
    "first_seen_at": "stamp of the first run that saw the record",
    "last_seen_at": "stamp of the last run that saw it",
    "resolved_at": "stamp of the run that no longer saw it (findings, assets); null while reported",
    "last_seen_run_date": "run date of the last run that saw it (its raw record is in its backup)",
}


TABLE_NOTES = {
    "vulnerability_history": {
        "vuln_id": "the finding's id",
        "change_type": "discovered, updated, remediated, reactivated or resolved",
        "changed_fields": "tracked columns that changed (updated, remediated, reactivated)",
        "snapshot_date": "the run's stamp: its run date at its time of day",
        "name": "the finding's name at the event",
        "severity": "its severity at the event",
        "is_deactivated": "deactivated at the event",
        "deactivation_date": "its deactivatedOnDate at the event",
        "run_id": "the run that recorded the event",
    },
    "sync_history": {
        "run_id": "start time to the millisecond, e.g. 20261129T081502123Z",
        "sync_date": "the run's stamp (run date at its time of day)",
        "started_at": "when the run really started",
        "finished_at": "when it ended",
        "duration_seconds": "wall time of the store's part of the run",
        "status": "complete, failed, interrupted, or superseded (a later run of the same day)",
        "message": "why it failed or was interrupted",
        "reconciled": "fetched = written + rejected for every resource",
        "superseded_by": "run_id of the run that replaced this day",
        "base_run_date": "the committed day the changes were computed against",
        "bytes_written": "Parquet bytes written by the run",
    },
    "rejects": {
        "resource": "vulnerabilities, vulnerability_remediations or vulnerable_assets",
        "record_id": "the record's id when it had a readable one",
        "reasons": "every problem found, each naming the field",
        "raw_data": "the record as received",
        "run_id": "the run that rejected it",
        "rejected_at": "when",
    },
}


def markdown_table(schema, only: tuple[str, ...] | None = None, table: str = "") -> str:
    lines = ["| Column | Type | Nullable | Notes |", "|---|---|---|---|"]
    for field in schema:
        if only is not None and field.name not in only:
            continue
        metadata = field.metadata or {}
        note = TABLE_NOTES.get(table, {}).get(field.name) or NOTES.get(field.name, "")
        if not note and metadata.get(b"source"):
            note = f"API `{metadata[b'source'].decode()}`"
        elif not note and metadata.get(b"derived"):
            note = "derived"
        if metadata.get(b"format") == b"json" and "JSON" not in note:
            note += (", " if note else "") + "JSON text"
        nullable = "yes" if field.nullable else "no"
        lines.append(f"| `{field.name}` | `{field.type}` | {nullable} | {note} |")
    return "\n".join(lines)


def sections() -> dict[str, str]:
    tables = {
        f"{resource.value}": markdown_table(layout.snapshot_schema(resource))
        for resource in Resource
    }
    tables["state"] = markdown_table(layout.state_schema(Resource.VULNERABILITIES), STATE_EXTRA)
    for name, schema in (
        (layout.HISTORY_TABLE, layout.history_schema()),
        (layout.SYNC_HISTORY_TABLE, layout.sync_history_schema()),
        (layout.REJECTS_TABLE, layout.rejects_schema()),
    ):
        tables[name] = markdown_table(schema, table=name)
    return tables


if __name__ == "__main__":
    for name, table in sections().items():
        print(f"### {name}\n\n{table}\n")
