"""GlueCatalog at the boto3 boundary, with an in-memory Glue client: Glue's batch limits,
existing partitions, throttled entries tried again, AWS errors as one-line typed errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from vanta_vuln_stats.catalog.glue import CREATE_BATCH, DELETE_BATCH, GlueCatalog
from vanta_vuln_stats.catalog.tables import partition_input, partition_values, table_by_name
from vanta_vuln_stats.errors import CatalogError, UserInputError

LAKE = "s3://bucket/lake"
TABLE = table_by_name("vanta_vulnerabilities")


def client_error(code: str, operation: str, message: str = "no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeGlue:
    """The Glue calls GlueCatalog makes, in memory. ``entry_errors`` decides, per call and
    partition, an error code to answer instead of doing the work (None: do it)."""

    def __init__(self, page_size: int = 1000) -> None:
        self.partitions: set[tuple[str, ...]] = set()
        self.calls: list[tuple[str, int]] = []
        self.page_size = page_size
        self.entry_errors: Callable[[int, tuple[str, ...]], str | None] = lambda n, v: None
        self.fail_with: ClientError | None = None

    def _errors(self, values: tuple[str, ...]) -> str | None:
        return self.entry_errors(len(self.calls), values)

    def get_table(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        raise client_error("EntityNotFoundException", "GetTable", "Table not found")

    def batch_create_partition(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PartitionInputList"]
        self.calls.append(("create", len(entries)))
        assert len(entries) <= 100  # what AWS enforces
        errors = []
        for entry in entries:
            values = tuple(entry["Values"])
            code = self._errors(values)
            if code is None and values in self.partitions:
                code = "AlreadyExistsException"
            if code is None:
                self.partitions.add(values)
            else:
                errors.append({"PartitionValues": list(values), "ErrorDetail": {"ErrorCode": code}})
        return {"Errors": errors} if errors else {}

    def batch_delete_partition(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs["PartitionsToDelete"]
        self.calls.append(("delete", len(entries)))
        assert len(entries) <= 25
        errors = []
        for entry in entries:
            values = tuple(entry["Values"])
            code = self._errors(values)
            if code is None and values not in self.partitions:
                code = "EntityNotFoundException"
            if code is None:
                self.partitions.discard(values)
            else:
                errors.append({"PartitionValues": list(values), "ErrorDetail": {"ErrorCode": code}})
        return {"Errors": errors} if errors else {}

    def get_partitions(self, **kwargs: Any) -> dict[str, Any]:
        ordered = sorted(self.partitions)
        start = int(kwargs.get("NextToken") or 0)
        page = ordered[start : start + self.page_size]
        response: dict[str, Any] = {"Partitions": [{"Values": list(v)} for v in page]}
        if start + self.page_size < len(ordered):
            response["NextToken"] = str(start + self.page_size)
        return response


def days(count: int) -> list[date]:
    return [date(2025, 1, 1) + timedelta(days=n) for n in range(count)]


def inputs(count: int) -> list[dict[str, Any]]:
    return [partition_input(TABLE, LAKE, day) for day in days(count)]


def catalog_over(fake: FakeGlue) -> tuple[GlueCatalog, list[float]]:
    waits: list[float] = []
    return GlueCatalog(fake, sleep=waits.append), waits


def test_partitions_are_created_100_per_call_and_existing_ones_are_not_errors() -> None:
    fake = FakeGlue()
    catalog, _ = catalog_over(fake)
    fake.partitions = {tuple(partition_values(day)) for day in days(30)}

    result = catalog.create_partitions("db", TABLE.name, inputs(250))

    assert fake.calls == [("create", CREATE_BATCH), ("create", CREATE_BATCH), ("create", 50)]
    assert (result.done, result.unchanged) == (220, 30)
    assert len(fake.partitions) == 250


def test_partitions_are_deleted_25_per_call_and_absent_ones_are_not_errors() -> None:
    fake = FakeGlue()
    catalog, _ = catalog_over(fake)
    fake.partitions = {tuple(partition_values(day)) for day in days(50)}

    result = catalog.delete_partitions("db", TABLE.name, [partition_values(d) for d in days(60)])

    assert fake.calls == [("delete", DELETE_BATCH), ("delete", DELETE_BATCH), ("delete", 10)]
    assert (result.done, result.unchanged) == (50, 10)
    assert fake.partitions == set()


def test_throttled_entries_are_sent_again_with_backoff_until_done() -> None:
    fake = FakeGlue()
    catalog, waits = catalog_over(fake)
    throttled = {tuple(partition_values(day)) for day in days(10)[::3]}
    # The first two calls throttle some entries; the third lets everything through.
    fake.entry_errors = lambda call, values: (
        "ThrottlingException" if call <= 2 and values in throttled else None
    )

    result = catalog.create_partitions("db", TABLE.name, inputs(10))

    assert fake.calls == [("create", 10), ("create", len(throttled)), ("create", len(throttled))]
    assert (result.done, result.unchanged) == (10, 0)
    assert len(waits) == 2 and all(wait >= 0 for wait in waits)
    assert len(fake.partitions) == 10


def test_throttling_that_never_ends_fails_with_a_catalog_error() -> None:
    fake = FakeGlue()
    catalog, waits = catalog_over(fake)
    fake.entry_errors = lambda call, values: "ThrottlingException"

    with pytest.raises(CatalogError, match="kept throttling") as caught:
        catalog.create_partitions("db", TABLE.name, inputs(3))

    assert caught.value.exit_code == 1
    assert len(fake.calls) == 6 and len(waits) == 5


def test_a_refused_partition_is_an_error_naming_it() -> None:
    fake = FakeGlue()
    catalog, _ = catalog_over(fake)
    fake.entry_errors = lambda call, values: (
        "InvalidInputException" if values == ("2025", "01", "02") else None
    )
    with pytest.raises(CatalogError, match="2025/01/02: InvalidInputException"):
        catalog.create_partitions("db", TABLE.name, inputs(3))


def test_registered_partitions_are_read_across_pages() -> None:
    fake = FakeGlue(page_size=7)
    catalog, _ = catalog_over(fake)
    fake.partitions = {tuple(partition_values(day)) for day in days(30)}
    assert catalog.partition_values("db", TABLE.name) == fake.partitions


def test_aws_errors_are_one_line_typed_errors() -> None:
    fake = FakeGlue()
    catalog, _ = catalog_over(fake)
    assert catalog.get_table("db", "missing") is None  # not found is an answer, not an error

    fake.fail_with = client_error("AccessDeniedException", "GetTable", "not authorized")
    with pytest.raises(CatalogError) as caught:
        catalog.get_table("db", "t")
    assert str(caught.value) == "Glue GetTable failed: AccessDeniedException: not authorized"
    assert caught.value.exit_code == 1

    fake.fail_with = NoCredentialsError()  # type: ignore[assignment]
    with pytest.raises(UserInputError, match="No AWS credentials"):
        catalog.get_table("db", "t")


def test_the_client_is_made_on_first_use_with_standard_retries(monkeypatch) -> None:
    catalog = GlueCatalog(region="eu-west-1")
    assert catalog._client is None
    client = catalog.client
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] >= 5
    assert catalog.client is client
