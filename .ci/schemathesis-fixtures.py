"""Creates, over the API of a freshly started assent, the credentials and records that let
schemathesis reach deep paths (real ids, not random ones), and writes the config file schemathesis runs with.

Usage: schemathesis-fixtures.py BASE_URL ADMIN_TOKEN EMAIL PASSWORD NAMESPACE CONFIG_OUT

Records an operation destroys (a service, a key, a webhook, a user token) are extra ones made
for it, so the other operations keep theirs; the session `logOut` ends is written beside the
config, as `logout-session`, for a run of its own.
"""

import json
import os
import sys

import requests

from schemathesis_hooks import agent_from_env

base, admin_token, email, password, namespace, config_out = sys.argv[1:7]


def call(method, path, token=None, body=None, expect=(200, 201, 202)):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    reply = requests.request(method, base + path, headers=headers, json=body, timeout=30)
    if reply.status_code not in expect:
        sys.exit(f"fixture {method} {path}: {reply.status_code} {reply.text}")
    return reply.json() if reply.content else None


def login():
    return call("POST", "/v1/auth/login", body={"email": email, "password": password})[
        "session"
    ]["token"]


session = login()
logout_session = login()

registered = call(
    "POST",
    "/api/v1/services",
    admin_token,
    {
        "name": "Schemathesis IDE",
        "description": "The service schemathesis acts as",
        "callback_url": "http://127.0.0.1:9/callback",
        "webhook_secret": "schemathesis-webhook-secret",
        "namespace": namespace,
    },
)
api_key = registered["api_key"]
slug = registered["service_id"]
service_id = next(
    s["id"] for s in call("GET", "/v1/services", session)["services"] if s["slug"] == slug
)
doomed_service_id = call("POST", "/v1/services", session, {"slug": "doomed", "name": "Doomed"})["id"]

doomed_key_id = call("POST", f"/v1/services/{service_id}/keys", session, {"name": "doomed"})["id"]


def webhook():
    return call(
        "POST",
        f"/v1/services/{service_id}/webhooks",
        session,
        {"url": "http://127.0.0.1:9/hook", "events": ["request.approved"]},
    )["id"]


webhook_id = webhook()
doomed_webhook_id = webhook()
delivery_id = call("POST", f"/v1/services/{service_id}/webhooks/{webhook_id}/test", session)[
    "delivery_id"
]

user_token = call("POST", "/v1/auth/tokens", session, {"name": "schemathesis"})["token"]
doomed_token_id = call("POST", "/v1/auth/tokens", session, {"name": "doomed"})["id"]

notification_id = call(
    "POST",
    "/api/v1/notifications",
    api_key,
    {
        "context": {"title": "Deploy?", "description": "Ship the release"},
        "actions": [{"id": "ok", "label": "OK", "response_type": "simple"}],
    },
)["notification_id"]


# An agent's claim on the service, submitted signed, for the claim operations.
agent = agent_from_env()
claim = json.dumps({
    "namespace": namespace,
    "public_key": agent.public_key,
    "service": slug,
    "nonce": "schemathesis-fixture",
    "agent_name": "fuzzer",
}).encode()
signed = agent.sign("POST", base + "/v1/claims", claim)
reply = requests.post(
    base + "/v1/claims",
    data=claim,
    headers={**signed, "authorization": f"Bearer {api_key}", "content-type": "application/json"},
    timeout=30,
)
if reply.status_code != 201:
    sys.exit(f"fixture POST /v1/claims: {reply.status_code} {reply.text}")
claim_id = reply.json()["claim_id"]


def toml(value):
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def operations(ids, parameters):
    lines = ["[[operations]]", f"include-operation-id = {json.dumps(ids)}"]
    pairs = ", ".join(f"{k} = {toml(v)}" for k, v in parameters.items())
    lines.append(f"parameters = {{ {pairs} }}")
    return "\n".join(lines) + "\n"


config = f"""
[auth.openapi.adminToken]
bearer = {toml(admin_token)}
[auth.openapi.serviceApiKey]
bearer = {toml(api_key)}
[auth.openapi.userToken]
bearer = {toml(user_token)}
[auth.openapi.sessionToken]
bearer = {toml(session)}
[auth.openapi.streamToken]
api_key = {toml(user_token)}
# A stand-in, so that schemathesis sees the requirements that pair the signature with an API
# key as met and sends the key; the hooks replace it with the real signature headers.
[auth.openapi.sigilumSignature]
api_key = "signed-by-the-hooks"

{operations(["getService", "updateService", "listServiceKeys", "createServiceKey", "listWebhooks", "createWebhook"], {"service_id": service_id})}
{operations(["deleteService"], {"service_id": doomed_service_id})}
{operations(["revokeServiceKey"], {"service_id": service_id, "key_id": doomed_key_id})}
{operations(["updateWebhook", "listDeliveries", "testWebhook", "rotateWebhookSecret"], {"service_id": service_id, "webhook_id": webhook_id})}
{operations(["deleteWebhook"], {"service_id": service_id, "webhook_id": doomed_webhook_id})}
{operations(["retryDelivery"], {"service_id": service_id, "webhook_id": webhook_id, "delivery_id": delivery_id})}
{operations(["revokeUserToken"], {"token_id": doomed_token_id})}
{operations(["getNotification", "invalidateNotification", "getClientNotification", "acknowledgeNotification"], {"id": notification_id})}
{operations(["listNamespaceClaims", "getNamespace"], {"namespace": namespace})}
{operations(["getClaim", "approveClaim", "rejectClaim", "revokeClaim"], {"claim_id": claim_id})}
{operations(["verifyClaim"], {"namespace": namespace, "public_key": agent.public_key, "service": slug})}
{operations(["listApprovedClaims"], {"service": slug})}
"""
with open(config_out, "w") as out:
    out.write(config)
with open(os.path.join(os.path.dirname(config_out), "logout-session"), "w") as out:
    out.write(logout_session)
