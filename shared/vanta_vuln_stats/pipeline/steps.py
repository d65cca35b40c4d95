"""The sync's steps as plain functions: what the workflow's Lambdas run, one call each.

A run of the workflow for run date ``D``::

    prepare        the run (id, run date, mode, watermarks); ``open_day`` withdraws an earlier
                   commit of D
    fetch_pages    pages of one resource from a cursor, as raw NDJSON.gz chunks under
                   raw/run=RUNID/RESOURCE/chunk-NNNNN.json.gz; returns the cursor and counts only
    plan_chunks    the chunks as a manifest of batches (raw/run=RUNID/plan.json)
    write_batch    one batch -> one deterministic snapshot part (+ rejects); its result object
                   raw/run=RUNID/parts/RESOURCE-NNNNN.json
    finalize       the raw backup, then ``LakeStorage.finish_sync``: reconcile, state, change
                   history, sync history, commit; and raw/run=RUNID/summary.json for notify
    update_partitions   Glue partitions of the committed day

Every step is safe to repeat with the same input (Step Functions retries): keys depend only on
the run and the position, so a repeat overwrites what the first attempt wrote. Payloads carry
cursors, counts and keys, never records, so they stay small whatever the tenant's size.
Only ``write_batch``, ``finalize`` and ``update_partitions`` import pyarrow.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from vanta_vuln_stats.errors import VantaVulnStatsError
from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.model.records import parse_timestamp, timestamp_to_iso
from vanta_vuln_stats.pipeline.objects import ObjectStore
from vanta_vuln_stats.pipeline.sync import SYNC_ORDER
from vanta_vuln_stats.storage.base import SyncRun, run_times
from vanta_vuln_stats.storage.lake import layout

if TYPE_CHECKING:
    from vanta_vuln_stats.vanta.client import VantaClient

log = logging.getLogger(__name__)

MODES = ("full", "incremental")
# Pages per raw chunk: 100 pages of 100 records, about 10,000 records (2-4 MB of gzip).
CHUNK_PAGES = 100
# A fetch stops when less than this is left of its invocation: the page in flight, its retries
# and the chunk's upload must fit.
SAFETY_MARGIN_MS = 120_000
DEFAULT_PAGE_BUDGET = 300
DEFAULT_BATCH_RECORDS = 50_000
# Remediations of an incremental run: since the last good run's start, less this overlap (a
# remediation recorded late is not missed; one seen twice is the same row).
WATERMARK_OVERLAP = timedelta(days=1)
NEW_CRITICALS_LISTED = 10
PACE_WINDOW_SECONDS = 60.0
# Added to the wait: the next call's first request must not fall inside the minute of this
# call's first one (Lambda's start and the clock are not exact).
PACE_MARGIN_SECONDS = 2.0


class StepError(VantaVulnStatsError):
    """A step cannot go on; the workflow's Catch reports the message."""


class WriteFailed(StepError):
    """A batch could not be written (retried by the workflow)."""


class ReconcileFailed(StepError):
    """The run's counts or files do not add up; nothing is committed."""


# ------------------------------------------------------------------------------------------
# The run and its working keys


def run_prefix(run_id: str) -> str:
    return f"raw/run={run_id}"


def chunk_key(run_id: str, resource: Resource, chunk: int) -> str:
    return f"{run_prefix(run_id)}/{resource.value}/chunk-{chunk:05d}.json.gz"


def part_result_key(run_id: str, resource: Resource, part: int) -> str:
    return f"{run_prefix(run_id)}/parts/{resource.value}-{part:05d}.json"


@dataclass(frozen=True)
class Run:
    """The ``run`` object every step receives."""

    run_id: str
    run_date: date
    started_at: datetime
    execution: str
    lake: str
    mode: str = "full"
    resources: tuple[Resource, ...] = SYNC_ORDER
    watermarks: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Run:
        return cls(
            run_id=data["run_id"],
            run_date=date.fromisoformat(data["run_date"]),
            started_at=parse_timestamp(data["started_at"]),
            execution=data["execution"],
            lake=data["lake"],
            mode=data.get("mode", "full"),
            resources=tuple(Resource(r) for r in data.get("resources", SYNC_ORDER)),
            watermarks=dict(data.get("watermarks") or {}),
        )

    def to_payload(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_date": self.run_date.isoformat(),
            "started_at": timestamp_to_iso(self.started_at),
            "execution": self.execution,
            "lake": self.lake,
            "mode": self.mode,
            "resources": [r.value for r in self.resources],
            "watermarks": dict(self.watermarks),
        }

    @property
    def sync(self) -> SyncRun:
        return SyncRun(
            id=int(self.started_at.timestamp() * 1000),
            started_at=self.started_at,
            run_date=self.run_date,
        )

    def store(self) -> ObjectStore:
        return ObjectStore(self.lake)


# ------------------------------------------------------------------------------------------
# Prepare


def prepare(
    request: Mapping[str, Any], *, execution: str, started_at: str | datetime, lake: str
) -> dict[str, Any]:
    """Open a run from the execution's input (``run_date``, ``resources``, ``mode``, all
    optional) and its name and start time."""
    started = started_at if isinstance(started_at, datetime) else parse_timestamp(started_at)
    day = request.get("run_date")
    started, run_date = run_times(started, date.fromisoformat(day) if day else None)
    mode = request.get("mode") or "full"
    wanted = request.get("resources") or [r.value for r in SYNC_ORDER]
    resources = tuple(r for r in SYNC_ORDER if r.value in set(wanted))
    run_id = layout.run_id_of(started)
    store = ObjectStore(lake)

    from vanta_vuln_stats.storage.lake.store import open_day, read_manifests

    previous_key = f"{run_prefix(run_id)}/previous.json"
    previous = open_day(store, run_date)
    if previous is not None and not store.exists(previous_key):
        # Kept for finalize (which marks that run superseded); a repeat of this step finds the
        # commit withdrawn already and keeps the first copy.
        store.write_bytes(previous_key, previous.to_json())
    watermarks: dict[str, str] = {}
    if mode == "incremental":
        earlier = [m for d, m in read_manifests(store).items() if d < run_date]
        if earlier:
            since = earlier[-1].started_at - WATERMARK_OVERLAP
            watermarks[Resource.VULNERABILITY_REMEDIATIONS.value] = timestamp_to_iso(since)
    run = Run(
        run_id=run_id,
        run_date=run_date,
        started_at=started,
        execution=execution,
        lake=lake,
        mode=mode,
        resources=resources,
        watermarks=watermarks,
    )
    store.write_bytes(f"{run_prefix(run_id)}/run.json", json.dumps(run.to_payload()).encode())
    log.info(
        "run %s for %s (%s): %s", run_id, run_date, mode, ", ".join(r.value for r in resources)
    )
    return {"run": run.to_payload(), "fetch": initial_fetch_state(run)}


def initial_fetch_state(run: Run) -> dict[str, Any]:
    return {
        "resource": run.resources[0].value,
        "cursor": None,
        "chunk": 0,
        "done": False,
        "invocations": 0,
        "wait_seconds": 0,
        "counts": {r.value: {"fetched": 0, "pages": 0, "chunks": 0} for r in run.resources},
    }


# ------------------------------------------------------------------------------------------
# Fetch


@dataclass
class FetchBudget:
    """When one fetch invocation hands its cursor back: after ``pages`` pages, or when
    ``remaining_ms()`` falls under ``margin_ms`` (the Lambda's time left).

    With ``requests_per_minute`` (the API's budget, 50 for Vanta) an invocation sends at most
    that many page requests and then asks the workflow to wait out the rest of the minute
    (``wait_seconds`` in the fetch state; a Wait state, which costs nothing, instead of a
    Lambda sleeping in the client's pacer)."""

    pages: int = DEFAULT_PAGE_BUDGET
    remaining_ms: Callable[[], int] = lambda: 10**9
    margin_ms: int = SAFETY_MARGIN_MS
    requests_per_minute: int | None = None

    @property
    def page_limit(self) -> int:
        if self.requests_per_minute:
            return max(1, min(self.pages, self.requests_per_minute))
        return self.pages

    def spent(self, pages: int) -> bool:
        return pages >= self.page_limit or self.remaining_ms() < self.margin_ms

    def wait_after(self, elapsed: float) -> int:
        """Seconds the workflow waits before the next call (0 without pacing)."""
        if not self.requests_per_minute:
            return 0
        return max(0, math.ceil(PACE_WINDOW_SECONDS + PACE_MARGIN_SECONDS - elapsed))


def fetch_params(client: VantaClient, run: Run, resource: Resource) -> dict[str, object]:
    params = client.default_params(resource)
    since = run.watermarks.get(resource.value)
    if since and resource is Resource.VULNERABILITY_REMEDIATIONS:
        params["remediatedAfterDate"] = parse_timestamp(since)
    return params


def fetch_pages(
    run: Run,
    state: Mapping[str, Any],
    client: VantaClient,
    budget: FetchBudget,
    *,
    chunk_pages: int = CHUNK_PAGES,
    on_page: Callable[[Resource, int], None] | None = None,
) -> dict[str, Any]:
    """Walk from ``state``'s resource and cursor until the budget is spent or every resource is
    done; each ``chunk_pages`` pages (and the last pages) become one raw chunk. Returns the next
    state: the resource, its cursor and next chunk number, ``done``, and the counts."""

    started = time.monotonic()
    store = run.store()
    state = json.loads(json.dumps(state))  # a copy: the input is never changed
    state["invocations"] = state.get("invocations", 0) + 1
    try:
        _walk(run, state, client, budget, store, chunk_pages, on_page)
    except BaseException as exc:
        # How far this call got, for whoever records the failure (not for the workflow,
        # whose retry starts again from the input state).
        exc.fetch_state = state  # type: ignore[attr-defined]
        raise
    state["wait_seconds"] = 0 if state["done"] else budget.wait_after(time.monotonic() - started)
    log.info(
        "fetch %d: now at %s%s",
        state["invocations"],
        state["resource"],
        " (done)" if state["done"] else "",
    )
    return state


def _walk(
    run: Run,
    state: dict[str, Any],
    client: VantaClient,
    budget: FetchBudget,
    store: ObjectStore,
    chunk_pages: int,
    on_page: Callable[[Resource, int], None] | None,
) -> None:
    """The pages of the walk, chunk by chunk, updating ``state`` as they are written."""
    import orjson

    from vanta_vuln_stats.storage.lake.store import backup_lines

    counts = state["counts"]
    order = list(run.resources)
    pages_here = 0
    while not state["done"]:
        resource = Resource(state["resource"])
        tally = counts.setdefault(resource.value, {"fetched": 0, "pages": 0, "chunks": 0})
        lines: list[bytes] = []
        finished = False
        pages = client.iter_pages(
            resource, fetch_params(client, run, resource), cursor=state["cursor"]
        )
        try:
            for page in pages:
                pages_here += 1
                tally["pages"] += 1
                tally["fetched"] += len(page.records)
                if page.records:
                    raws = (orjson.dumps(record).decode() for record in page.records)
                    lines.append(backup_lines(resource, raws))
                if on_page is not None:
                    on_page(resource, len(page.records))
                if not page.has_next:
                    finished = True
                    break
                spent = budget.spent(pages_here)
                if spent or len(lines) >= chunk_pages:
                    # A chunk ends at a page boundary; the cursor after it is where the next
                    # chunk (in this invocation or the next) starts.
                    _write_chunk(store, run, resource, state, lines)
                    lines = []
                    state["cursor"] = page.end_cursor
                if spent:
                    break
        finally:
            pages.close()  # type: ignore[attr-defined]
        if not finished:
            break
        _write_chunk(store, run, resource, state, lines)
        tally["chunks"] = state["chunk"]
        position = order.index(resource) + 1
        if position == len(order):
            state.update(done=True, cursor=None)
        else:
            state.update(resource=order[position].value, cursor=None, chunk=0)
        if budget.spent(pages_here):
            break


# ------------------------------------------------------------------------------------------
# Plan


def _write_chunk(
    store: ObjectStore,
    run: Run,
    resource: Resource,
    state: dict[str, Any],
    lines: list[bytes],
) -> None:
    """The pages in ``lines`` as the resource's next raw chunk (nothing for no records)."""
    if not lines:
        return
    data = gzip.compress(b"".join(lines), compresslevel=1)
    store.write_bytes(chunk_key(run.run_id, resource, state["chunk"]), data)
    state["chunk"] += 1
    state["counts"][resource.value]["chunks"] = state["chunk"]


def plan_chunks(
    run: Run, fetch: Mapping[str, Any], *, batch_records: int = DEFAULT_BATCH_RECORDS
) -> dict[str, Any]:
    """Group each resource's chunks, in order, into batches of about ``batch_records`` records
    (one Parquet part each) and write them as the JSON array the Map reads."""
    if not fetch.get("done"):
        raise StepError("The fetch has not finished; there is nothing to plan yet.")
    store = run.store()
    batches: list[dict[str, Any]] = []
    for resource in run.resources:
        # Only the chunks the final fetch state counts: a chunk numbered beyond them was left by
        # an attempt that was retried, and is not part of the run.
        counts = fetch["counts"].get(resource.value, {})
        written = int(counts.get("chunks", 0))
        per_chunk = int(counts.get("fetched", 0)) / written if written else 1
        per_batch = max(1, int(batch_records // max(per_chunk, 1)))
        keys = [chunk_key(run.run_id, resource, n) for n in range(written)]
        for part, start in enumerate(range(0, len(keys), per_batch)):
            batches.append(
                {
                    "resource": resource.value,
                    "part": part,
                    "chunks": keys[start : start + per_batch],
                }
            )
    key = f"{run_prefix(run.run_id)}/plan.json"
    store.write_bytes(key, json.dumps(batches).encode())
    return {
        "bucket": store.bucket,
        "key": store.object_key(key),
        "batches": len(batches),
        "chunks": sum(len(b["chunks"]) for b in batches),
    }


# ------------------------------------------------------------------------------------------
# Write


def _records(store: ObjectStore, keys: Sequence[str]) -> Iterator[list[Any]]:
    """Slices of the raw records of ``keys`` (backup lines, unwrapped)."""
    from vanta_vuln_stats.storage.lake.chunks import parse_ndjson

    for key in keys:
        data = gzip.decompress(store.read_bytes(key))
        for lines in parse_ndjson(data.splitlines()):
            records = [line["record"] for line in lines]
            del lines  # a slice is held once: not while the next one is parsed
            yield records
            del records


def write_batch(run: Run, batch: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise one batch into the snapshot part (``layout.part_key``) and its rejects; write
    the result object finalize adds up. Repeating it rewrites the same objects."""
    from vanta_vuln_stats.storage.lake.chunks import normalize_part
    from vanta_vuln_stats.storage.lake.store import rejects_table, write_parquet_bytes

    store = run.store()
    resource = Resource(batch["resource"])
    part = int(batch["part"])
    try:
        records = _records(store, batch["chunks"])
        snapshot, rejections = normalize_part(resource, run.run_date, records)
        data = write_parquet_bytes(snapshot)
        key = layout.part_key(resource.value, run.run_date, part)
        store.write_bytes(key, data)
        result: dict[str, Any] = {
            "resource": resource.value,
            "part": part,
            "key": key,
            "rows": snapshot.num_rows,
            "bytes": len(data),
            "rejected": len(rejections),
            "rejects_key": None,
            "rejects_bytes": 0,
        }
        if rejections:
            rejects = rejects_table(resource, rejections, run.run_id, run.run_date)
            rejects_data = write_parquet_bytes(rejects)
            rejects_key = layout.rejects_key(resource, run.run_date, part)
            store.write_bytes(rejects_key, rejects_data)
            result.update(rejects_key=rejects_key, rejects_bytes=len(rejects_data))
            for item in rejections[:20]:
                log.info("rejected %s record %s: %s", resource.value, item.record_id, item.reasons)
    except VantaVulnStatsError:
        raise
    except Exception as exc:
        raise WriteFailed(f"{resource.value} part {part}: {type(exc).__name__}: {exc}") from exc
    store.write_bytes(part_result_key(run.run_id, resource, part), json.dumps(result).encode())
    return result


# ------------------------------------------------------------------------------------------
# Finalize


def finalize(run: Run, fetch: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
    """Commit the day: every planned batch must have its result, then the raw backup is
    assembled from the chunks and ``LakeStorage.finish_sync`` verifies, reconciles and commits.
    Writes the run's summary for the notification."""
    from vanta_vuln_stats.storage.lake.store import LakeStorage, Manifest

    started = time.perf_counter()
    store = run.store()
    summary_key = f"{run_prefix(run.run_id)}/summary.json"
    done = _committed_result(store, run, summary_key)
    if done is not None:  # a repeat after this run committed (a retried invocation)
        return done
    batches = json.loads(store.read_bytes(f"{run_prefix(run.run_id)}/plan.json"))
    files: dict[str, list[dict[str, Any]]] = {}
    stored: dict[Resource, int] = {r: 0 for r in run.resources}
    rejected: dict[Resource, int] = {r: 0 for r in run.resources}
    missing = []
    for batch in batches:
        resource = Resource(batch["resource"])
        key = part_result_key(run.run_id, resource, int(batch["part"]))
        if not store.exists(key):
            missing.append(f"{resource.value} part {batch['part']}")
            continue
        result = json.loads(store.read_bytes(key))
        files.setdefault(resource.value, []).append(
            {"key": result["key"], "rows": result["rows"], "bytes": result["bytes"]}
        )
        if result.get("rejects_key"):
            files.setdefault(layout.REJECTS_TABLE, []).append(
                {
                    "key": result["rejects_key"],
                    "rows": result["rejected"],
                    "bytes": result["rejects_bytes"],
                }
            )
        stored[resource] += int(result["rows"])
        rejected[resource] += int(result["rejected"])
    if missing:
        raise ReconcileFailed(
            f"{len(missing)} of {len(batches)} batches were not written ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}); nothing is committed."
        )
    backup = layout.backup_key(run.run_date, run.started_at)
    _assemble_backup(store, backup, [k for b in batches for k in b["chunks"]])

    previous_key = f"{run_prefix(run.run_id)}/previous.json"
    previous = (
        Manifest.from_json(store.read_bytes(previous_key)) if store.exists(previous_key) else None
    )
    fetched = {Resource(r): int(c["fetched"]) for r, c in fetch["counts"].items()}
    lake = LakeStorage(run.lake)
    try:
        lake.resume_sync(
            run.sync,
            previous=previous,
            files=files,
            stored=stored,
            rejected=rejected,
            backup_key=backup,
        )
        summary = lake.finish_sync(run.sync, complete=run.resources, fetched=fetched)
        manifest = lake.manifest(run.run_date)
        assert manifest is not None
        details = _summary_details(lake, manifest)
    finally:
        lake.close()
    counts = manifest.counts
    result = {
        "run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "committed": True,
        "manifest": layout.commit_key(run.run_date),
        "counts": counts,
        "bytes_written": sum(e["bytes"] for entries in manifest.files.values() for e in entries),
        "finalize_seconds": round(time.perf_counter() - started, 3),
    }
    summary_doc = {
        **result,
        "lake": run.lake,
        "execution": run.execution,
        "mode": run.mode,
        "started_at": timestamp_to_iso(run.started_at),
        "finished_at": timestamp_to_iso(manifest.finished_at),
        "backup": manifest.backup,
        "status": summary.status,
        **details,
    }
    result["summary"] = summary_key
    store.write_bytes(
        summary_key, json.dumps({**summary_doc, "result": result}, default=str).encode()
    )
    # The raw chunks are in the backup now; the run's small files (run, plan, summary) stay.
    store.delete_many(
        [key for b in batches for key in b["chunks"]]
        + [part_result_key(run.run_id, Resource(b["resource"]), int(b["part"])) for b in batches]
    )
    return result


def _committed_result(store: ObjectStore, run: Run, summary_key: str) -> dict[str, Any] | None:
    """The result of this run's finalize when it has committed already, else None."""
    from vanta_vuln_stats.storage.lake.store import read_manifest

    manifest = read_manifest(store, run.run_date)
    if manifest is None or manifest.run_id != run.run_id or not store.exists(summary_key):
        return None
    result: dict[str, Any] = json.loads(store.read_bytes(summary_key))["result"]
    return result


def _assemble_backup(store: ObjectStore, key: str, chunks: Sequence[str]) -> None:
    """The run's raw backup: its chunks' gzip members one after another (a valid gzip file)."""
    upload = store.open_multipart(key)
    for chunk in chunks:
        upload.write(store.read_bytes(chunk))
    upload.close()


def _summary_details(lake: Any, manifest: Any) -> dict[str, Any]:
    """What a person wants from the notification beyond counts: the new critical findings and
    the open findings past their SLA deadline, as of the run."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    location = lake.location
    new_criticals: list[dict[str, Any]] = []
    total_new_criticals = 0
    for key in manifest.keys(layout.HISTORY_TABLE):
        events = pq.read_table(
            location.path(key), filesystem=location.filesystem, partitioning=None
        )
        mask = pc.and_(
            pc.equal(events["change_type"], "discovered"),
            pc.equal(pc.utf8_upper(events["severity"]), "CRITICAL"),
        )
        found = events.filter(mask)
        total_new_criticals += found.num_rows
        for row in found.select(["vuln_id", "name"]).slice(0, NEW_CRITICALS_LISTED).to_pylist():
            if len(new_criticals) < NEW_CRITICALS_LISTED:
                new_criticals.append({"id": row["vuln_id"], "name": row["name"]})
    sla_breaches = 0
    state_key = manifest.state.get(Resource.VULNERABILITIES.value)
    if state_key:
        state = pq.read_table(
            location.path(state_key),
            filesystem=location.filesystem,
            columns=["remediate_by_date", "is_deactivated", "resolved_at", "last_seen_run_date"],
        )
        open_rows = pc.and_(
            pc.invert(pc.fill_null(state["is_deactivated"], False)),
            pc.is_null(state["resolved_at"]),
        )
        overdue = pc.less(state["remediate_by_date"], _arrow_time(manifest.stamp))
        sla_breaches = int(pc.sum(pc.and_(open_rows, pc.fill_null(overdue, False))).as_py() or 0)
    rejected = {r: c.get("rejected", 0) for r, c in manifest.counts.items()}
    return {
        "new_criticals": new_criticals,
        "new_criticals_total": total_new_criticals,
        "sla_breaches": sla_breaches,
        "rejected": rejected,
    }


def _arrow_time(value: datetime) -> Any:
    import pyarrow as pa

    return pa.scalar(value.astimezone(UTC), pa.timestamp("ms", tz="UTC"))


# ------------------------------------------------------------------------------------------
# Catalog


def update_partitions(run: Run, *, database: str) -> dict[str, Any]:
    """The committed day's partitions in Glue, creating the tables first when they are missing
    (a new stack's first run). Safe to repeat."""
    from vanta_vuln_stats.catalog.glue import GlueCatalog
    from vanta_vuln_stats.catalog.lake import register_day, sync_catalog
    from vanta_vuln_stats.storage.lake.store import LakeStorage

    lake = LakeStorage(run.lake)
    try:
        manifest = lake.manifest(run.run_date)
        if manifest is None:
            raise StepError(f"{run.run_date} is not committed in {run.lake}; nothing to register.")
        catalog = GlueCatalog()
        created_tables: list[str] = []
        added = 0
        if catalog.get_database(database) is None or any(
            catalog.get_table(database, t) is None for t in _table_names()
        ):
            # A new stack's first run: the tables (and every committed partition) first.
            synced = sync_catalog(catalog, lake, database)
            created_tables = [t.name for t in synced.tables if t.action == "created"]
            added = sum(len(t.added) for t in synced.tables)
        results = register_day(catalog, lake, database, manifest)
    finally:
        lake.close()
    return {
        "database": database,
        "run_date": run.run_date.isoformat(),
        "tables_created": created_tables,
        "partitions_created": added + sum(r.done for r in results.values()),
        "partitions_existing": max(0, sum(r.unchanged for r in results.values()) - added),
        "tables": sorted(results),
    }


def _table_names() -> list[str]:
    from vanta_vuln_stats.catalog.tables import CATALOG_TABLES

    return [t.name for t in CATALOG_TABLES]


def register_commit(lake_uri: str, commit_key: str, *, database: str) -> dict[str, Any] | None:
    """For an S3 event: the partitions of the day whose commit manifest ``commit_key`` was
    written (a migration, a sync run outside the workflow). Other keys are ignored (None)."""
    name = commit_key.rsplit("/", 1)[-1]
    if not commit_key.startswith(f"{layout.COMMITS_PREFIX}/") or not name.endswith(".json"):
        return None
    try:
        day = date.fromisoformat(name.removesuffix(".json"))
    except ValueError:
        return None
    run = Run(
        run_id="event",
        run_date=day,
        started_at=datetime.now(UTC),
        execution="s3-event",
        lake=lake_uri,
    )
    return update_partitions(run, database=database)
