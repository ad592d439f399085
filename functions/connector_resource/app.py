"""Custom::Connector: create, update and delete connectors declared in a CloudFormation template."""

from connect_core.runtime.lambda_support import lambda_handler

handler = lambda_handler("connector_resource")
