"""QueryApi: the REST API behind API Gateway (an API key is required there). Named queries on
Athena and the sync workflow's executions; each route is one call into vanta_vuln_stats.api, and
every error becomes its HTTP answer in api.errors."""

import os

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)

from vanta_vuln_stats.api.errors import NotFound, error_response
from vanta_vuln_stats.api.queries import Accepted
from vanta_vuln_stats.api.settings import services
from vanta_vuln_stats.pipeline.handler import lambda_step, logger

app = APIGatewayRestResolver(
    cors=CORSConfig(
        allow_origin=os.environ.get("API_CORS_ORIGIN") or "*", allow_headers=["X-Api-Key"]
    )
)


def _json(status: int, body: dict) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


@app.post("/api/v1/query")
def run_query() -> Response:
    outcome = services().queries.run(_body())
    if isinstance(outcome, Accepted):
        return _json(202, {"query_execution_id": outcome.query_execution_id})
    return _json(200, outcome)


@app.get("/api/v1/query/<query_id>")
def get_query(query_id: str) -> Response:
    return _json(200, services().queries.get(query_id))


@app.get("/api/v1/sync/status")
def sync_status() -> Response:
    return _json(200, services().sync.status())


@app.get("/api/v1/sync/history")
def sync_history() -> Response:
    limit = app.current_event.get_query_string_value(name="limit")
    return _json(200, services().sync.history(limit))


@app.post("/api/v1/sync/trigger")
def sync_trigger() -> Response:
    return _json(202, services().sync.trigger(_body(empty=None)))


@app.not_found
def not_found(exc: Exception) -> Response:
    event = app.current_event
    return _failure(NotFound(f"No route {event.http_method} {event.path}."))


@app.exception_handler(Exception)
def _failure(exc: Exception) -> Response:
    status, body = error_response(exc)
    return _json(status, body)


def _body(empty: object = ...) -> object:
    """The request's JSON body; a body that is not JSON is a bad request."""
    from vanta_vuln_stats.api.errors import BadRequest

    text = app.current_event.body
    if not text:
        if empty is ...:
            raise BadRequest("The request needs a JSON body.")
        return empty
    try:
        return app.current_event.json_body
    except ValueError:
        raise BadRequest("The body is not valid JSON.") from None


@lambda_step("query_api")
def handler(event: dict, context: object) -> dict:
    response = app.resolve(event, context)
    # The API's access log: who (the API key's id, never the key), what, and the answer.
    identity = (event.get("requestContext") or {}).get("identity") or {}
    logger.info(
        "request",
        extra={
            "method": event.get("httpMethod"),
            "path": event.get("path"),
            "status": response.get("statusCode"),
            "api_key_id": identity.get("apiKeyId"),
            "source_ip": identity.get("sourceIp"),
        },
    )
    return response
