"""The browser's half of Web Push, written independently of assent (http_ece, cryptography).

`keys`: makes a subscription's keys as a browser would and prints them as JSON: the private
key (for `open`), `p256dh` and `auth` (for the subscription), base64url.

`open`: reads one JSON object on stdin, `{"body", "private", "auth", "authorization"}` (the
body in standard base64, as a push service received it), decrypts the body (RFC 8291,
aes128gcm) and checks the VAPID header (RFC 8292: `vapid t=<JWT>, k=<key>`, the JWT's ES256
signature under `k`). Prints `{"payload", "jwt_header", "jwt_claims", "k", "signature_valid"}`.
"""

import base64
import json
import os
import sys

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_keys():
    private = ec.generate_private_key(ec.SECP256R1())
    number = private.private_numbers().private_value.to_bytes(32, "big")
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    print(json.dumps({
        "private": b64url(number),
        "p256dh": b64url(public),
        "auth": b64url(os.urandom(16)),
    }))


def open_message():
    given = json.load(sys.stdin)
    private = ec.derive_private_key(
        int.from_bytes(unb64url(given["private"]), "big"), ec.SECP256R1()
    )
    plaintext = http_ece.decrypt(
        base64.b64decode(given["body"]),
        private_key=private,
        auth_secret=unb64url(given["auth"]),
        version="aes128gcm",
    )
    scheme, _, params = given["authorization"].partition(" ")
    assert scheme == "vapid", scheme
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    header, claims, signature = fields["t"].split(".")
    signer = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), unb64url(fields["k"])
    )
    raw = unb64url(signature)
    der = encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    try:
        signer.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        valid = len(raw) == 64
    except InvalidSignature:
        valid = False
    print(json.dumps({
        "payload": json.loads(plaintext),
        "jwt_header": json.loads(unb64url(header)),
        "jwt_claims": json.loads(unb64url(claims)),
        "k": fields["k"],
        "signature_valid": valid,
    }))


if __name__ == "__main__":
    {"keys": make_keys, "open": open_message}[sys.argv[1]]()
