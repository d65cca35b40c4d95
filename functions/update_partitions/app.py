"""UpdatePartitions: register the committed day's partitions in Glue (idempotent)."""

from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.pipeline.handler import lambda_step, step_settings
from vanta_vuln_stats.pipeline.steps import Run, update_partitions


@lambda_step("update_partitions")
def handler(event: dict, context: object) -> dict:
    database = step_settings().glue_database
    if not database:
        raise ConfigError("GLUE_DATABASE is not set.")
    return update_partitions(Run.from_payload(event["run"]), database=database)
