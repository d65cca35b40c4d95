from __future__ import annotations

import io

from rich.console import Console

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.progress import RichSyncProgress, RichTableProgress


def test_progress_shows_each_resource_with_its_count() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with RichSyncProgress(console) as progress:
        progress.resource_started(Resource.VULNERABILITIES, expected=2000)
        progress.page_stored(Resource.VULNERABILITIES, 1000, 1000)
        progress.page_stored(Resource.VULNERABILITIES, 1000, 2100)  # more than last time
        progress.resource_finished(Resource.VULNERABILITIES, 2100)
        progress.resource_started(Resource.VULNERABLE_ASSETS, expected=None)  # first sync
        progress.resource_finished(Resource.VULNERABLE_ASSETS, 40)
    text = out.getvalue()
    assert "vulnerabilities" in text and "2100/2100" in text
    assert "vulnerable_assets" in text and "40/40" in text


def test_migration_progress_shows_each_table_against_its_total() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with RichTableProgress(console) as progress:
        progress.table_started("vulnerabilities", 300)
        progress.rows_done("vulnerabilities", 200)
        progress.rows_done("vulnerabilities", 100)
        progress.table_finished("vulnerabilities")
        progress.table_started("rejects", 0)
        progress.table_finished("rejects")
    text = out.getvalue()
    assert "vulnerabilities" in text and "300/300" in text
    assert "rejects" in text and "0/0" in text
