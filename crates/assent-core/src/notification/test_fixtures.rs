//! What the tests of notification validation share: a clock, the smallest valid body, and
//! helpers to edit a body and to get the error it is refused with.

use serde_json::{Map, Value, json};

use super::{NotificationError, validate_notification};
use crate::Timestamp;

pub(super) const NOW: Timestamp = Timestamp::from_millis(1_795_860_000_000); // 2026-11-28T10:00:00Z

pub(super) fn body(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("test bodies are objects"),
    }
}

pub(super) fn minimal() -> Value {
    json!({
        "context": {"title": "Deploy?", "description": "Release 1.2 is ready."},
        "actions": [{"id": "go", "label": "Deploy", "response_type": "simple"}],
    })
}

/// `base` with the value at `pointer` set (the last step may be a new key).
pub(super) fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    match base.pointer_mut(parent).expect("the parent exists") {
        Value::Object(object) => {
            object.insert(key.to_owned(), value);
        }
        other => {
            *other
                .get_mut(key.parse::<usize>().expect("an index"))
                .expect("in range") = value
        }
    }
    base
}

pub(super) fn error_of(value: Value) -> NotificationError {
    validate_notification(&body(value), NOW).expect_err("refused")
}
