"""The column definitions (vanta_vuln_stats.model.fields): which columns make a change."""

from __future__ import annotations

import pytest

from vanta_vuln_stats.model import (
    FIELDS,
    RAW_COLUMN,
    Resource,
    column_names,
    tracked_columns,
)


@pytest.mark.parametrize("resource", list(Resource))
def test_tracked_columns_are_the_tracked_fields_in_column_order(resource: Resource) -> None:
    tracked = tracked_columns(resource)

    assert tracked == tuple(f.name for f in FIELDS[resource] if f.tracked)
    assert RAW_COLUMN not in tracked
    order = column_names(resource)
    assert list(tracked) == sorted(tracked, key=order.index)


def test_only_sightings_are_untracked() -> None:
    untracked = {
        resource: [f.name for f in FIELDS[resource] if not f.tracked] for resource in Resource
    }

    # lastDetectedDate moves with every rescan; everything else describes the finding.
    assert untracked == {
        Resource.VULNERABILITIES: ["last_detected_date"],
        Resource.VULNERABILITY_REMEDIATIONS: [],
        Resource.VULNERABLE_ASSETS: [],
    }
    tracked = tracked_columns(Resource.VULNERABILITIES)
    for name in ("severity", "cvss_severity_score", "remediate_by_date", "is_fixable"):
        assert name in tracked
    for name in ("package_identifier", "name", "description", "deactivate_metadata"):
        assert name in tracked


def test_tracked_columns_take_the_resource_value_too() -> None:
    assert tracked_columns("vulnerable_assets") == tracked_columns(Resource.VULNERABLE_ASSETS)
    with pytest.raises(ValueError):
        tracked_columns("vulns")  # type: ignore[arg-type]
