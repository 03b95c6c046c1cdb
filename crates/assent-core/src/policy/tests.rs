use std::net::IpAddr;

use serde_json::{Value, json};

use super::*;
use crate::Timestamp;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Sigilum's CIDR matcher cases (its test "IPv6 CIDR match and mismatch; exact IPv6 match;
/// IPv4-mapped IPv6 against an IPv4 CIDR; invalid input, a version mismatch or a /129 →
/// false"), plus the hex-form mapped address its string matcher let through.
#[test]
fn address_ranges_match_as_sigilum_does() {
    let cases: &[(&str, &str, bool)] = &[
        // range, address, matches
        ("2001:db8::/32", "2001:db8:1::7", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("2001:db8::5", "2001:db8::5", true),
        ("2001:db8::5", "2001:db8::6", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:a01:203", true),
        ("10.0.0.0/8", "::ffff:11.1.2.3", false),
        ("::ffff:10.0.0.0/104", "10.9.9.9", true),
        ("::ffff:192.168.1.1", "192.168.1.1", true),
        ("192.168.1.1", "::ffff:192.168.1.1", true),
        ("10.0.0.0/8", "2001:db8::1", false),
        ("2001:db8::/32", "10.1.2.3", false),
        ("203.0.113.0/24", "203.0.113.255", true),
        ("203.0.113.0/24", "203.0.114.0", false),
        ("203.0.113.9/24", "203.0.113.1", true),
        ("0.0.0.0/0", "198.51.100.1", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("::/0", "2001:db8::1", true),
    ];
    for (range, addr, expected) in cases {
        let parsed = AddressRange::parse(range).unwrap_or_else(|| panic!("{range} parses"));
        assert_eq!(parsed.contains(ip(addr)), *expected, "{addr} in {range}");
    }
    for invalid in [
        "not-an-ip",
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0/8",
        "10.0.0.0/",
        "",
        "10.0.0.0/-1",
        "::ffff:10.0.0.0/200",
    ] {
        assert_eq!(AddressRange::parse(invalid), None, "{invalid:?} is refused");
    }
    assert_eq!(
        AddressRange::parse("::ffff:10.0.0.0/104")
            .unwrap()
            .to_string(),
        "10.0.0.0/8"
    );
}

fn rules(value: Value) -> Result<Vec<Rule>, PolicyError> {
    let mut n = 0;
    parse_rules("rules", &value, || {
        n += 1;
        format!("pol_{n}")
    })
}

fn claim<'a>(service: &'a str, source: Option<&str>) -> Request<'a> {
    Request {
        kind: RequestKind::Claim,
        service,
        public_key: Some("ed25519:AAAA"),
        agent_key: Some("did:key:z6MkAAAA"),
        source: source.map(ip),
        action: None,
        flags: &[],
        risk: None,
    }
}

#[test]
fn the_first_matching_rule_decides() {
    let set = rules(json!([
        {"services": ["ci"], "sources": ["203.0.113.7"], "effect": "ask"},
        {"services": ["ci"], "effect": "auto_approve"},
        {"sources": ["10.0.0.0/8", "::ffff:172.16.0.0/108"], "effect": "auto_approve"},
        {"kind": "claim", "agent_keys": ["did:key:z6MkBAD"], "effect": "auto_reject"},
    ]))
    .unwrap();
    let decided = |r: Request<'_>| evaluate(&set, &r).map(|rule| (rule.id.clone(), rule.effect));
    let cases: &[(Request<'_>, Option<(&str, Effect)>)] = &[
        (
            claim("ci", Some("203.0.113.7")),
            Some(("pol_1", Effect::Ask)),
        ),
        (
            claim("ci", Some("203.0.113.8")),
            Some(("pol_2", Effect::AutoApprove)),
        ),
        (claim("ci", None), Some(("pol_2", Effect::AutoApprove))),
        (
            claim("web", Some("10.2.3.4")),
            Some(("pol_3", Effect::AutoApprove)),
        ),
        (
            claim("web", Some("::ffff:172.16.5.5")),
            Some(("pol_3", Effect::AutoApprove)),
        ),
        (
            claim("web", Some("172.16.5.5")),
            Some(("pol_3", Effect::AutoApprove)),
        ),
        (claim("web", Some("172.32.0.1")), None),
        // A rule on the source address never matches a request without one.
        (claim("web", None), None),
        (
            Request {
                agent_key: Some("did:key:z6MkBAD"),
                ..claim("web", None)
            },
            Some(("pol_4", Effect::AutoReject)),
        ),
        (
            Request {
                kind: RequestKind::Notification,
                agent_key: Some("did:key:z6MkBAD"),
                ..claim("web", None)
            },
            None,
        ),
    ];
    for (request, expected) in cases {
        let expected = expected.map(|(id, effect)| (id.to_owned(), effect));
        assert_eq!(decided(*request), expected, "{request:?}");
    }
}

#[test]
fn actions_flags_and_risk_must_all_hold() {
    let set = rules(json!([
        {"kind": "notification", "action": "deploy", "flags": ["irreversible"], "effect": "ask"},
        {"kind": "notification", "action": "deploy", "risks": ["low", "medium"], "effect": "auto_approve"},
        {"risks": ["high"], "effect": "auto_reject"},
    ]))
    .unwrap();
    let irreversible = vec!["irreversible".to_owned(), "urgent".to_owned()];
    let request = |action: Option<&'static str>, flags: &'static [String], risk| Request {
        kind: RequestKind::Notification,
        service: "ci",
        public_key: None,
        agent_key: None,
        source: None,
        action,
        flags,
        risk,
    };
    let leaked: &'static [String] = Box::leak(irreversible.into_boxed_slice());
    let effect = |r: Request<'_>| evaluate(&set, &r).map(|rule| rule.effect);
    assert_eq!(
        effect(request(Some("deploy"), leaked, Some(Risk::Low))),
        Some(Effect::Ask)
    );
    assert_eq!(
        effect(request(Some("deploy"), &[], Some(Risk::Low))),
        Some(Effect::AutoApprove)
    );
    assert_eq!(
        effect(request(Some("deploy"), &[], Some(Risk::High))),
        Some(Effect::AutoReject)
    );
    // No risk given: neither risk rule matches.
    assert_eq!(effect(request(Some("deploy"), &[], None)), None);
    assert_eq!(
        effect(request(Some("rollback"), &[], Some(Risk::Low))),
        None
    );
}

#[test]
fn bad_rules_are_refused_naming_the_field() {
    let cases: &[(Value, &str)] = &[
        (json!({}), "rules"),
        (json!([{"effect": "approve"}]), "rules[0].effect"),
        (json!([{"services": ["ci"]}]), "rules[0].effect"),
        (
            json!([{"service": "ci", "effect": "auto_approve"}]),
            "rules[0].service",
        ),
        (
            json!([{"services": ["ci"], "effect": "ask"}, {"sources": ["10.0.0.0/33"], "effect": "ask"}]),
            "rules[1].sources[0]",
        ),
        (
            json!([{"sources": ["999.1.1.1"], "effect": "ask"}]),
            "rules[0].sources[0]",
        ),
        (
            json!([{"sources": "10.0.0.0/8", "effect": "ask"}]),
            "rules[0].sources",
        ),
        (
            json!([{"services": ["Not A Slug!"], "effect": "ask"}]),
            "rules[0].services[0]",
        ),
        (
            json!([{"agent_keys": ["rsa:xyz"], "effect": "ask"}]),
            "rules[0].agent_keys[0]",
        ),
        (
            json!([{"kind": "claims", "effect": "ask"}]),
            "rules[0].kind",
        ),
        (
            json!([{"risks": ["extreme"], "effect": "ask"}]),
            "rules[0].risks[0]",
        ),
        // Contradictions.
        (json!([{"effect": "auto_approve"}]), "rules[0]"),
        (
            json!([{"kind": "claim", "action": "deploy", "effect": "auto_reject"}]),
            "rules[0].action",
        ),
        (
            json!([{"kind": "notification", "services": ["ci"], "effect": "auto_approve"}]),
            "rules[0].action",
        ),
        (
            json!([
                {"services": ["ci"], "sources": ["10.0.0.0/8"], "effect": "auto_approve"},
                {"sources": ["10.0.0.1/8"], "services": ["ci", "ci"], "effect": "auto_reject"},
            ]),
            "rules[1]",
        ),
        (
            json!([{"id": "a", "services": ["ci"], "effect": "ask"}, {"id": "a", "services": ["web"], "effect": "ask"}]),
            "rules[1].id",
        ),
    ];
    for (value, field) in cases {
        let refused = rules(value.clone()).expect_err(&value.to_string());
        assert_eq!(refused.field, *field, "{value}: {}", refused.reason);
    }
    let contradiction = rules(json!([
        {"services": ["ci"], "effect": "auto_approve"},
        {"services": ["ci"], "effect": "auto_reject"},
    ]))
    .unwrap_err();
    assert!(
        contradiction.reason.contains("contradicts rules[0]"),
        "{contradiction}"
    );
}

#[test]
fn rules_read_back_as_written() {
    let set = rules(json!([{
        "id": "keep-me", "kind": "claim", "services": ["ci"], "sources": ["::ffff:10.0.0.0/104"],
        "effect": "auto_approve", "description": "CI runners"
    }]))
    .unwrap();
    let shown = set[0].to_json();
    assert_eq!(shown["id"], "keep-me");
    assert_eq!(shown["sources"], json!(["10.0.0.0/8"]));
    let again = rules(Value::Array(vec![shown])).unwrap();
    assert_eq!(again, set);
}

fn grant(binding: Binding, uses: GrantUse, expires_at: Option<Timestamp>) -> Grant {
    Grant {
        id: "gr_1".into(),
        namespace: "lin".into(),
        service_id: "svc_1".into(),
        service_slug: "ci".into(),
        action: "deploy".into(),
        binding,
        uses,
        expires_at,
        used_at: None,
        revoked_at: None,
        source_id: None,
        matched: 0,
        created_at: Timestamp::from_millis(0),
    }
}

#[test]
fn a_grant_covers_its_exact_arguments_only() {
    let now = Timestamp::from_millis(1_000_000);
    let args = json!({"env": "staging", "replicas": 2});
    let exact = grant(
        Binding::Digest(crate::canonical::digest(&args)),
        GrantUse::Always,
        None,
    );
    // Same content, other key order and number spelling: covered.
    let reordered: Value = serde_json::from_str(r#"{"replicas":2.0,"env":"staging"}"#).unwrap();
    assert!(exact.covers("svc_1", "deploy", &reordered, now));
    for (service, action, other) in [
        (
            "svc_1",
            "deploy",
            json!({"env": "production", "replicas": 2}),
        ),
        (
            "svc_1",
            "deploy",
            json!({"env": "staging", "replicas": 2, "force": true}),
        ),
        ("svc_1", "deploy", json!({"env": "staging"})),
        ("svc_1", "rollback", args.clone()),
        ("svc_2", "deploy", args.clone()),
    ] {
        assert!(
            !exact.covers(service, action, &other, now),
            "{service} {action} {other}"
        );
    }
}

#[test]
fn a_pattern_grant_covers_what_its_pattern_says() {
    let now = Timestamp::from_millis(1_000_000);
    let pattern = parse_pattern("pattern", &json!({"env": "staging-*", "replicas": 2})).unwrap();
    let by_pattern = grant(Binding::Pattern(pattern), GrantUse::Always, None);
    assert!(by_pattern.covers(
        "svc_1",
        "deploy",
        &json!({"env": "staging-eu", "replicas": 2, "x": 1}),
        now
    ));
    assert!(!by_pattern.covers(
        "svc_1",
        "deploy",
        &json!({"env": "production", "replicas": 2}),
        now
    ));
    assert!(!by_pattern.covers(
        "svc_1",
        "deploy",
        &json!({"env": "staging-eu", "replicas": 3}),
        now
    ));
    assert!(!by_pattern.covers("svc_1", "deploy", &json!({"env": "staging-eu"}), now));
    assert!(!by_pattern.covers("svc_1", "deploy", &json!(["staging-eu"]), now));
    assert!(parse_pattern("pattern", &json!({})).is_err());
    assert!(parse_pattern("pattern", &json!("env")).is_err());
}

#[test]
fn a_grant_stops_when_revoked_expired_or_used() {
    let args = json!({});
    let at = Timestamp::from_millis;
    let timed = grant(
        Binding::Digest(crate::canonical::digest(&args)),
        GrantUse::Timed,
        Some(at(2_000)),
    );
    assert!(timed.covers("svc_1", "deploy", &args, at(1_999)));
    assert!(!timed.covers("svc_1", "deploy", &args, at(2_000)));
    assert_eq!(timed.state(at(2_000)), "expired");
    let revoked = Grant {
        revoked_at: Some(at(1)),
        ..timed.clone()
    };
    assert!(!revoked.covers("svc_1", "deploy", &args, at(1_000)));
    assert_eq!(revoked.state(at(1_000)), "revoked");
    let used = Grant {
        used_at: Some(at(1)),
        uses: GrantUse::Once,
        expires_at: None,
        ..timed
    };
    assert!(!used.covers("svc_1", "deploy", &args, at(1_000)));
    assert_eq!(used.state(at(1_000)), "used");
}
