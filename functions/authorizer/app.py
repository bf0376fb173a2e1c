"""API Gateway REQUEST authorizer: API key + token + tenant headers → an IAM policy.

401 is ``raise Exception("Unauthorized")`` and 403 a Deny policy: that is how API Gateway maps a
Lambda authorizer's answer. The Allow policy covers the whole API (results are cached per
identity-source headers for ReauthorizeEvery seconds, and one key may call every route).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchgate.api.auth import authorize, authorizer_context
from batchgate.aws.clients import preload
from batchgate.aws.store import Store
from batchgate.core.errors import Forbidden, Unauthorized
from batchgate.observability import logger, metrics, tracer
from batchgate.settings import settings

preload("dynamodb")  # in the init phase, not the first event


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayAuthorizerRequestEvent(event)
    arn = request.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=str(request.headers.get("x-api-key") or "anonymous"), region=arn.region,
        aws_account_id=arn.aws_account_id, api_id=arn.api_id, stage=arn.stage,
    )  # fmt: skip
    try:
        principal = authorize(request.headers, Store(settings().table_name))
    except Unauthorized as exc:
        metrics.add_metric(name="Unauthorized", unit="Count", value=1)
        logger.info("unauthorized", extra={"reason": exc.message})
        raise Exception("Unauthorized") from None  # API Gateway's 401
    except Forbidden as exc:
        metrics.add_metric(name="Forbidden", unit="Count", value=1)
        logger.info("forbidden", extra={"reason": exc.message})
        policy.deny_all_routes()  # API Gateway's 403
        return policy.asdict()
    policy.context = authorizer_context(principal)
    policy.allow_all_routes()
    return policy.asdict()
