"""Schemathesis hooks for .ci/schemathesis: signs the requests of the operations that take an
agent's RFC 9421 signature (the `sigilumSignature` scheme), as docs/signing.md describes, so
fuzzing reaches past the signature check. The agent's key comes from ASSENT_FUZZ_AGENT_SEED
(hex) and acts in ASSENT_FUZZ_NAMESPACE; .ci/schemathesis-fixtures.py imports `Agent` too.
"""

import base64
import hashlib
import json
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import requests
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def target_uri(url: str) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    port = parts.port
    default = (scheme, port) in (("http", 80), ("https", 443))
    netloc = host if port is None or default else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


class Agent:
    """docs/signing.md's agent: an Ed25519 key, its certificate, and request signing."""

    def __init__(self, seed: bytes, namespace: str):
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.namespace = namespace
        self.public_key = "ed25519:" + b64(raw)
        self.key_id = f"did:sigilum:{namespace}#ed25519-{hashlib.sha256(raw).hexdigest()[:16]}"
        self.certificate = self._certificate("2026-01-01T00:00:00Z")

    def _certificate(self, issued_at: str) -> str:
        did = f"did:sigilum:{self.namespace}"
        proof = "\n".join([
            "sigilum-certificate-v1",
            f"namespace:{self.namespace}",
            f"did:{did}",
            f"key-id:{self.key_id}",
            f"public-key:{self.public_key}",
            f"issued-at:{issued_at}",
            "expires-at:",
        ])
        cert = {
            "version": 1,
            "namespace": self.namespace,
            "did": did,
            "keyId": self.key_id,
            "publicKey": self.public_key,
            "issuedAt": issued_at,
            "expiresAt": None,
            "proof": {"alg": "ed25519", "sig": b64url(self._key.sign(proof.encode()))},
        }
        return b64url(json.dumps(cert, separators=(",", ":")).encode())

    def sign(self, method: str, url: str, body: bytes) -> dict[str, str]:
        headers = {
            "sigilum-namespace": self.namespace,
            "sigilum-subject": self.namespace,
            "sigilum-agent-key": self.public_key,
            "sigilum-agent-cert": self.certificate,
        }
        components = ["@method", "@target-uri", *headers]
        if body and method.upper() not in ("GET", "HEAD"):
            headers["content-digest"] = f"sha-256=:{b64(hashlib.sha256(body).digest())}:"
            components.insert(2, "content-digest")
        values = {"@method": method.lower(), "@target-uri": target_uri(url), **headers}
        params = (
            "(" + " ".join(f'"{c}"' for c in components) + ")"
            f';created={int(time.time())};keyid="{self.key_id}";alg="ed25519"'
            f';nonce="{uuid.uuid4()}"'
        )
        base = "\n".join(f'"{c}": {values[c]}' for c in components)
        base += f'\n"@signature-params": {params}'
        headers["signature-input"] = f"sig1={params}"
        headers["signature"] = f"sig1=:{b64(self._key.sign(base.encode()))}:"
        return headers


def agent_from_env() -> Agent:
    seed = bytes.fromhex(os.environ["ASSENT_FUZZ_AGENT_SEED"])
    return Agent(seed, os.environ["ASSENT_FUZZ_NAMESPACE"])


class _Signature(requests.auth.AuthBase):
    """Signs the request as sent: its final URL and body bytes."""

    def __init__(self, agent: Agent):
        self.agent = agent

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        for name, value in self.agent.sign(request.method, request.url, body).items():
            request.headers[name] = value
        return request


if os.environ.get("ASSENT_FUZZ_AGENT_SEED"):
    _AGENT = agent_from_env()

    @schemathesis.hook
    def before_call(context, case, kwargs):
        security = case.operation.definition.raw.get("security") or []
        if any("sigilumSignature" in requirement for requirement in security):
            kwargs["auth"] = _Signature(_AGENT)
