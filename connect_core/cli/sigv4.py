"""SigV4 for the admin API in AWS: which service and region a URL belongs to, and signing a request.

The API behind an IAM-authorised API Gateway expects requests signed for ``execute-api``; a Lambda
function URL with ``AWS_IAM`` auth expects ``lambda``. botocore (loaded only when signing) does the
signing with the default credential chain: environment, shared config/credentials files, SSO, the
container or instance role.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

_API_GATEWAY_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws$")


class SigningError(Exception):
    """A request cannot be signed (no region, no credentials)."""


@dataclass(frozen=True)
class SigningTarget:
    service: str
    region: str


def aws_host_target(url: str) -> SigningTarget | None:
    """The service and region of an AWS-hosted API URL, or None for any other host."""
    host = (urlsplit(url).hostname or "").lower()
    match = _API_GATEWAY_HOST.match(host)
    if match:
        return SigningTarget("execute-api", match.group(1))
    match = _FUNCTION_URL_HOST.match(host)
    if match:
        return SigningTarget("lambda", match.group(1))
    return None


def signing_target(url: str, *, force: bool, region: str | None) -> SigningTarget | None:
    """Whether and how to sign requests to ``url``: always for AWS API hosts, for any other host
    (a custom domain) only when ``force``d. ``region`` overrides the one in the host name."""
    detected = aws_host_target(url)
    if detected is None and not force:
        return None
    service = detected.service if detected else "execute-api"
    region = region or (detected.region if detected else None) or _configured_region()
    if not region:
        raise SigningError("cannot sign the request: no AWS region (give --region or set AWS_REGION)")
    return SigningTarget(service, region)


def _configured_region() -> str | None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    import botocore.session

    return botocore.session.get_session().get_config_variable("region")


class RequestSigner:
    """Adds SigV4 headers to requests; the credential chain is resolved on the first request."""

    def __init__(self, target: SigningTarget) -> None:
        self.target = target
        self._credentials = None

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        """``headers`` plus ``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token`` for
        temporary credentials), signed over exactly this method, URL, headers and body."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
        SigV4Auth(self._frozen_credentials(), self.target.service, self.target.region).add_auth(request)
        return dict(request.headers.items())

    def _frozen_credentials(self):  # noqa: ANN202 - botocore's ReadOnlyCredentials, imported lazily
        if self._credentials is None:
            import botocore.session

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise SigningError("cannot sign the request: no AWS credentials found (environment, "
                                   "~/.aws/credentials, AWS_PROFILE, SSO or an instance role)")
        # Frozen per request: refreshable (temporary) credentials renew themselves in between.
        return self._credentials.get_frozen_credentials()
