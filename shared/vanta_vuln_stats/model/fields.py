"""The one definition of every resource's columns.

Everything else is generated from these tuples: normalisation and validation (records.py), the
Arrow schemas (arrow.py), and in later layers the SQLite DDL, the Parquet files and the Glue
tables. Add a column here and it appears everywhere; never list columns a second time.

What counts as a change of a stored record is defined here too, once for every store: a record
is "updated" when a tracked column differs (``tracked_columns``). A column marked
``tracked=False`` only says that the scanner saw the record again (``lastDetectedDate`` moves
with every rescan, for a third of a tenant on a given day); the current row keeps its latest
value, but its change alone is no event and leaves no trace in the change history. Fields
outside the model (kept only in ``raw_data``) are not tracked either.

Kinds (`Field.kind`):
    string     text
    timestamp  ISO-8601 instant in the API; a timezone-aware UTC datetime once normalised;
               Arrow timestamp[ms, tz=UTC] (Athena-safe: never ns, never INT96)
    float      double
    bool       boolean
    strings    list of strings (Arrow list<string>, Athena array<string>)
    json       nested JSON kept as compact JSON text (objects whose shape the API may grow)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Kind = Literal["string", "timestamp", "float", "bool", "strings", "json"]

SEVERITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
VULNERABILITY_TYPES: tuple[str, ...] = ("CONFIGURATION", "COMMON", "GROUPED")
ASSET_TYPES: tuple[str, ...] = (
    "CODE_REPOSITORY",
    "CONTAINER",
    "CONTAINER_REPOSITORY",
    "CONTAINER_REPOSITORY_IMAGE",
    "MANIFEST_FILE",
    "SERVER",
    "SERVERLESS_FUNCTION",
    "WORKSTATION",
)


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a normalised record.

    name      snake_case column name (the SQLite/Parquet/Glue column)
    source    camelCase key of the API record; a dotted path for nested keys
              (``deactivateMetadata.deactivatedOnDate``); None for derived columns, which
              records.py computes from other fields
    kind      see the module docstring
    required  a record whose value is missing or null here is rejected with a reason
    enum      allowed values (compared case-insensitively, stored upper-case)
    tracked   a change of this column makes a stored record "updated" (a history event);
              False for columns that only say the record was seen again
    """

    name: str
    source: str | None
    kind: Kind
    required: bool = False
    enum: tuple[str, ...] | None = None
    tracked: bool = True


class Resource(StrEnum):
    """The three synced resources. The value is the table / lake prefix name."""

    VULNERABILITIES = "vulnerabilities"
    VULNERABILITY_REMEDIATIONS = "vulnerability_remediations"
    VULNERABLE_ASSETS = "vulnerable_assets"

    @property
    def api_path(self) -> str:
        return API_PATHS[self]


API_PATHS: dict[Resource, str] = {
    Resource.VULNERABILITIES: "/v1/vulnerabilities",
    Resource.VULNERABILITY_REMEDIATIONS: "/v1/vulnerability-remediations",
    Resource.VULNERABLE_ASSETS: "/v1/vulnerable-assets",
}

VULNERABILITY_FIELDS: tuple[Field, ...] = (
    Field("id", "id", "string", required=True),
    Field("name", "name", "string", required=True),
    Field("description", "description", "string"),
    Field("integration_id", "integrationId", "string", required=True),
    Field("package_identifier", "packageIdentifier", "string"),
    Field("vulnerability_type", "vulnerabilityType", "string", enum=VULNERABILITY_TYPES),
    Field("target_id", "targetId", "string", required=True),
    Field("first_detected_date", "firstDetectedDate", "timestamp", required=True),
    Field("source_detected_date", "sourceDetectedDate", "timestamp"),
    # The scanner's latest sighting: moves with every rescan while nothing about the finding
    # changes, so it is kept current but is not a change of the finding.
    Field("last_detected_date", "lastDetectedDate", "timestamp", tracked=False),
    Field("severity", "severity", "string", required=True, enum=SEVERITIES),
    Field("cvss_severity_score", "cvssSeverityScore", "float"),
    Field("scanner_score", "scannerScore", "float"),
    Field("is_fixable", "isFixable", "bool", required=True),
    Field("remediate_by_date", "remediateByDate", "timestamp"),
    Field("external_url", "externalURL", "string"),
    Field("scan_source", "scanSource", "string"),
    Field("fixed_version", "fixedVersion", "string"),
    Field("related_vulns", "relatedVulns", "strings"),
    Field("related_urls", "relatedUrls", "strings"),
    Field("deactivate_metadata", "deactivateMetadata", "json"),
    # Derived from deactivateMetadata: a finding is deactivated when the object is present.
    Field("is_deactivated", None, "bool"),
    Field("deactivated_on_date", "deactivateMetadata.deactivatedOnDate", "timestamp"),
    Field("deactivated_until_date", "deactivateMetadata.deactivatedUntilDate", "timestamp"),
    Field("deactivation_reason", "deactivateMetadata.deactivationReason", "string"),
    Field("deactivated_by", "deactivateMetadata.deactivatedBy", "string"),
)

REMEDIATION_FIELDS: tuple[Field, ...] = (
    Field("id", "id", "string", required=True),
    Field("vulnerability_id", "vulnerabilityId", "string", required=True),
    Field("vulnerable_asset_id", "vulnerableAssetId", "string", required=True),
    # The API documents lower-case examples and real data shows upper case: stored upper-case.
    Field("severity", "severity", "string", required=True, enum=SEVERITIES),
    Field("detected_date", "detectedDate", "timestamp"),
    Field("sla_deadline_date", "slaDeadlineDate", "timestamp"),
    Field("remediation_date", "remediationDate", "timestamp"),
    # Derived: remediation_date <= sla_deadline_date; null while open or without an SLA.
    Field("is_remediated_on_time", None, "bool"),
    # Derived: REMEDIATED when remediation_date is set, else OPEN. The API has no status field.
    Field("status", None, "string"),
)

ASSET_FIELDS: tuple[Field, ...] = (
    Field("id", "id", "string", required=True),
    Field("name", "name", "string", required=True),
    Field("asset_type", "assetType", "string", required=True, enum=ASSET_TYPES),
    Field("has_been_scanned", "hasBeenScanned", "bool"),
    Field("image_scan_tag", "imageScanTag", "string"),
    Field("scanners", "scanners", "json"),
    # Derived from scanners[]: the integrations that scan the asset, sorted, de-duplicated.
    Field("integration_ids", None, "strings"),
)

FIELDS: dict[Resource, tuple[Field, ...]] = {
    Resource.VULNERABILITIES: VULNERABILITY_FIELDS,
    Resource.VULNERABILITY_REMEDIATIONS: REMEDIATION_FIELDS,
    Resource.VULNERABLE_ASSETS: ASSET_FIELDS,
}

# Every normalised row also carries the record exactly as the API sent it, as compact JSON (the
# earlier tool named this column raw_data; the name is kept so its databases stay readable).
RAW_COLUMN = "raw_data"


def column_names(resource: Resource) -> tuple[str, ...]:
    """Column order of a normalised row: the fields, then the raw JSON."""
    return (*(f.name for f in FIELDS[resource]), RAW_COLUMN)


def tracked_columns(resource: Resource) -> tuple[str, ...]:
    """The columns whose change makes a stored record "updated", in column order.

    Every model column except those marked ``tracked=False``; never ``raw_data``, so a change
    only of fields outside the model is not an update either. Every store classifies changes
    with this one list.
    """
    return _TRACKED[Resource(resource)]


_TRACKED: dict[Resource, tuple[str, ...]] = {
    resource: tuple(f.name for f in fields if f.tracked) for resource, fields in FIELDS.items()
}
