"""CatalogOnS3Event: a commit manifest written outside the workflow (a migration, a sync run
elsewhere) gets its day's partitions registered in Glue."""

from urllib.parse import unquote_plus

from vanta_vuln_stats.errors import ConfigError
from vanta_vuln_stats.pipeline.handler import lambda_step, step_settings
from vanta_vuln_stats.pipeline.steps import register_commit


@lambda_step("catalog_on_s3_event")
def handler(event: dict, context: object) -> dict:
    settings = step_settings()
    if not settings.glue_database:
        raise ConfigError("GLUE_DATABASE is not set.")
    if "detail" in event:
        objects = [(event["detail"]["bucket"]["name"], event["detail"]["object"]["key"])]
    else:
        objects = [
            (r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]))
            for r in event["Records"]
        ]
    registered, ignored = [], []
    for bucket, key in objects:
        result = register_commit(f"s3://{bucket}", key, database=settings.glue_database)
        (registered if result else ignored).append(result or key)
    return {"registered": registered, "ignored": ignored}
