"""Verifies assent's Standard Webhooks deliveries with independent implementations: the
`standardwebhooks` library for `v1` (HMAC) signatures, and `cryptography`'s Ed25519 for `v1a`,
with the public key fetched from the namespace's JWKS and from its DID document.

Reads {"symmetric": [{secret, headers, body}], "asymmetric": {jwks_url, did_url, did, kid,
headers, body}} (bodies base64) on stdin; prints {"symmetric": [bool], "jwks": bool,
"did": bool} on stdout: whether each verified.
"""

import base64
import json
import sys
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text):
    number = 0
    for char in text:
        number = number * 58 + B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def symmetric(case):
    try:
        Webhook(case["secret"]).verify(base64.b64decode(case["body"]), case["headers"])
        return True
    except WebhookVerificationError:
        return False


def ed25519(raw_key, case):
    """Standard Webhooks v1a: Ed25519 over `{id}.{timestamp}.{body}`, any entry may match."""
    key = Ed25519PublicKey.from_public_bytes(raw_key)
    headers = case["headers"]
    content = (
        f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode()
        + base64.b64decode(case["body"])
    )
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), content)
            return True
        except InvalidSignature:
            pass
    return False


def main():
    request = json.load(sys.stdin)
    result = {"symmetric": [symmetric(case) for case in request["symmetric"]]}
    asym = request.get("asymmetric")
    if asym:
        jwk = next(k for k in fetch(asym["jwks_url"])["keys"] if k["kid"] == asym["kid"])
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA"), jwk
        result["jwks"] = [ed25519(b64url(jwk["x"]), case) for case in asym["cases"]]
        document = fetch(asym["did_url"])
        method_id = f"{asym['did']}#webhook-{asym['kid']}"
        method = next(m for m in document["verificationMethod"] if m["id"] == method_id)
        assert method_id in document["assertionMethod"], document
        multibase = method["publicKeyMultibase"]
        assert multibase.startswith("z"), multibase
        decoded = b58decode(multibase[1:])
        assert decoded[:2] == b"\xed\x01", decoded  # the multicodec of an Ed25519 public key
        result["did"] = [ed25519(decoded[2:], case) for case in asym["cases"]]
    print(json.dumps(result))


main()
