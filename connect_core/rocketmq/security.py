"""Secured clusters: TLS on the remoting connections and ACL request signing.

``Security`` is what a client needs to talk to one cluster: TLS settings (``Tls``) for every
connection, to name servers and brokers alike, and ``Credentials`` that sign every request as
RocketMQ's ``AclClientRPCHook`` does. Both are frozen and hashable, so a client (and a connection
pool) can be cached per name-server list *and* security settings.

Signing (ACL 1.0 and the remoting side of ACL 2.0): the ext fields ``AccessKey`` (and
``SecurityToken`` when there is one) are added to the request's header fields; the values of every
ext field except ``Signature``, sorted by field name, are concatenated (UTF-8, no names, no
separators), the body's raw bytes appended, and ``Signature`` = Base64(HMAC-SHA1(secret key, that)).

Secrets (the secret key, the security token, a CA bundle held in a secret) are never in a repr, a
log line or an error message: their fields are left out of ``repr`` and only the access key, which
names the user, ever appears.

Standard library only: the broker harness signs its admin requests with it before anything is installed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol import RemotingCommand

ACCESS_KEY = "AccessKey"
SECURITY_TOKEN = "SecurityToken"
SIGNATURE = "Signature"


@dataclass(frozen=True)
class Credentials:
    """An ACL user: the access key (the user name, safe to show) and its secret key (never shown)."""

    access_key: str
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.access_key or not self.secret_key:
            raise ValueError("credentials need an access key and a secret key")

    def sign(self, cmd: "RemotingCommand") -> "RemotingCommand":
        """Add AccessKey (SecurityToken) and Signature to ``cmd``'s ext fields; returns ``cmd``."""
        fields = cmd.ext_fields
        fields.pop(SIGNATURE, None)
        fields[ACCESS_KEY] = self.access_key
        if self.security_token:
            fields[SECURITY_TOKEN] = self.security_token
        fields[SIGNATURE] = signature(self.secret_key, fields, cmd.body)
        return cmd


def signature(secret_key: str, ext_fields: dict[str, str], body: bytes = b"") -> str:
    """Base64(HMAC-SHA1(secret_key, the sorted ext fields' values + body)), Signature itself left out."""
    content = "".join(value for key, value in sorted(ext_fields.items()) if key != SIGNATURE)
    digest = hmac.new(secret_key.encode("utf-8"), content.encode("utf-8") + bytes(body), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class Tls:
    """TLS for every connection to a cluster. The server certificate and its host name are verified
    against ``ca_file`` (a PEM bundle's path) or ``ca_pem`` (PEM text, e.g. resolved from a secret)
    *instead of* the system trust store: only that CA is trusted, so a certificate some public CA
    issued for the same name is refused. With neither, the system's trust store. ``verify=False``
    turns verification off (encryption without authentication: only for test clusters with
    throwaway certificates). ``server_name`` is the name to verify instead of each address's host
    (for brokers reached by IP whose certificate names a DNS name). TLS 1.2 at least."""

    ca_file: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    verify: bool = True
    server_name: str | None = None

    def context(self) -> ssl.SSLContext:
        """The client context, built once per settings and shared (SSLContext is thread-safe).
        Raises ValueError naming the CA's source (never its content) when it cannot be loaded."""
        with _contexts_lock:
            ctx = _contexts.get(self)
            if ctx is None:
                ctx = _contexts[self] = self._build()
        return ctx

    def trust_source(self) -> str:
        """What certificates are verified against, for error messages."""
        if self.ca_file:
            return f"the CA bundle {self.ca_file!r}"
        return "the configured CA bundle" if self.ca_pem else "the system trust store"

    def _build(self) -> ssl.SSLContext:
        if not (self.ca_file or self.ca_pem) or not self.verify:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # the system's roots
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED, no roots at all
            try:
                ctx.load_verify_locations(cafile=self.ca_file or None, cadata=self.ca_pem or None)
            except (OSError, ssl.SSLError) as exc:
                where = f"CA file {self.ca_file!r}" if self.ca_file else "the CA bundle given by reference"
                raise ValueError(f"cannot load {where}: {getattr(exc, 'strerror', None) or exc}") from None
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


_contexts: dict[Tls, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


@dataclass(frozen=True)
class Security:
    """How to reach one cluster: TLS (None: plaintext) and credentials (None: unsigned requests)."""

    tls: Tls | None = None
    credentials: Credentials | None = None

    @property
    def enabled(self) -> bool:
        return self.tls is not None or self.credentials is not None

    def describe(self) -> str:
        """For error messages: what was used, never a secret."""
        parts = ["TLS" if self.tls else "plaintext"]
        if self.tls is not None and not self.tls.verify:
            parts.append("certificate not verified")
        parts.append(f"access key {self.credentials.access_key!r}" if self.credentials else "no credentials")
        return ", ".join(parts)


PLAINTEXT = Security()

__all__ = ["Credentials", "PLAINTEXT", "Security", "Tls", "signature"]
