"""A seeded Vanta tenant whose records are computed from (seed, index), never stored.

Every value of a record comes from a hash of (seed, kind, index), so a tenant of a million
findings holds no more state than one of a thousand, and the same (seed, index) always yields
the same record. Time is part of the model: ``as_of`` (a date) selects the state of the tenant at
the end of that day.

The finding population (one index space shared by vulnerabilities and remediations):

    [0, N)            "base" findings, open at the base date (N = ``records``), detected in the
                      year before it; later fixed (75 %), deactivated or re-scored day by day
    [N, N + N/2)      "history" findings, detected and fixed before the base date: they exist
                      only as remediations (on time and late) once the base date is reached
    [N + N/2, ...)    "new" findings: ``daily_new`` (about 1 % of N) detected on each day after
                      the base date, so later ``as_of`` dates see the feed grow and churn

A finding is in the vulnerabilities feed at ``as_of`` when it was detected and not yet fixed by
the end of that day; its remediation exists once it was detected and carries ``remediationDate``
once it was fixed. Assets (about N/20, every asset type) do not change over time.

Ordering: every listing iterates by index, which is stable and lets a cursor resume in O(page).
The real API sorts vulnerabilities by ``remediateByDate`` (then id); clients must not depend on
either order.

Filters (API query names). Booleans take true/false in any case; enums (severity, assetType)
any case; dates an ISO-8601 instant with a zone or ``YYYY-MM-DD`` (midnight UTC); anything else
raises InvalidParameter (HTTP 400). An empty text filter is ignored; unknown names are ignored.
Where the API does not say, the simulator decides:

- ``includeVulnerabilitiesWithoutSlas`` defaults to false on every call: findings without
  ``remediateByDate`` are left out unless it is true, and then the SLA date bounds
  (``slaDeadlineAfterDate`` / ``slaDeadlineBeforeDate``, both strict) do not exclude them.
- ``externalVulnerabilityId`` matches the CVE of the name, any ``relatedVulns`` entry or the
  whole name (case-insensitive); ``packageIdentifier`` and ``integrationId`` match exactly;
  ``q`` is a case-insensitive substring of name or description (of the name for assets).
- remediations: ``integrationId`` is the finding's; ``isRemediatedOnTime`` matches remediated
  findings with an SLA only (open ones are neither); ``remediatedAfterDate`` /
  ``remediatedBeforeDate`` are strict and leave out open remediations.
- ``assetExternalAccountId`` matches a scanner's ``parentAccountOrOrganization`` as a whole or
  its account part (``674713269178`` matches ``674713269178: us-east-1``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from hashlib import blake2b
from typing import Any, Literal

from vanta_vuln_stats.model.fields import ASSET_TYPES, SEVERITIES, Resource

BASE_DATE = date(2026, 11, 1)
"""Default base date: the tenant holds exactly ``records`` findings at the end of this day."""

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SLA_DAYS: dict[str, int] = {"CRITICAL": 15, "HIGH": 30, "MEDIUM": 90, "LOW": 180}
# CVSS bands in tenths of a point (FIRST / NVD qualitative ratings).
CVSS_BANDS: dict[str, tuple[int, int]] = {
    "CRITICAL": (90, 100),
    "HIGH": (70, 89),
    "MEDIUM": (40, 69),
    "LOW": (1, 39),
}

MALFORMED_KINDS: tuple[str, ...] = (
    "missing_id",
    "wrong_type",
    "unknown_severity",
    "null_required",
    "extra_field",
)
"""How a malformed record is corrupted. ``extra_field`` adds unknown keys only: still valid.
``unknown_severity`` puts an out-of-enum value in the resource's enum field (``severity``;
``assetType`` for assets, which have no severity)."""

SeverityCase = Literal["upper", "lower"]

_NPM = (
    "lodash",
    "loader-utils",
    "minimist",
    "axios",
    "express",
    "jsonwebtoken",
    "semver",
    "qs",
    "tar",
    "ws",
    "follow-redirects",
    "node-fetch",
    "moment",
    "handlebars",
    "undici",
)
_PYPI = (
    "requests",
    "urllib3",
    "django",
    "jinja2",
    "pyyaml",
    "cryptography",
    "pillow",
    "werkzeug",
    "flask",
    "certifi",
    "setuptools",
    "aiohttp",
)
_OS = (
    "openssl",
    "nss",
    "glibc",
    "curl",
    "zlib",
    "nginx",
    "libxml2",
    "openssh",
    "sudo",
    "systemd",
    "expat",
    "libwebp",
    "krb5",
    "busybox",
)
_IMPACTS = (
    "allows remote attackers to execute arbitrary code",
    "allows a denial of service (memory exhaustion)",
    "allows prototype pollution",
    "leaks sensitive information in error messages",
    "allows a denial of service (infinite loop)",
    "allows request smuggling",
    "allows an out-of-bounds read",
    "allows privilege escalation",
    "allows server-side request forgery",
    "allows a heap-based buffer overflow",
)
_VECTORS = (
    "via a crafted HTTP request",
    "via a malicious archive",
    "via crafted input to the parser",
    "via a specially crafted certificate",
    "via untrusted user input",
    "via a long header value",
)
_CONFIG_CHECKS = (
    "S3 bucket allows public read access",
    "Security group allows ingress from 0.0.0.0/0 to port 22",
    "EBS volume is not encrypted",
    "RDS instance is publicly accessible",
    "TLS 1.0 is enabled on the load balancer listener",
    "SSH root login is permitted",
    "Automatic security updates are disabled",
    "Kernel parameter net.ipv4.ip_forward is enabled",
    "Branch protection is disabled on the default branch",
    "Secret scanning is disabled",
)
_DEACTIVATION_REASONS = (
    "Not applicable",
    "Risk accepted",
    "False positive",
    "Compensating control in place",
    "Fix is too hard to carry out",
)
_ORG_NAMES = ("northwind", "acme-corp", "globex", "initech", "umbrella-labs", "hooli")
_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
_WORDS = (
    "payments",
    "billing",
    "auth",
    "gateway",
    "search",
    "ledger",
    "reports",
    "notifications",
    "catalog",
    "checkout",
    "inventory",
    "analytics",
)
_OPERATING_SYSTEMS = (
    "Amazon Linux 2023",
    "Ubuntu 22.04.4 LTS",
    "Debian GNU/Linux 12",
    "Red Hat Enterprise Linux 9.3",
    "Windows Server 2022",
)
_WORKSTATION_OS = ("macOS 15.1", "macOS 14.6", "Windows 11 Pro 23H2", "Ubuntu 24.04 LTS")

# Asset types, their weights (out of 100, used after the first one of each type) and the
# integrations that scan them: (primary choices, secondary choices added to ~30 % of assets).
_ASSET_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("CODE_REPOSITORY", 25),
    ("CONTAINER", 8),
    ("CONTAINER_REPOSITORY", 10),
    ("CONTAINER_REPOSITORY_IMAGE", 15),
    ("MANIFEST_FILE", 10),
    ("SERVER", 20),
    ("SERVERLESS_FUNCTION", 7),
    ("WORKSTATION", 5),
)
_ASSET_SCANNERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "CODE_REPOSITORY": (("github", "github", "gitlab"), ("snyk",)),
    "CONTAINER": (("aws", "Inspector"), ("snyk",)),
    "CONTAINER_REPOSITORY": (("aws", "aws", "Inspector"), ("snyk",)),
    "CONTAINER_REPOSITORY_IMAGE": (("aws", "Inspector"), ("snyk",)),
    "MANIFEST_FILE": (("snyk", "github"), ("github",)),
    "SERVER": (("aws", "qualys", "Inspector"), ("qualys", "crowdstrike")),
    "SERVERLESS_FUNCTION": (("aws", "Inspector"), ("snyk",)),
    "WORKSTATION": (("crowdstrike", "qualys"), ("qualys",)),
}

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
# Odd multipliers (splitmix64's) and their inverses modulo 2**64: the id scrambler is a bijection.
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_MIX1_INV = pow(_MIX1, -1, 1 << 64)
_MIX2_INV = pow(_MIX2, -1, 1 << 64)
_VULNERABILITY_TAG, _REMEDIATION_TAG, _ASSET_TAG, _USER_TAG = 1, 2, 3, 4
_U16 = struct.Struct("<32H").unpack
_Cohort = Literal["base", "history", "new"]


class InvalidParameter(ValueError):
    """A query parameter has a value the API would reject (the server answers 400)."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        super().__init__(f"Invalid value for query parameter {name!r}: {value!r} ({expected})")
        self.name = name


# ---------------------------------------------------------------------------------------------
# Small helpers: hashing, time formatting, parameter parsing


# Formatting caches: at most one entry per day seen and one per second of a day (86,400).
_DAY_STR: dict[int, str] = {}
_CLOCK_STR: dict[int, str] = {}


def _day_str(day: int) -> str:
    day_str = _DAY_STR.get(day)
    if day_str is None:
        day_str = _DAY_STR[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    return day_str


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as the API writes instants: ``2024-10-26T07:26:33.483Z``."""
    day, rem = divmod(ms, DAY_MS)
    sec, milli = divmod(rem, 1000)
    day_str = _DAY_STR.get(day)
    if day_str is None:
        day_str = _day_str(day)
    clock = _CLOCK_STR.get(sec)
    if clock is None:
        minute, second = divmod(sec, 60)
        hour, minute = divmod(minute, 60)
        clock = _CLOCK_STR[sec] = f"T{hour:02d}:{minute:02d}:{second:02d}."
    return f"{day_str}{clock}{milli:03d}Z"


def date_ms(day: date) -> int:
    """Midnight UTC of ``day`` in milliseconds since the epoch."""
    return (day - date(1970, 1, 1)).days * DAY_MS


def parse_bool(name: str, value: str) -> bool:
    """``true``/``false`` in any case; anything else is rejected."""
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise InvalidParameter(name, value, "expected true or false")


def parse_instant(name: str, value: str) -> int:
    """An ISO-8601 instant with a zone (``...Z``), or a date ``YYYY-MM-DD`` (midnight UTC)."""
    try:
        if len(value) == 10:
            return date_ms(date.fromisoformat(value))
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidParameter(name, value, "expected an ISO-8601 date-time with Z, or YYYY-MM-DD")
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def _parse_enum(name: str, value: str, allowed: tuple[str, ...]) -> str:
    upper = value.upper()
    if upper not in allowed:
        raise InvalidParameter(name, value, "expected one of " + ", ".join(allowed))
    return upper


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def _normalise_params(params: Mapping[str, object] | None) -> dict[str, str]:
    if not params:
        return {}
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def as_resource(resource: Resource | str) -> Resource:
    """A Resource from the enum or its value (``"vulnerabilities"``...)."""
    try:
        return Resource(resource)
    except ValueError:
        raise ValueError(f"unknown resource {resource!r}") from None


# ---------------------------------------------------------------------------------------------
# Filters: parsed once per request, compared against the generated state of each record


@dataclass(frozen=True, slots=True)
class VulnerabilityFilters:
    is_deactivated: bool | None = None
    severity: str | None = None
    integration_id: str | None = None
    is_fixable: bool | None = None
    package_identifier: str | None = None
    external_id: str | None = None
    asset_id: str | None = None
    sla_after_ms: int | None = None
    sla_before_ms: int | None = None
    include_without_sla: bool = False
    q: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> VulnerabilityFilters:
        def opt_bool(name: str) -> bool | None:
            value = params.get(name)
            return None if value is None else parse_bool(name, value)

        def opt_instant(name: str) -> int | None:
            value = params.get(name)
            return None if value is None else parse_instant(name, value)

        severity = params.get("severity")
        external = _text(params, "externalVulnerabilityId")
        q = _text(params, "q")
        return cls(
            is_deactivated=opt_bool("isDeactivated"),
            severity=None if severity is None else _parse_enum("severity", severity, SEVERITIES),
            integration_id=_text(params, "integrationId"),
            is_fixable=opt_bool("isFixAvailable"),
            package_identifier=_text(params, "packageIdentifier"),
            external_id=external.upper() if external else None,
            asset_id=_text(params, "vulnerableAssetId"),
            sla_after_ms=opt_instant("slaDeadlineAfterDate"),
            sla_before_ms=opt_instant("slaDeadlineBeforeDate"),
            include_without_sla=bool(opt_bool("includeVulnerabilitiesWithoutSlas")),
            q=q.lower() if q else None,
        )


@dataclass(frozen=True, slots=True)
class RemediationFilters:
    severity: str | None = None
    integration_id: str | None = None
    on_time: bool | None = None
    remediated_after_ms: int | None = None
    remediated_before_ms: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> RemediationFilters:
        severity = params.get("severity")
        on_time = params.get("isRemediatedOnTime")
        after = params.get("remediatedAfterDate")
        before = params.get("remediatedBeforeDate")
        return cls(
            severity=None if severity is None else _parse_enum("severity", severity, SEVERITIES),
            integration_id=_text(params, "integrationId"),
            on_time=None if on_time is None else parse_bool("isRemediatedOnTime", on_time),
            remediated_after_ms=None
            if after is None
            else parse_instant("remediatedAfterDate", after),
            remediated_before_ms=None
            if before is None
            else parse_instant("remediatedBeforeDate", before),
        )


@dataclass(frozen=True, slots=True)
class AssetFilters:
    asset_type: str | None = None
    integration_id: str | None = None
    q: str | None = None
    account_id: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> AssetFilters:
        asset_type = params.get("assetType")
        q = _text(params, "q")
        return cls(
            asset_type=None
            if asset_type is None
            else _parse_enum("assetType", asset_type, ASSET_TYPES),
            integration_id=_text(params, "integrationId"),
            q=q.lower() if q else None,
            account_id=_text(params, "assetExternalAccountId"),
        )


Filters = VulnerabilityFilters | RemediationFilters | AssetFilters

_FILTER_TYPES: dict[Resource, Callable[[Mapping[str, str]], Filters]] = {
    Resource.VULNERABILITIES: VulnerabilityFilters.parse,
    Resource.VULNERABILITY_REMEDIATIONS: RemediationFilters.parse,
    Resource.VULNERABLE_ASSETS: AssetFilters.parse,
}


# ---------------------------------------------------------------------------------------------
# Generated state


class _Finding:
    """One finding: its time-independent facts and the instants of its life events."""

    __slots__ = (
        "asset_index",
        "cve_ids",
        "cvss",
        "cvss_rescored",
        "deact_end",
        "deact_meta",
        "deact_start",
        "description",
        "detected",
        "detected_day",
        "external_url",
        "first_detected",
        "fixed",
        "fixed_version",
        "id",
        "index",
        "integration",
        "is_fixable",
        "last_interval",
        "name",
        "package",
        "related_urls",
        "related_vulns",
        "remediate_by",
        "remediate_by_iso",
        "rescore_at",
        "scanner_score",
        "severity",
        "source_detected",
        "target_id",
        "vuln_type",
    )

    def present(self, end_ms: int) -> bool:
        fixed = self.fixed
        return self.detected < end_ms and (fixed is None or fixed >= end_ms)

    def deactivated(self, end_ms: int) -> bool:
        start = self.deact_start
        if start is None or start >= end_ms:
            return False
        end = self.deact_end
        return end is None or end >= end_ms


class _AssetCore:
    """What findings and filters need of an asset; the full record is built on demand."""

    __slots__ = ("accounts", "asset_type", "id", "index", "integrations", "name", "org", "scanners")

    def __init__(
        self,
        index: int,
        asset_id: str,
        asset_type: str,
        name: str,
        org: str,
        scanners: tuple[tuple[str, str, str | None], ...],
    ) -> None:
        self.index = index
        self.id = asset_id
        self.asset_type = asset_type
        self.name = name
        self.org = org
        # (integrationId, region, parentAccountOrOrganization) per scanner.
        self.scanners = scanners
        self.integrations = tuple(scanner[0] for scanner in scanners)
        # assetExternalAccountId matches a scanner's parent as a whole or its account part
        # ("674713269178" matches "674713269178: us-east-1").
        accounts: set[str] = set()
        for _integration, _region, parent in scanners:
            if parent is not None:
                accounts.add(parent)
                accounts.add(parent.split(":")[0])
        self.accounts = frozenset(accounts)


class Tenant:
    """A deterministic Vanta tenant: ``records`` open findings at ``base_date``.

    ``iter_records`` and ``iter_served`` are the ground truth the tests compare the HTTP
    listings against; the server pages through ``scan``.
    """

    def __init__(
        self,
        records: int,
        seed: int = 7,
        *,
        base_date: date = BASE_DATE,
        remediation_severity_case: SeverityCase = "upper",
    ) -> None:
        if isinstance(records, bool) or not isinstance(records, int) or records < 0:
            raise ValueError(f"records must be an integer >= 0, got {records!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if remediation_severity_case not in ("upper", "lower"):
            raise ValueError(
                "remediation_severity_case must be 'upper' or 'lower', "
                f"got {remediation_severity_case!r}"
            )
        self.records = records
        self.seed = seed
        self.base_date = base_date
        self.remediation_severity_case: SeverityCase = remediation_severity_case
        self.history_count = records // 2
        self.daily_new = max(1, round(records / 100)) if records else 0
        self.asset_count = max(len(ASSET_TYPES), records // 20) if records else 0
        # Far fewer CVEs than findings, so unique-CVE counts mean something; capped so the pool
        # fits its cache on large tenants.
        self.cve_pool_size = min(max(32, records // 10), 20_000)
        self._base_ms = date_ms(base_date)
        self._new_start = records + self.history_count

        seed_bytes = seed.to_bytes(16, "little", signed=True)
        self._prefix = {
            name: blake2b(seed_bytes + name.encode(), digest_size=16).digest()
            for name in (
                "vuln-a",
                "vuln-b",
                "asset",
                "cve",
                "tenant",
                "malformed-vulnerabilities",
                "malformed-vulnerability_remediations",
                "malformed-vulnerable_assets",
            )
        }
        self._prefix_vuln_a = self._prefix["vuln-a"]
        self._prefix_vuln_b = self._prefix["vuln-b"]
        t = _U16(blake2b(self._prefix["tenant"], digest_size=64).digest())
        self._id_key = t[0] << 48 | t[1] << 32 | t[2] << 16 | t[3]
        self._aws_accounts = tuple(
            str((t[k] << 32 | t[k + 1] << 16 | t[k + 2]) % 900_000_000_000 + 100_000_000_000)
            for k in (4, 7, 10)
        )
        org_start = t[13] % len(_ORG_NAMES)
        self._orgs = (_ORG_NAMES[org_start], _ORG_NAMES[(org_start + 1) % len(_ORG_NAMES)])
        self._users = tuple(
            self._object_id(_USER_TAG, k, self._base_ms - (400 - 30 * k) * DAY_MS) for k in range(5)
        )
        # What a finding needs of its asset, for the most-used assets; the full asset is
        # regenerated when an asset itself is served.
        self._asset_link = lru_cache(maxsize=65536)(self._make_asset_link)
        self._integration_sets: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._cve = lru_cache(maxsize=20_000)(self._make_cve)

    # -- public API --------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Tenant(records={self.records}, seed={self.seed}, base_date={self.base_date})"

    def parse_filters(
        self, resource: Resource | str, params: Mapping[str, object] | None = None
    ) -> Filters:
        """Parse the API query parameters of a listing; raises InvalidParameter (HTTP 400)."""
        return _FILTER_TYPES[as_resource(resource)](_normalise_params(params))

    def iter_records(
        self,
        resource: Resource | str,
        *,
        as_of: date | None = None,
        params: Mapping[str, object] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every record of a listing at ``as_of`` in feed order, as served without faults."""
        res = as_resource(resource)
        filters = self.parse_filters(res, params)
        for _index, record in self.scan(res, as_of or self.base_date, filters):
            yield record

    def iter_served(
        self,
        resource: Resource | str,
        *,
        as_of: date | None = None,
        params: Mapping[str, object] | None = None,
        malformed_rate: float = 0.0,
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """(record as served, malformation kind or None) for every record of a listing."""
        res = as_resource(resource)
        filters = self.parse_filters(res, params)
        for index, record in self.scan(res, as_of or self.base_date, filters):
            yield self.serve(res, index, record, malformed_rate)

    def get(
        self, resource: Resource | str, record_id: str, *, as_of: date | None = None
    ) -> dict[str, Any] | None:
        """One record by id as the single-item GET serves it, or None when absent at ``as_of``."""
        res = as_resource(resource)
        found = self.locate(res, record_id, as_of or self.base_date)
        return None if found is None else found[1]

    def locate(
        self, resource: Resource, record_id: str, as_of: date
    ) -> tuple[int, dict[str, Any]] | None:
        """(index, record) of an id present at ``as_of``. Ids decode to their index: O(1)."""
        tag = {
            Resource.VULNERABILITIES: _VULNERABILITY_TAG,
            Resource.VULNERABILITY_REMEDIATIONS: _REMEDIATION_TAG,
            Resource.VULNERABLE_ASSETS: _ASSET_TAG,
        }[resource]
        index = self._id_index(record_id, tag)
        if index is None:
            return None
        end_ms = date_ms(as_of) + DAY_MS
        record: dict[str, Any] | None = None
        if resource is Resource.VULNERABLE_ASSETS:
            if index < self.asset_count:
                record = self._asset_record(self._make_asset_core(index))
        elif self._in_index_space(index, as_of):
            finding = self._make_finding(index)
            if resource is Resource.VULNERABILITIES:
                if finding.present(end_ms):
                    record = self._vulnerability_record(finding, end_ms)
            elif finding.detected < end_ms:
                record = self._remediation_record(finding, end_ms)
        if record is None or record["id"] != record_id:
            return None
        return index, record

    def scan(
        self,
        resource: Resource,
        as_of: date,
        filters: Filters,
        start: int = 0,
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, record) of the matching records at ``as_of`` with index >= ``start``."""
        end_ms = date_ms(as_of) + DAY_MS
        if resource is Resource.VULNERABLE_ASSETS:
            assert isinstance(filters, AssetFilters)
            for index in range(start, self.asset_count):
                core = self._make_asset_core(index)
                if _asset_matches(core, filters):
                    yield index, self._asset_record(core)
            return
        finding_of = self._make_finding
        if resource is Resource.VULNERABILITIES:
            assert isinstance(filters, VulnerabilityFilters)
            for low, high in self._segments(as_of, feed_only=True):
                for index in range(max(low, start), high):
                    finding = finding_of(index)
                    if finding.present(end_ms) and _vulnerability_matches(finding, filters, end_ms):
                        yield index, self._vulnerability_record(finding, end_ms)
            return
        assert isinstance(filters, RemediationFilters)
        for low, high in self._segments(as_of, feed_only=False):
            for index in range(max(low, start), high):
                finding = finding_of(index)
                if finding.detected < end_ms and _remediation_matches(finding, filters, end_ms):
                    yield index, self._remediation_record(finding, end_ms)

    def serve(
        self, resource: Resource, index: int, record: dict[str, Any], malformed_rate: float
    ) -> tuple[dict[str, Any], str | None]:
        """The record as served: corrupted when this (resource, index) is chosen as malformed."""
        choice = self.malformation(resource, index, malformed_rate)
        if choice is None:
            return record, None
        kind, variant = choice
        return _malform(resource, record, kind, variant, self.remediation_severity_case), kind

    def malformation(
        self, resource: Resource | str, index: int, rate: float
    ) -> tuple[str, int] | None:
        """(kind, variant) when the record at ``index`` is served malformed at ``rate``.

        Chosen by hashing (seed, resource, index), so the same records are malformed on every
        walk and at every ``as_of``; the share converges on ``rate``.
        """
        if rate <= 0.0:
            return None
        res = as_resource(resource)
        digest = blake2b(
            self._prefix["malformed-" + res.value] + index.to_bytes(8, "little"), digest_size=8
        ).digest()
        if int.from_bytes(digest[:6], "little") >= rate * (1 << 48):
            return None
        return MALFORMED_KINDS[digest[6] % len(MALFORMED_KINDS)], digest[7]

    def asset_ids(self) -> list[str]:
        """Every asset id (assets do not change over time)."""
        return [self._asset_link(index)[0] for index in range(self.asset_count)]

    # -- index space -------------------------------------------------------------------------

    def _new_count(self, as_of: date) -> int:
        days = (as_of - self.base_date).days
        return self.daily_new * days if days > 0 else 0

    def _segments(self, as_of: date, *, feed_only: bool) -> list[tuple[int, int]]:
        """Index ranges that can hold a record at ``as_of``, in iteration order."""
        segments = [(0, self.records)]
        # History findings were all fixed before the base date: from then on they live only in
        # the remediations listing.
        if not feed_only or as_of < self.base_date:
            segments.append((self.records, self._new_start))
        new = self._new_count(as_of)
        if new:
            segments.append((self._new_start, self._new_start + new))
        return segments

    def _in_index_space(self, index: int, as_of: date) -> bool:
        return index < self._new_start + self._new_count(as_of)

    # -- ids ---------------------------------------------------------------------------------

    def _object_id(self, tag: int, index: int, created_ms: int) -> str:
        """A 24-hex id shaped like a Mongo ObjectId: 4 bytes of creation time, then 8 bytes
        that scramble (kind, index) reversibly, so an id maps back to its record (``locate``)
        without any table."""
        v = ((tag << 48) | index) ^ self._id_key
        v = (v * _MIX1) & _M64
        v ^= v >> 31
        v = (v * _MIX2) & _M64
        v ^= v >> 29
        return f"{(created_ms // 1000) & _M32:08x}{v:016x}"

    def _id_index(self, record_id: str, tag: int) -> int | None:
        """The index an id of kind ``tag`` was made from, or None when it cannot be one."""
        if len(record_id) != 24:
            return None
        try:
            v = int(record_id[8:], 16)
        except ValueError:
            return None
        v ^= (v >> 29) ^ (v >> 58)
        v = (v * _MIX2_INV) & _M64
        v ^= (v >> 31) ^ (v >> 62)
        v = ((v * _MIX1_INV) & _M64) ^ self._id_key
        if v >> 48 != tag:
            return None
        return v & ((1 << 48) - 1)

    # -- CVE pool ----------------------------------------------------------------------------

    def _make_cve(self, k: int) -> tuple[str, str, str, str, int, int, str]:
        """(CVE id, ecosystem, package, fixed version, its major, its minor, description)."""
        r = _U16(blake2b(self._prefix["cve"] + k.to_bytes(8, "little"), digest_size=64).digest())
        year = 2016 + r[0] % 11
        number = 1000 + (r[1] << 16 | r[2]) % 58000
        ecosystem = ("npm", "pip", "os")[r[3] % 3]
        names = _NPM if ecosystem == "npm" else _PYPI if ecosystem == "pip" else _OS
        package = names[r[4] % len(names)]
        major, minor = r[5] % 12, r[6] % 30
        fixed = f"{major}.{minor}.{1 + r[7] % 20}"
        impact = _IMPACTS[r[8] % len(_IMPACTS)]
        vector = _VECTORS[r[9] % len(_VECTORS)]
        description = (
            f"{package} before {fixed} {impact} {vector}. "
            f"Affected deployments should upgrade {package} to {fixed} or later."
        )
        return f"CVE-{year}-{number:05d}", ecosystem, package, fixed, major, minor, description

    # -- findings ----------------------------------------------------------------------------

    def _make_finding(self, index: int) -> _Finding:
        idx = index.to_bytes(8, "little")
        # 64 independent 16-bit draws; each attribute below reads its own slot.
        r = _U16(blake2b(self._prefix_vuln_a + idx, digest_size=64).digest()) + _U16(
            blake2b(self._prefix_vuln_b + idx, digest_size=64).digest()
        )
        base_ms = self._base_ms
        f = _Finding()
        f.index = index

        u = r[4]
        if u < 3277:  # 5 / 20 / 45 / 30 %
            severity = "CRITICAL"
        elif u < 16384:
            severity = "HIGH"
        elif u < 45875:
            severity = "MEDIUM"
        else:
            severity = "LOW"
        f.severity = severity
        # ~5 % of findings have no SLA. The history cohort needs the SLA to place its dates.
        sla_ms = SLA_DAYS[severity] * DAY_MS if r[7] >= 3277 else None

        fixed: int | None = None
        if index < self.records:
            cohort: _Cohort = "base"
            # Detected in the 365 days before the base date (recent ones more often), still
            # open at it.
            age = (r[0] << 32 | r[1] << 16 | r[61]) / 281474976710656.0
            detected = base_ms - 1 - int(age * age * 365 * DAY_MS)
            if r[21] < 49152:  # 75 % get fixed within 200 days after the base date
                fixed = base_ms + (1 + r[22] % 200) * DAY_MS + (r[23] * 1319) % DAY_MS
        elif index < self._new_start:
            cohort = "history"
            # Fixed in the 700 days before the base date; 65 % on time, the rest late.
            fixed = base_ms - (1 + r[43] % 700) * DAY_MS + (r[23] * 1319) % DAY_MS
            if sla_ms is None:
                delay = (1 + r[42] % 200) * DAY_MS
            elif r[41] < 42598:
                delay = HOUR_MS + (r[42] << 32 | r[22] << 16 | r[62]) % (sla_ms - HOUR_MS)
            else:
                delay = sla_ms + (1 + r[42] % 120) * DAY_MS
            detected = fixed - delay
        else:
            cohort = "new"
            day = 1 + (index - self._new_start) // self.daily_new
            detected = base_ms + day * DAY_MS + (r[44] << 16 | r[45]) % DAY_MS
            if r[21] < 49152:
                fixed = detected + (1 + r[22] % 200) * DAY_MS + (r[23] * 1319) % HOUR_MS
        f.detected = detected
        f.fixed = fixed
        f.first_detected = first_iso = iso_ms(detected)
        # Deadlines and rescans fall a whole number of days after detection: reuse its clock.
        f.detected_day = detected_day = detected // DAY_MS
        if sla_ms is None:
            f.remediate_by = f.remediate_by_iso = None
        else:
            f.remediate_by = detected + sla_ms
            f.remediate_by_iso = _day_str(detected_day + sla_ms // DAY_MS) + first_iso[10:]
        f.source_detected = (
            None if r[17] < 39322 else iso_ms(detected - (r[18] << 16 | r[63]) % (30 * DAY_MS))
        )
        # Half of the findings report when the scanner last saw them (it rescans every few days).
        f.last_interval = (1, 1, 1, 2, 3, 7)[r[20] % 6] if r[19] >= 32768 else None
        f.id = finding_id = self._object_id(_VULNERABILITY_TAG, index, detected)

        asset_index = int(self.asset_count * ((r[2] << 16 | r[3]) / 4294967296.0) ** 2)
        asset_id, integrations, org = self._asset_link(asset_index)
        integration = integrations[r[12] % len(integrations)]
        f.asset_index = asset_index
        f.integration = integration
        f.target_id = asset_id

        if r[6] >= 3277:  # ~5 % without a CVSS score
            low, high = CVSS_BANDS[severity]
            f.cvss = (low + r[5] % (high - low + 1)) / 10
            if r[31] < 1966:  # ~3 % get re-scored (same band) some day after they appear
                f.rescore_at = max(detected, base_ms) + (1 + r[32] % 200) * DAY_MS
                f.cvss_rescored = (low + r[33] % (high - low + 1)) / 10
            else:
                f.rescore_at = None
        else:
            f.cvss = None
            f.rescore_at = None
        f.scanner_score = None if r[15] >= 9830 else float(r[16] % 101)

        type_u = r[8] % 100
        fixable = f.is_fixable = r[13] < 39322  # ~60 %
        fixed_version: str | None = None
        related_vulns: tuple[str, ...] = ()
        if type_u >= 85:
            f.vuln_type = "CONFIGURATION"
            check = _CONFIG_CHECKS[r[46] % len(_CONFIG_CHECKS)]
            f.name = check
            f.description = (
                f"{check}. The {integration} integration flagged this misconfiguration on the "
                "resource; remediate it in the resource's settings."
            )
            f.package = None
            f.cve_ids = ()
            f.related_urls = (
                (f"https://docs.vanta.com/hc/en-us/articles/{100000 + r[40] * 13}",)
                if r[40] % 2
                else ()
            )
        else:
            pool = self.cve_pool_size
            cve_id, ecosystem, package_name, fix_str, major, minor, description = self._cve(
                (r[9] << 16 | r[10]) % pool
            )
            installed = f"{major}.{max(minor - 1 - r[39] % 3, 0)}.{r[38] % 40}"
            if ecosystem == "os":
                f.package = f"{package_name}:{installed}"
            else:
                f.package = f"{ecosystem}-{package_name} < {fix_str}"
            if fixable and r[14] < 45875:  # ~70 % of fixable package findings
                fixed_version = fix_str
            f.name = cve_id if r[11] % 10 >= 3 else f"{cve_id} - {package_name}:{installed}"
            f.description = description
            nvd = f"https://nvd.nist.gov/vuln/detail/{cve_id}"
            if ecosystem != "os" and r[40] % 3 == 0:
                f.related_urls = (nvd, f"https://github.com/advisories?query={cve_id}")
            else:
                f.related_urls = (nvd,)
            if type_u >= 75:
                f.vuln_type = "GROUPED"
                group = [cve_id]
                for slot in range(1 + r[48] % 4):
                    other = self._cve((r[49 + slot] << 16 | r[53 + slot]) % pool)[0]
                    if other not in group:
                        group.append(other)
                related_vulns = tuple(group)
                f.cve_ids = related_vulns
            else:
                f.vuln_type = "COMMON"
                f.cve_ids = (cve_id,)
        f.related_vulns = related_vulns
        f.fixed_version = fixed_version
        f.external_url = _external_url(integration, finding_id, org, r[58])
        self._place_deactivation(f, cohort, r)
        return f

    def _place_deactivation(self, f: _Finding, cohort: _Cohort, r: tuple[int, ...]) -> None:
        """Deactivation window: ~10 % of base findings are deactivated at the base date (some
        reactivate later), a few more get deactivated afterwards. The changes after the base
        date are packed into its first weeks, so consecutive days show some of every kind
        (about 0.2 % of findings deactivated and 0.2 % reactivated a day) even on small tenants."""
        base_ms = self._base_ms
        until: int | None = None
        end: int | None = None
        u = r[24]
        if cohort == "base" and u < 6554:
            start = f.detected + int((base_ms - 1 - f.detected) * (r[25] / 65536.0))
            if r[26] < 26214:  # 40 % until a date, at which they reactivate on their own
                end = until = base_ms + (1 + r[27] % 30) * DAY_MS
            elif r[28] < 16384:  # a quarter of the indefinite ones are reactivated by hand
                end = base_ms + (1 + r[27] % 20) * DAY_MS + (r[59] * 1319) % DAY_MS
        elif cohort == "base" and u < 9175:
            start = base_ms + (1 + r[25] % 20) * DAY_MS + (r[60] * 1319) % DAY_MS
        elif cohort != "base" and u < 3277:
            start = f.detected + (1 + r[25] % 60) * DAY_MS
        else:
            f.deact_start = f.deact_end = f.deact_meta = None
            return
        f.deact_start = start
        f.deact_end = end
        f.deact_meta = {
            "deactivatedBy": self._users[r[30] % len(self._users)],
            "deactivatedOnDate": iso_ms(start),
            "deactivationReason": _DEACTIVATION_REASONS[r[29] % len(_DEACTIVATION_REASONS)],
            "deactivatedUntilDate": iso_ms(until) if until is not None else None,
            "isVulnDeactivatedIndefinitely": until is None,
        }

    def _vulnerability_record(self, f: _Finding, end_ms: int) -> dict[str, Any]:
        """The record at the end of the day ``end_ms`` closes (key order as the API sends)."""
        interval = f.last_interval
        if interval is None:
            last_seen = None
        else:
            # The last rescan (every ``interval`` days since detection) before end_ms.
            scans = (end_ms - 1 - f.detected) // (interval * DAY_MS)
            last_seen = _day_str(f.detected_day + scans * interval) + f.first_detected[10:]
        rescore_at = f.rescore_at
        meta = f.deact_meta
        record = {
            "id": f.id,
            "name": f.name,
            "description": f.description,
            "integrationId": f.integration,
            "packageIdentifier": f.package,
            "vulnerabilityType": f.vuln_type,
            "targetId": f.target_id,
            "firstDetectedDate": f.first_detected,
            "sourceDetectedDate": f.source_detected,
            "lastDetectedDate": last_seen,
            "severity": f.severity,
            "cvssSeverityScore": f.cvss
            if rescore_at is None or rescore_at >= end_ms
            else f.cvss_rescored,
            "scannerScore": f.scanner_score,
            "isFixable": f.is_fixable,
            "remediateByDate": f.remediate_by_iso,
            "relatedVulns": list(f.related_vulns),
            "relatedUrls": list(f.related_urls),
            "externalURL": f.external_url,
            "scanSource": "Not provided",
            "deactivateMetadata": None if meta is None or not f.deactivated(end_ms) else dict(meta),
        }
        if f.fixed_version is not None:
            # Not in the published spec; the live API added it on fixable findings.
            record["fixedVersion"] = f.fixed_version
        return record

    def _remediation_record(self, f: _Finding, end_ms: int) -> dict[str, Any]:
        fixed = f.fixed
        severity = f.severity if self.remediation_severity_case == "upper" else f.severity.lower()
        return {
            "id": self._object_id(_REMEDIATION_TAG, f.index, f.detected),
            "vulnerabilityId": f.id,
            "vulnerableAssetId": f.target_id,
            "severity": severity,
            "detectedDate": f.first_detected,
            "slaDeadlineDate": f.remediate_by_iso,
            "remediationDate": iso_ms(fixed) if fixed is not None and fixed < end_ms else None,
        }

    # -- assets ------------------------------------------------------------------------------

    def _make_asset_core(self, index: int) -> _AssetCore:
        r = _U16(
            blake2b(self._prefix["asset"] + index.to_bytes(8, "little"), digest_size=64).digest()
        )
        if index < len(ASSET_TYPES):
            asset_type = ASSET_TYPES[index]  # at least one asset of every type
        else:
            u = r[0] % 100
            asset_type = _ASSET_WEIGHTS[-1][0]
            for candidate, weight in _ASSET_WEIGHTS:
                if u < weight:
                    asset_type = candidate
                    break
                u -= weight
        primary, secondary = _ASSET_SCANNERS[asset_type]
        first = primary[r[1] % len(primary)]
        integrations: tuple[str, ...] = (first,)
        if r[2] < 19661:  # ~30 % scanned by two integrations
            second = secondary[r[3] % len(secondary)]
            if second != first:
                integrations = (first, second)
        word = _WORDS[r[4] % len(_WORDS)]
        org = self._orgs[r[5] % 2]
        account = self._aws_accounts[r[6] % len(self._aws_accounts)]
        if asset_type == "CODE_REPOSITORY":
            name = f"{org}/{word}-service-{index}"
        elif asset_type == "MANIFEST_FILE":
            manifest = ("package-lock.json", "requirements.txt", "poetry.lock", "yarn.lock")
            name = f"{org}/{word}-web-{index}/{manifest[r[7] % 4]}"
        elif asset_type == "CONTAINER_REPOSITORY":
            name = f"{word}-{index}"
        elif asset_type == "CONTAINER_REPOSITORY_IMAGE":
            name = f"{word}-{index}:v{r[7] % 5}.{r[8] % 20}.{r[9] % 10}"
        elif asset_type == "CONTAINER":
            name = f"{word}-api-{index}-{r[7]:04x}{r[8]:04x}"
        elif asset_type == "SERVER":
            name = f"ip-10-{r[7] % 256}-{r[8] % 256}-{index % 256}.ec2.internal"
        elif asset_type == "SERVERLESS_FUNCTION":
            name = f"{word}-handler-{index}"
        else:
            name = f"{_ORG_NAMES[r[7] % len(_ORG_NAMES)]}-laptop-{index}"
        scanners = []
        for slot, integration in enumerate(integrations):
            region = _REGIONS[r[11 + slot] % len(_REGIONS)]
            parent: str | None
            if integration in ("aws", "Inspector"):
                parent = f"{account}: {region}"
            elif integration in ("github", "gitlab", "snyk"):
                parent = org
            else:  # host agents do not always report an account
                parent = None if r[13 + slot] % 3 == 0 else f"{org}-{integration}"
            scanners.append((integration, region, parent))
        created = self._base_ms - (30 + r[10] % 700) * DAY_MS
        asset_id = self._object_id(_ASSET_TAG, index, created)
        return _AssetCore(index, asset_id, asset_type, name, org, tuple(scanners))

    def _make_asset_link(self, index: int) -> tuple[str, tuple[str, ...], str]:
        """(asset id, integrations scanning it, its organisation), shared between findings."""
        core = self._make_asset_core(index)
        integrations = self._integration_sets.setdefault(core.integrations, core.integrations)
        return core.id, integrations, core.org

    def _asset_record(self, core: _AssetCore) -> dict[str, Any]:
        r = _U16(
            blake2b(
                self._prefix["asset"] + b"detail" + core.index.to_bytes(8, "little"),
                digest_size=64,
            ).digest()
        )
        image_scan_tag = None
        if core.asset_type == "CONTAINER_REPOSITORY" and r[0] % 2:
            image_scan_tag = f"{('production', 'staging', 'apac-production')[r[1] % 3]}:latest"
        return {
            "id": core.id,
            "name": core.name,
            "assetType": core.asset_type,
            "hasBeenScanned": True,
            "imageScanTag": image_scan_tag,
            "scanners": [
                _scanner(core, scanner, r[2 + 8 * slot : 10 + 8 * slot], self._base_ms)
                for slot, scanner in enumerate(core.scanners)
            ],
        }


# ---------------------------------------------------------------------------------------------
# Pure functions used by the Tenant


def _uuid(hex_digits: str) -> str:
    h = hex_digits
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}".upper()


def _external_url(integration: str, finding_id: str, org: str, u: int) -> str:
    if integration == "github":
        return f"https://github.com/{org}/security/dependabot/{1 + u % 500}"
    if integration == "gitlab":
        return f"https://gitlab.com/{org}/-/security/vulnerabilities/{u}"
    if integration == "snyk":
        return f"https://app.snyk.io/org/vanta-demo/project/{finding_id}#issue-{u}"
    if integration in ("aws", "Inspector"):
        return (
            "https://console.aws.amazon.com/inspector/v2/home?region=us-east-1"
            f"#/findings/all?search=findingArn%3D{finding_id}"
        )
    if integration == "qualys":
        return f"https://qualysguard.qg2.apps.qualys.com/vm/#/vulnerabilities/{finding_id}"
    return f"https://falcon.crowdstrike.com/spotlight-v2/vulnerabilities/{finding_id}"


def _scanner(
    core: _AssetCore,
    scanner: tuple[str, str, str | None],
    r: tuple[int, ...],
    base_ms: int,
) -> dict[str, Any]:
    """One ``VulnerableAssetScanner`` entry; host and image fields only where they apply."""
    integration, region, parent = scanner
    asset_type = core.asset_type
    is_container = asset_type.startswith("CONTAINER")
    is_host = asset_type in ("SERVER", "WORKSTATION")
    tag_choice = r[0] % 4
    asset_tags: list[dict[str, str]] | None
    if tag_choice == 0:
        asset_tags = None
    elif tag_choice == 1:
        asset_tags = []
    else:
        asset_tags = [
            {"key": "environment", "value": ("production", "staging", "dev")[r[1] % 3]},
            {"key": "team", "value": _WORDS[r[2] % len(_WORDS)]},
        ][: tag_choice - 1]
    digest_hex = blake2b(core.id.encode() + integration.encode(), digest_size=32).hexdigest()
    entry: dict[str, Any] = {}
    if r[3] % 5:  # resourceId is missing from older records
        entry["resourceId"] = f"{core.id[:8]}{digest_hex[:16]}"
    hostname = core.name.split(".")[0]
    os_names = _WORKSTATION_OS if asset_type == "WORKSTATION" else _OPERATING_SYSTEMS
    entry["integrationId"] = integration
    entry["imageDigest"] = f"sha256:{digest_hex}" if is_container else None
    entry["imagePushedAtDate"] = (
        iso_ms(base_ms - (r[4] % 90) * DAY_MS - 7_777_777) if is_container else None
    )
    entry["imageTags"] = (
        [f"v{r[5] % 5}.{r[6] % 20}.0", "latest"][: 1 + r[7] % 2] if is_container else None
    )
    entry["assetTags"] = asset_tags
    entry["parentAccountOrOrganization"] = parent
    entry["biosUuid"] = _uuid(digest_hex) if is_host and r[3] % 3 else None
    entry["ipv4s"] = [f"10.{r[4] % 256}.{r[5] % 256}.{r[6] % 254 + 1}"] if is_host else None
    entry["ipv6s"] = None
    entry["macAddresses"] = [digest_hex[20:32].upper()] if is_host else None
    entry["hostnames"] = [hostname] if is_host else None
    entry["fqdns"] = [f"{hostname}.corp.example.com"] if is_host else None
    entry["operatingSystems"] = [os_names[r[7] % len(os_names)]] if is_host else None
    entry["targetId"] = _scanner_target(integration, core, region, parent, r[1])
    return entry


def _scanner_target(
    integration: str, core: _AssetCore, region: str, parent: str | None, u: int
) -> str | None:
    if integration in ("aws", "Inspector"):
        account = (parent or "").split(":")[0]
        if core.asset_type.startswith("CONTAINER"):
            repo = core.name.split(":")[0]
            return f"arn:aws:ecr:{region}:{account}:repository/{repo}"
        if core.asset_type == "SERVERLESS_FUNCTION":
            return f"arn:aws:lambda:{region}:{account}:function:{core.name}"
        return f"arn:aws:ec2:{region}:{account}:instance/i-{core.id[8:]}"
    if integration in ("github", "gitlab"):
        return str(200_000_000 + core.index * 7919 + u % 7919)
    if integration == "snyk":
        return None if u % 2 else core.id[8:]
    return f"{integration}-{core.index}"


def _vulnerability_matches(f: _Finding, flt: VulnerabilityFilters, end_ms: int) -> bool:
    remediate_by = f.remediate_by
    if remediate_by is None:
        # Findings without an SLA are only served on request (the API's default leaves them
        # out); when asked for, SLA date bounds do not apply to them (they have no deadline).
        if not flt.include_without_sla:
            return False
    else:
        if flt.sla_after_ms is not None and remediate_by <= flt.sla_after_ms:
            return False
        if flt.sla_before_ms is not None and remediate_by >= flt.sla_before_ms:
            return False
    if flt.severity is not None and f.severity != flt.severity:
        return False
    if flt.integration_id is not None and f.integration != flt.integration_id:
        return False
    if flt.is_fixable is not None and f.is_fixable != flt.is_fixable:
        return False
    if flt.package_identifier is not None and f.package != flt.package_identifier:
        return False
    # The external id is a CVE in the name or in relatedVulns, or the whole name.
    if (
        flt.external_id is not None
        and flt.external_id not in f.cve_ids
        and flt.external_id != f.name.upper()
    ):
        return False
    if flt.asset_id is not None and f.target_id != flt.asset_id:
        return False
    if flt.q is not None and flt.q not in f.name.lower() and flt.q not in f.description.lower():
        return False
    return flt.is_deactivated is None or f.deactivated(end_ms) == flt.is_deactivated


def _remediation_matches(f: _Finding, flt: RemediationFilters, end_ms: int) -> bool:
    if flt.severity is not None and f.severity != flt.severity:
        return False
    if flt.integration_id is not None and f.integration != flt.integration_id:
        return False
    fixed = f.fixed if f.fixed is not None and f.fixed < end_ms else None
    if flt.on_time is not None:
        # Only remediated findings with an SLA are on time or late; open ones are neither.
        if fixed is None or f.remediate_by is None:
            return False
        if (fixed <= f.remediate_by) != flt.on_time:
            return False
    if flt.remediated_after_ms is not None and (fixed is None or fixed <= flt.remediated_after_ms):
        return False
    return flt.remediated_before_ms is None or (
        fixed is not None and fixed < flt.remediated_before_ms
    )


def _asset_matches(core: _AssetCore, flt: AssetFilters) -> bool:
    if flt.asset_type is not None and core.asset_type != flt.asset_type:
        return False
    if flt.integration_id is not None and flt.integration_id not in core.integrations:
        return False
    if flt.q is not None and flt.q not in core.name.lower():
        return False
    return flt.account_id is None or flt.account_id in core.accounts


_UNKNOWN_SEVERITIES = ("SEVERE", "URGENT", "NEGLIGIBLE")
_UNKNOWN_ASSET_TYPES = ("MAINFRAME", "CONTAINER_IMAGE", "VIRTUAL_MACHINE")


def _malform(
    resource: Resource,
    record: dict[str, Any],
    kind: str,
    variant: int,
    severity_case: SeverityCase,
) -> dict[str, Any]:
    """A corrupted copy of ``record`` (top-level keys only: nested values stay shared)."""
    bad = dict(record)
    if kind == "missing_id":
        del bad["id"]
    elif kind == "wrong_type":
        if resource is Resource.VULNERABILITIES:
            key, value = (
                ("cvssSeverityScore", "high"),
                ("isFixable", "yes"),
                ("firstDetectedDate", 1_700_000_000_000),
            )[variant % 3]
        elif resource is Resource.VULNERABILITY_REMEDIATIONS:
            key, value = (
                ("detectedDate", 1_700_000_000_000),
                ("slaDeadlineDate", 20_261_101),
                ("vulnerabilityId", 4711),
            )[variant % 3]
        else:
            key, value = (("hasBeenScanned", "yes"), ("name", 12345), ("scanners", "qualys"))[
                variant % 3
            ]
        bad[key] = value
    elif kind == "unknown_severity":
        if resource is Resource.VULNERABLE_ASSETS:
            bad["assetType"] = _UNKNOWN_ASSET_TYPES[variant % 3]
        else:
            value = _UNKNOWN_SEVERITIES[variant % 3]
            lower = resource is Resource.VULNERABILITY_REMEDIATIONS and severity_case == "lower"
            bad["severity"] = value.lower() if lower else value
    elif kind == "null_required":
        keys = {
            Resource.VULNERABILITIES: ("targetId", "severity", "integrationId", "isFixable"),
            Resource.VULNERABILITY_REMEDIATIONS: ("vulnerabilityId", "vulnerableAssetId"),
            Resource.VULNERABLE_ASSETS: ("name", "assetType"),
        }[resource]
        bad[keys[variant % len(keys)]] = None
    elif kind == "extra_field":
        if resource is Resource.VULNERABILITIES:
            bad["fixedVersionDetails"] = {"version": "2.0.1", "source": "scanner"}
            bad["epssScore"] = round((variant % 100) / 1000, 3)
        elif resource is Resource.VULNERABILITY_REMEDIATIONS:
            bad["integrationType"] = "VULNERABILITY_SCANNER"
        else:
            bad["riskScore"] = variant % 10
    return bad
