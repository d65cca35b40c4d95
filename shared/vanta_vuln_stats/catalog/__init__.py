"""The Glue Data Catalog over the lake: a database with five external Parquet tables generated
from the lake's Arrow schemas, and their year/month/day partitions registered from the lake's
commit manifests, so Athena sees exactly the committed days.

- ``types``: the Arrow -> Athena type map (the one place types are translated).
- ``tables``: the five tables and the Glue definitions of tables and partitions.
- ``glue``: ``GlueCatalog``, the only code that calls AWS Glue (boto3, imported lazily).
- ``lake``: sync, per-day registration and removal, and status/drift against a lake.
- ``command``: ``vanta-vuln-stats catalog sync|status``.
"""

from __future__ import annotations

from vanta_vuln_stats.catalog.glue import BatchResult, GlueCatalog
from vanta_vuln_stats.catalog.lake import (
    CatalogStatus,
    CatalogSync,
    ColumnDrift,
    TableStatus,
    TableSync,
    catalog_status,
    committed_partitions,
    open_lake,
    register_day,
    sync_catalog,
    unregister_day,
)
from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    CatalogTable,
    check_database_name,
    partition_input,
    table_input,
)
from vanta_vuln_stats.catalog.types import (
    ATHENA_TYPES,
    UnmappedTypeError,
    athena_type,
    glue_columns,
)

__all__ = [
    "ATHENA_TYPES",
    "CATALOG_TABLES",
    "CURRENT_TABLES",
    "BatchResult",
    "CatalogStatus",
    "CatalogSync",
    "CatalogTable",
    "ColumnDrift",
    "GlueCatalog",
    "TableStatus",
    "TableSync",
    "UnmappedTypeError",
    "athena_type",
    "catalog_status",
    "check_database_name",
    "committed_partitions",
    "glue_columns",
    "open_lake",
    "partition_input",
    "register_day",
    "sync_catalog",
    "table_input",
    "unregister_day",
]
