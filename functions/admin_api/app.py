"""Admin API: Kafka Connect's REST API behind an IAM-authorised API Gateway HTTP API (payload 2.0)."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("admin_api")
