from __future__ import annotations

import io

from rich.console import Console

from vanta_vuln_stats.model.fields import Resource
from vanta_vuln_stats.progress import RichSyncProgress


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
