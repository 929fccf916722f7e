"""Drive the ASGI application of ``cpcompile serve`` in-process, as a server would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cpcompile.serve import ServeApp, build_app
from cpcompile.serve.settings import ServeSettings, check

from runtime_helpers import document_bytes, write_atomically

ORG = "ABC123@AdobeOrg"
IDENTITY_COOKIE = "kndctr_ABC123_AdobeOrg_identity"
TOKEN = "test-token-0123456789abcdef"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def destinations(self) -> list[Any]:
        return [item for h in self.json()["handle"] if h["type"] == "activation:pull" for item in h["payload"]]

    def handle(self, kind: str) -> list[Any]:
        return [h for h in self.json()["handle"] if h["type"] == kind]


@dataclass
class Client:
    app: ServeApp
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def request(
        self, method: str, path: str, body: bytes | str | Any = b"", *, query: str = "",
        headers: dict[str, str] | None = None, chunks: list[bytes] | None = None,
    ) -> Response:
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        scope = {
            "type": "http", "method": method, "path": path, "query_string": query.encode(),
            "headers": raw_headers, "http_version": "1.1", "scheme": "https",
        }
        parts = chunks if chunks is not None else [body]
        messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        start = sent[0]
        return Response(
            start["status"],
            {k.decode(): v.decode() for k, v in start["headers"]},
            b"".join(m.get("body", b"") for m in sent[1:]),
        )

    def post(self, path: str, body: Any = b"", **kw: Any) -> Response:
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def close(self) -> None:
        self.loop.run_until_complete(self.app.stop())
        self.loop.close()


def make_client(tmp_path: Path, body: dict[str, Any] | None = None, **settings: Any) -> Client:
    artifact = tmp_path / "artifact.json"
    if not artifact.exists():
        write_atomically(artifact, document_bytes(body))
    options: dict[str, Any] = {
        "artifact": str(artifact), "org_id": ORG, "profiles": str(tmp_path / "profiles.sqlite3"),
        "api_tokens": (TOKEN,),
    }
    options.update(settings)
    return Client(build_app(check(ServeSettings(**options), source="test")))


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def self_signed_certificate(directory: Path, names: tuple[str, ...] = ("localhost",)) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 and ``names`` (PEM cert and key files), the
    first name its subject; it is its own CA, so a client can trust it as one."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
