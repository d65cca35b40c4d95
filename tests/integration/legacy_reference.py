"""The earlier tool's statistics as the reference the SQL statistics are checked against."""

from __future__ import annotations

from typing import Any

import pytest

from vanta_vuln_stats.devstack.legacy import legacy_statistics_of as legacy_statistics
from vanta_vuln_stats.stats import LEGACY_KEYS

__all__ = ["assert_legacy_equal", "legacy_statistics"]


def assert_legacy_equal(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every key of the earlier tool equal, averages to floating-point precision."""
    for key in LEGACY_KEYS:
        if key == "average_cvss_by_severity":
            assert actual[key].keys() == expected[key].keys()
            for severity, mean in expected[key].items():
                assert actual[key][severity] == pytest.approx(mean, rel=1e-12)
        else:
            assert actual[key] == expected[key], key
