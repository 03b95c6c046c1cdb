//! Property tests of notification validation, the parser every service's body meets: any
//! JSON at any field never panics, and what is accepted, written back as a body, is accepted
//! again as the same notification. Answers to its actions never panic either.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::test_fixtures::{NOW, body, minimal};
use super::{NewNotification, validate_notification};

/// Where a field is replaced: every field the validator reads, and a few it does not.
const POINTERS: &[&str] = &[
    "/id",
    "/version",
    "/timestamp",
    "/deadline",
    "/context",
    "/context/title",
    "/context/description",
    "/context/project",
    "/context/metadata",
    "/context/attachments",
    "/actions",
    "/actions/0",
    "/actions/0/id",
    "/actions/0/label",
    "/actions/0/response_type",
    "/actions/0/flags",
    "/actions/0/options",
    "/actions/0/constraints",
    "/unknown",
];

/// Text that the validator treats specially, and anything else.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "simple",
            "binary",
            "choice",
            "multi_choice",
            "text",
            "number",
            "1.0",
            "123e4567-E89B-12d3-a456-426614174000",
            "2026-11-28T09:00:00Z",
            "2026-11-29T10:00:00.5+01:00",
            "  ",
            "\u{0}",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Sets the field at `pointer`; nothing when an earlier edit took its parent away.
fn set(value: &mut Value, pointer: &str, field: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    match value.pointer_mut(parent) {
        Some(Value::Object(object)) => {
            object.insert(key.to_owned(), field);
        }
        Some(Value::Array(array)) => {
            if let Some(slot) = key.parse::<usize>().ok().and_then(|i| array.get_mut(i)) {
                *slot = field;
            }
        }
        _ => {}
    }
}

/// A notification written back as the body a service would send.
fn as_body(n: &NewNotification) -> Map<String, Value> {
    let mut written = json!({
        "context": n.context,
        "actions": n.actions,
        "timestamp": n.timestamp,
    });
    if let Some(id) = &n.id {
        written["id"] = json!(id);
    }
    if let Some(deadline) = n.deadline {
        written["deadline"] = json!(deadline);
    }
    body(written)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_field_never_panics_and_what_is_accepted_round_trips(
        edits in prop::collection::vec((prop::sample::select(POINTERS), json_value()), 1..3),
        answers in prop::collection::vec(json_value(), 0..3),
    ) {
        let mut value = minimal();
        for (pointer, field) in edits {
            set(&mut value, pointer, field);
        }
        let Value::Object(sent) = value else { unreachable!("the body stays an object") };
        if let Ok(accepted) = validate_notification(&sent, NOW) {
            let again = validate_notification(&as_body(&accepted), NOW);
            prop_assert_eq!(again.as_ref(), Ok(&accepted));
            for action in &accepted.actions {
                for answer in &answers {
                    let _ = action.check_response(answer);
                }
            }
        }
    }
}
