//! The `sigilum-rfc9421-v1` verifier against the conformance files in
//! `tests/conformance/` (see its `NOTICE.md`): the golden request, the four RFC 9421
//! vectors and their negative mutations, the identity record, the time-window edges, and a
//! storm of hostile mutations that must each end in a `SIGNATURE_*` code.

use std::collections::{BTreeMap, HashSet};

use assent_auth::rfc9421::{
    self, AgentKey, RequestToSign, SignatureError, SignedRequest, VerifiedRequest,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

const CONFORMANCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/conformance");

const CODES: [&str; 7] = [
    "SIGNATURE_MISSING",
    "SIGNATURE_INVALID",
    "SIGNATURE_COMPONENTS_INVALID",
    "SIGNATURE_DIGEST_MISMATCH",
    "SIGNATURE_EXPIRED",
    "SIGNATURE_FUTURE",
    "SIGNATURE_CERT_INVALID",
];

fn load(name: &str) -> Value {
    let path = format!("{CONFORMANCE_DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

/// An owned request, easy to mutate, lent to the verifier as a [`SignedRequest`].
#[derive(Debug, Clone)]
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn verify(&self, now: i64) -> Result<VerifiedRequest, SignatureError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        rfc9421::verify(
            &SignedRequest {
                method: &self.method,
                target_uri: &self.url,
                headers: &headers,
                body: &self.body,
            },
            now,
        )
    }

    fn signature_base(&self) -> Result<String, SignatureError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        rfc9421::signature_base(&SignedRequest {
            method: &self.method,
            target_uri: &self.url,
            headers: &headers,
            body: &self.body,
        })
    }

    fn header(&self, name: &str) -> &str {
        &self.headers.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn set_header(&mut self, name: &str, value: &str) {
        self.headers.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.to_owned();
    }
}

struct Golden {
    file: Value,
    request: Request,
    now: i64,
}

fn golden() -> Golden {
    let file = load("golden-signed-request.json");
    let req = &file["request"];
    let headers = req["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(n, v)| (n.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let request = Request {
        method: text(req, "method").to_owned(),
        url: text(req, "url").to_owned(),
        headers,
        body: text(req, "body").as_bytes().to_vec(),
    };
    let now = file["verify_at_unix"].as_i64().unwrap();
    Golden { file, request, now }
}

fn fixture_key(golden: &Golden) -> AgentKey {
    let seed = STANDARD
        .decode(text(&golden.file["identity"], "privateKeySeedBase64"))
        .unwrap();
    AgentKey::from_seed(&seed.try_into().unwrap())
}

/// The golden request re-signed by the fixture key, with another `created` and nonce.
fn resign(golden: &Golden, created: i64, nonce: &str) -> Request {
    let g = &golden.request;
    let headers = fixture_key(golden)
        .sign(&RequestToSign {
            method: &g.method,
            target_uri: &g.url,
            body: &g.body,
            namespace: g.header("sigilum-namespace"),
            subject: g.header("sigilum-subject"),
            certificate: g.header("sigilum-agent-cert"),
            created,
            nonce,
        })
        .unwrap();
    Request {
        headers,
        ..g.clone()
    }
}

fn code(result: Result<VerifiedRequest, SignatureError>) -> &'static str {
    match result {
        Ok(_) => "ACCEPTED",
        Err(e) => e.code(),
    }
}

#[test]
fn golden_request_verifies_with_the_expected_signature_base() {
    let g = golden();
    assert_eq!(
        g.request.signature_base().unwrap(),
        text(&g.file, "expected_signature_base")
    );
    let verified = g.request.verify(g.now).unwrap();
    let identity = &g.file["identity"];
    assert_eq!(verified.namespace, text(identity, "namespace"));
    assert_eq!(verified.public_key, text(identity, "publicKey"));
    assert_eq!(verified.key_id, text(identity, "keyId"));
    assert_eq!(verified.subject, "fixture-alice");
    assert_eq!(verified.nonce, "123e4567-e89b-12d3-a456-426614174000");
    assert_eq!(verified.created, 1_700_000_000);
    assert_eq!(
        verified.agent_key_did,
        "did:key:z6Mkh6hhFJ17n1XbofybGLNrr6pBFKj3Y3rYYGBbbcwzKMaY"
    );
}

#[test]
fn signing_the_golden_request_reproduces_its_headers() {
    // Ed25519 is deterministic: our signer must produce the golden Signature byte for byte.
    let g = golden();
    let created = g.now;
    let resigned = resign(&g, created, "123e4567-e89b-12d3-a456-426614174000");
    let sorted = |r: &Request| r.headers.iter().cloned().collect::<BTreeMap<_, _>>();
    assert_eq!(sorted(&resigned), sorted(&g.request));
}

/// A stand-in for the caller's nonce store: (namespace, nonce) single-use.
#[derive(Default)]
struct NonceStore(HashSet<(String, String)>);

impl NonceStore {
    fn admit(&mut self, request: &Request, now: i64) -> &'static str {
        match request.verify(now) {
            Ok(v) if self.0.insert((v.namespace.clone(), v.nonce.clone())) => "ACCEPTED",
            Ok(_) => "SIGNATURE_NONCE_REPLAY",
            Err(e) => e.code(),
        }
    }
}

#[test]
fn golden_must_reject_cases_fail_with_their_codes() {
    let g = golden();
    let cases = g.file["must_reject"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = text(case, "name");
        let mut request = g.request.clone();
        // The golden file states no codes: these are the ones the contract gives each case.
        let (got, expected) = match name {
            "created-in-the-future" => (code(request.verify(g.now - 120)), "SIGNATURE_FUTURE"),
            "too-old" => (code(request.verify(g.now + 301)), "SIGNATURE_EXPIRED"),
            "body-tampered" => {
                request.body = br#"{"action":"deny"}"#.to_vec();
                (code(request.verify(g.now)), "SIGNATURE_DIGEST_MISMATCH")
            }
            "scheme-changed" => {
                request.url = request.url.replacen("https://", "http://", 1);
                assert!(request.url.starts_with("http://"));
                (code(request.verify(g.now)), "SIGNATURE_INVALID")
            }
            "subject-changed" => {
                request.set_header("sigilum-subject", "mallory");
                (code(request.verify(g.now)), "SIGNATURE_INVALID")
            }
            "label-changed" => {
                for name in ["signature-input", "signature"] {
                    let relabelled = request.header(name).replacen("sig1=", "sig2=", 1);
                    request.set_header(name, &relabelled);
                }
                (code(request.verify(g.now)), "SIGNATURE_INVALID")
            }
            "nonce-replayed" => {
                let mut store = NonceStore::default();
                assert_eq!(store.admit(&request, g.now), "ACCEPTED");
                // A fresh nonce is not a replay; the same one again is.
                let fresh = resign(&g, g.now, "another-nonce");
                assert_eq!(store.admit(&fresh, g.now), "ACCEPTED");
                (store.admit(&request, g.now + 1), "SIGNATURE_NONCE_REPLAY")
            }
            other => panic!("must_reject case {other:?} has no test: add one"),
        };
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn golden_must_accept_cases_pass() {
    let g = golden();
    let cases = g.file["must_accept"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = text(case, "name");
        let mut request = g.request.clone();
        match name {
            "default-port-and-fragment" => {
                request.url =
                    "https://api.sigilum.local:443/v1/namespaces/alice/claims#x".to_owned();
            }
            other => panic!("must_accept case {other:?} has no test: add one"),
        }
        assert_eq!(code(request.verify(g.now)), "ACCEPTED", "{name}");
    }
}

#[test]
fn time_window_edges() {
    let g = golden();
    let now = g.now + 10_000;
    let at = |created| code(resign(&g, created, "edge-nonce").verify(now));
    assert_eq!(at(now - 300), "ACCEPTED");
    assert_eq!(at(now - 301), "SIGNATURE_EXPIRED");
    assert_eq!(at(now + 30), "ACCEPTED");
    assert_eq!(at(now + 31), "SIGNATURE_FUTURE");
    assert_eq!(at(now), "ACCEPTED");
}

#[test]
fn identity_record_matches_the_golden_certificate() {
    let g = golden();
    let record = load("sigilum-identity-record-v1.json");
    let key = fixture_key(&g);
    assert_eq!(key.public_key(), text(&record, "publicKey"));
    assert_eq!(
        text(&record, "privateKey"),
        text(&g.file["identity"], "privateKeySeedBase64")
    );
    assert_eq!(
        key.key_id(text(&record, "namespace")),
        text(&record, "keyId")
    );
    let cert = &record["certificate"];
    let minted = key.certificate(
        text(cert, "namespace"),
        text(cert, "issuedAt"),
        cert["expiresAt"].as_str(),
    );
    assert_eq!(minted, g.request.header("sigilum-agent-cert"));

    // The record's certificate as is, `issuedBy` included: extra fields are ignored.
    let with_issuer = URL_SAFE_NO_PAD.encode(cert.to_string());
    let mut request = g.request.clone();
    request.set_header("sigilum-agent-cert", &with_issuer);
    let headers = key
        .sign(&RequestToSign {
            method: &request.method,
            target_uri: &request.url,
            body: &request.body,
            namespace: "fixture-alice",
            subject: "fixture-alice",
            certificate: &with_issuer,
            created: g.now,
            nonce: "issuer-nonce",
        })
        .unwrap();
    request.headers = headers;
    assert_eq!(code(request.verify(g.now)), "ACCEPTED");
}

#[test]
fn rfc9421_vectors() {
    let g = golden();
    let file = load("sigilum-rfc9421-vectors.json");
    let created = file["fixed"]["created"].as_i64().unwrap();
    let nonce = text(&file["fixed"], "nonce");
    let key = fixture_key(&g);
    let cert = g.request.header("sigilum-agent-cert").to_owned();
    let mut signed = BTreeMap::new();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 4);
    for vector in vectors {
        let name = text(vector, "name");
        let method = text(vector, "method");
        let url = text(vector, "url");
        let body = vector["body"].as_str().unwrap_or("").as_bytes();
        assert_eq!(
            rfc9421::normalize_target_uri(url).unwrap(),
            text(vector, "expected_target_uri"),
            "{name}"
        );
        assert_eq!(
            rfc9421::method_component(method).unwrap(),
            text(vector, "expected_method_component"),
            "{name}"
        );
        let components: Vec<&str> = vector["expected_components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            rfc9421::expected_components(method, body),
            components,
            "{name}"
        );
        match vector["expected_content_digest"].as_str() {
            Some(digest) => assert_eq!(rfc9421::content_digest(body), digest, "{name}"),
            None => assert!(!components.contains(&"content-digest"), "{name}"),
        }

        let headers = key
            .sign(&RequestToSign {
                method,
                target_uri: url,
                body,
                namespace: "fixture-alice",
                subject: "fixture-alice",
                certificate: &cert,
                created,
                nonce,
            })
            .unwrap();
        let request = Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers,
            body: body.to_vec(),
        };
        let base = request.signature_base().unwrap();
        let lines: Vec<&str> = base.lines().collect();
        assert_eq!(lines.len(), components.len() + 1, "{name}");
        for (line, component) in lines.iter().zip(&components) {
            assert!(
                line.starts_with(&format!("\"{component}\": ")),
                "{name}: {line}"
            );
        }
        assert_eq!(
            lines[1],
            format!("\"@target-uri\": {}", text(vector, "expected_target_uri"))
        );
        assert_eq!(code(request.verify(created)), "ACCEPTED", "{name}");
        signed.insert(name.to_owned(), request);
    }

    let negatives = file["negative_vectors"].as_array().unwrap();
    assert_eq!(negatives.len(), 3);
    for negative in negatives {
        let name = text(negative, "name");
        let mut request = signed[text(negative, "source_vector")].clone();
        let value = text(negative, "value");
        match text(negative, "mutation") {
            "method" => request.method = value.to_owned(),
            "header" => request.set_header(text(negative, "field"), value),
            "body" => request.body = value.as_bytes().to_vec(),
            other => panic!("{name}: unknown mutation {other}"),
        }
        let error = request.verify(created).expect_err(name);
        let reason = error.to_string().to_lowercase();
        assert!(
            reason.contains(text(negative, "expected_reason_contains")),
            "{name}: {reason}"
        );
        let expected_code = match name {
            "tampered-method" => "SIGNATURE_INVALID",
            "tampered-namespace-header" => "SIGNATURE_CERT_INVALID",
            "tampered-body-content-digest" => "SIGNATURE_DIGEST_MISMATCH",
            other => panic!("negative vector {other:?} has no expected code: add one"),
        };
        assert_eq!(error.code(), expected_code, "{name}");
    }
}

/// Hostile variants of one string: a truncation, a deletion and replacements at every
/// position, and a few wholesale ones (empty, doubled, huge, unbalanced quotes, odd Unicode).
fn hostile_variants(value: &str) -> Vec<String> {
    const REPLACEMENTS: [&str; 7] = ["\"", " ", ":", "A", "é", "\u{0}", "\n"];
    let mut out = vec![
        String::new(),
        " ".to_owned(),
        format!("{value}{value}"),
        format!("{value},{value}"),
        format!("{value}\""),
        format!("\"{value}"),
        value.repeat(200),
        "A".repeat(1 << 20),
        "\u{fffd}\u{10ffff}\u{202e}".repeat(50),
        value.to_uppercase(),
        value.to_lowercase(),
    ];
    for (i, ch) in value.char_indices() {
        let after = &value[i + ch.len_utf8()..];
        out.push(value[..i].to_owned());
        out.push(format!("{}{after}", &value[..i]));
        for replacement in REPLACEMENTS {
            if replacement != ch.to_string() {
                out.push(format!("{}{replacement}{after}", &value[..i]));
            }
        }
    }
    out.retain(|v| v != value);
    out
}

#[test]
fn hostile_inputs_never_panic_and_never_verify() {
    let g = golden();
    let original = &g.request;
    assert_eq!(code(original.verify(g.now)), "ACCEPTED");
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    // `harmless`: the variant means the same as the original (a host in another case, say),
    // so it may verify; anything else must fail with a profile code.
    let mut tally =
        |result: Result<VerifiedRequest, SignatureError>, harmless: bool, what: &str| {
            let code = code(result);
            let allowed = CODES.contains(&code) || (harmless && code == "ACCEPTED");
            assert!(allowed, "{what}: {code}");
            *seen.entry(code).or_default() += 1;
        };

    for (index, (name, value)) in original.headers.iter().enumerate() {
        for variant in hostile_variants(value) {
            let mut request = original.clone();
            request.headers[index].1 = variant.clone();
            let harmless = variant.trim_matches([' ', '\t']) == value;
            tally(
                request.verify(g.now),
                harmless,
                &format!("{name}: {variant:?}"),
            );
        }
        let mut without = original.clone();
        without.headers.remove(index);
        tally(without.verify(g.now), false, &format!("without {name}"));
        let mut twice = original.clone();
        twice.headers.push((name.clone(), value.clone()));
        tally(twice.verify(g.now), false, &format!("{name} twice"));
    }
    for variant in hostile_variants(&original.url) {
        let mut request = original.clone();
        request.url = variant.clone();
        let harmless = rfc9421::normalize_target_uri(&variant).ok().as_deref()
            == Some("https://api.sigilum.local/v1/namespaces/alice/claims");
        tally(request.verify(g.now), harmless, &format!("url {variant:?}"));
    }
    for variant in hostile_variants(&original.method) {
        let mut request = original.clone();
        request.method = variant.clone();
        let harmless = variant.eq_ignore_ascii_case(&original.method);
        tally(
            request.verify(g.now),
            harmless,
            &format!("method {variant:?}"),
        );
    }
    for variant in hostile_variants(&String::from_utf8_lossy(&original.body)) {
        let mut request = original.clone();
        request.body = variant.into_bytes();
        tally(request.verify(g.now), false, "body");
    }
    let mut bytes = original.clone();
    bytes.body = (0..=255u8).collect();
    tally(bytes.verify(g.now), false, "binary body");
    for now in [i64::MIN, -1, 0, i64::MAX] {
        tally(original.verify(now), false, &format!("now {now}"));
    }

    // Every kind of failure was met along the way.
    for code in CODES {
        assert!(seen.contains_key(code), "no mutation gave {code}: {seen:?}");
    }
}

#[test]
fn harmless_variations_still_verify() {
    let g = golden();
    let mut request = g.request.clone();
    request.method = "post".to_owned();
    for (name, value) in &mut request.headers {
        *name = name.to_uppercase();
        *value = format!("  {value}\t");
    }
    request
        .headers
        .push(("X-Unrelated".to_owned(), "1".to_owned()));
    request.headers.reverse();
    assert_eq!(code(request.verify(g.now)), "ACCEPTED");
}
