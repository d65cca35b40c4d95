"""``GlueCatalog``: the few AWS Glue calls the catalog needs, behind one small class.

The rest of the package talks to this class, never to boto3. The boto3 client is injected (a
test's fake, a Lambda's shared client) or created on first use, with botocore's standard retry
mode (exponential backoff with jitter on throttling, 5xx and connection errors); boto3 is
imported only then, and reads ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_GLUE`` itself.

Batch calls keep to Glue's limits (100 partitions per BatchCreatePartition, 25 per
BatchDeletePartition). Their per-entry errors are sorted: a partition that already exists (on
create) or is already gone (on delete) is the state asked for, not an error; throttled or
timed-out entries are sent again with backoff; anything else is a CatalogError.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from vanta_vuln_stats.errors import CatalogError, UserInputError

__all__ = ["CREATE_BATCH", "DELETE_BATCH", "BatchResult", "EntityNotFound", "GlueCatalog"]

log = logging.getLogger(__name__)

CREATE_BATCH = 100  # BatchCreatePartition: at most 100 partitions per call
DELETE_BATCH = 25  # BatchDeletePartition: at most 25 per call
# Per-entry error codes of the batch calls that a later attempt can cure.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "InternalServiceException",
        "OperationTimeoutException",
        "ConcurrentModificationException",
    }
)
CLIENT_MAX_ATTEMPTS = 8
ENTRY_ATTEMPTS = 6
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0


@dataclass(frozen=True)
class BatchResult:
    """What a batch call did: ``done`` entries changed, ``unchanged`` already were as asked."""

    done: int = 0
    unchanged: int = 0


class GlueCatalog:
    """One AWS Glue Data Catalog (the account's default), through a boto3 ``glue`` client."""

    def __init__(
        self,
        client: Any = None,
        *,
        region: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        entry_attempts: int = ENTRY_ATTEMPTS,
    ) -> None:
        self._client = client
        self.region = region
        self._sleep = sleep
        self._entry_attempts = max(1, entry_attempts)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _make_client(self.region)
        return self._client

    # ----------------------------------------------------------------------------------------
    # Databases and tables

    def get_database(self, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GetDatabase", Name=name)["Database"]
        except EntityNotFound:
            return None

    def create_database(self, name: str, description: str) -> bool:
        """Create the database; False when it exists already (someone was quicker)."""
        try:
            self._call("CreateDatabase", DatabaseInput={"Name": name, "Description": description})
        except _AlreadyExists:
            return False
        return True

    def get_table(self, database: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GetTable", DatabaseName=database, Name=name)["Table"]
        except EntityNotFound:
            return None

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        self._call("CreateTable", DatabaseName=database, TableInput=table_input)

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        self._call("UpdateTable", DatabaseName=database, TableInput=table_input)

    # ----------------------------------------------------------------------------------------
    # Partitions

    def partitions(self, database: str, table: str) -> Iterator[dict[str, Any]]:
        """Every registered partition of a table (all pages), without column lists."""
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "DatabaseName": database,
                "TableName": table,
                "ExcludeColumnSchema": True,
            }
            if token:
                args["NextToken"] = token
            page = self._call("GetPartitions", **args)
            yield from page.get("Partitions", [])
            token = page.get("NextToken")
            if not token:
                return

    def partition_values(self, database: str, table: str) -> set[tuple[str, ...]]:
        return {tuple(p["Values"]) for p in self.partitions(database, table)}

    def create_partitions(
        self, database: str, table: str, inputs: Sequence[dict[str, Any]]
    ) -> BatchResult:
        """Register partitions, 100 per call; existing ones count as ``unchanged``."""
        done = unchanged = 0
        for chunk in _chunks(inputs, CREATE_BATCH):
            result = self._batch(
                "BatchCreatePartition",
                chunk,
                lambda entries: {
                    "DatabaseName": database,
                    "TableName": table,
                    "PartitionInputList": entries,
                },
                ok_code="AlreadyExistsException",
                what=f"registering partitions of {database}.{table}",
            )
            done += result.done
            unchanged += result.unchanged
        return BatchResult(done, unchanged)

    def delete_partitions(
        self, database: str, table: str, values: Iterable[Sequence[str]]
    ) -> BatchResult:
        """Remove partitions (by their values), 25 per call; absent ones count as unchanged."""
        entries = [{"Values": list(v)} for v in values]
        done = unchanged = 0
        for chunk in _chunks(entries, DELETE_BATCH):
            result = self._batch(
                "BatchDeletePartition",
                chunk,
                lambda part: {
                    "DatabaseName": database,
                    "TableName": table,
                    "PartitionsToDelete": part,
                },
                ok_code="EntityNotFoundException",
                what=f"removing partitions of {database}.{table}",
            )
            done += result.done
            unchanged += result.unchanged
        return BatchResult(done, unchanged)

    def _batch(
        self,
        operation: str,
        entries: list[dict[str, Any]],
        request: Callable[[list[dict[str, Any]]], dict[str, Any]],
        *,
        ok_code: str,
        what: str,
    ) -> BatchResult:
        pending = entries
        done = unchanged = 0
        for attempt in range(self._entry_attempts):
            if attempt:
                self._sleep(_backoff(attempt))
            response = self._call(operation, **request(pending))
            by_values = {tuple(entry["Values"]): entry for entry in pending}
            retry: list[dict[str, Any]] = []
            failed: list[str] = []
            already = 0
            for error in response.get("Errors") or []:
                values = tuple(error.get("PartitionValues") or ())
                detail = error.get("ErrorDetail") or {}
                code = detail.get("ErrorCode", "")
                if code == ok_code:
                    already += 1
                elif code in RETRYABLE_CODES and values in by_values:
                    retry.append(by_values[values])
                else:
                    failed.append(f"{'/'.join(values)}: {code} {detail.get('ErrorMessage', '')}")
            if failed:
                raise CatalogError(
                    f"Glue refused {len(failed)} partition(s) {what}; the first: {failed[0]}"
                )
            unchanged += already
            done += len(pending) - len(retry) - already
            if not retry:
                return BatchResult(done, unchanged)
            log.info("%s: %d throttled partition(s), trying again", what, len(retry))
            pending = retry
        raise CatalogError(
            f"Glue kept throttling {what}: {len(pending)} partition(s) not done after "
            f"{self._entry_attempts} attempts."
        )

    # ----------------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One Glue API call (PascalCase name); AWS errors become one-line CatalogErrors."""
        method = getattr(self.client, _snake(operation))
        try:
            return method(**kwargs)
        except Exception as exc:
            raise _translate(operation, exc) from exc


class EntityNotFound(CatalogError):
    """The database, table or partition asked for does not exist."""

    pass


class _AlreadyExists(CatalogError):
    pass


def _translate(operation: str, exc: Exception) -> Exception:
    """A boto3/botocore failure as this package's error: one line, typed by cause."""
    name = type(exc).__name__
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code", name)
        message = error.get("Message", str(exc))
        if code == "EntityNotFoundException":
            return EntityNotFound(f"Glue {operation}: {message}")
        if code == "AlreadyExistsException":
            return _AlreadyExists(f"Glue {operation}: {message}")
        return CatalogError(f"Glue {operation} failed: {code}: {message}")
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return UserInputError(
            "No AWS credentials were found for the Glue catalog (set AWS_PROFILE, the "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY pair, or run where a role is attached)."
        )
    if name == "NoRegionError":
        return UserInputError(
            "No AWS region for the Glue catalog: give --aws-region or set AWS_REGION."
        )
    return CatalogError(f"Glue {operation} failed: {name}: {exc}")


def _make_client(region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:  # pragma: no cover - boto3 is part of the local and aws extras
        raise UserInputError(
            "The Glue catalog needs boto3: pip install 'vanta-vuln-stats[aws]'."
        ) from None
    config = Config(retries={"mode": "standard", "max_attempts": CLIENT_MAX_ATTEMPTS})
    try:
        return boto3.client("glue", region_name=region, config=config)
    except Exception as exc:
        raise _translate("client", exc) from exc


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _backoff(attempt: int) -> float:
    """Full jitter: a random wait up to base * 2^attempt, capped."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))
