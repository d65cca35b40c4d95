"""StartSync: the daily schedule's target. Starts the state machine as sync-YYYY-MM-DD, so one
day is never synced twice at once (a second start of the same name is refused by Step
Functions and reported here as already started)."""

import os

from vanta_vuln_stats.pipeline.handler import lambda_step
from vanta_vuln_stats.pipeline.start import start_sync


@lambda_step("start_sync")
def handler(event: dict, context: object) -> dict:
    return start_sync(os.environ["STATE_MACHINE_ARN"], run_date=event.get("run_date"))
