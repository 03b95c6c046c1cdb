//! Reading one field of a JSON object as validation needs it: present or not, trimmed text,
//! a length limit, an RFC 3339 time, a UUID; each problem reported against the field's path.

use serde_json::{Map, Value};

use super::error::{NotificationError, constraint, invalid};
use crate::Timestamp;

/// A present, non-null value of `object[key]`.
pub(super) fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A required, non-blank string, trimmed; `Missing` when absent, null or blank.
pub(super) fn required_text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, NotificationError> {
    match get(object, key) {
        None => Err(NotificationError::Missing {
            field: path.to_owned(),
        }),
        Some(Value::String(s)) if s.trim().is_empty() => Err(NotificationError::Missing {
            field: path.to_owned(),
        }),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(_) => Err(invalid(path, "must be a string")),
    }
}

pub(super) fn optional_text(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, NotificationError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(_) => Err(invalid(path, "must be a string")),
    }
}

pub(super) fn max_chars(path: &str, text: &str, max: usize) -> Result<(), NotificationError> {
    if text.chars().count() > max {
        return Err(constraint(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

pub(super) fn time_field(
    object: &Map<String, Value>,
    key: &str,
) -> Result<Option<Timestamp>, NotificationError> {
    match get(object, key) {
        None => Ok(None),
        Some(Value::String(s)) => Timestamp::parse_rfc3339(s.trim()).map(Some).ok_or_else(|| {
            invalid(
                key,
                "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z",
            )
        }),
        Some(_) => Err(invalid(key, "must be an RFC 3339 date-time string")),
    }
}

/// `8-4-4-4-12` hexadecimal digits, any version; returned lowercased.
pub fn parse_uuid(text: &str) -> Option<String> {
    let groups: Vec<&str> = text.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_checked_by_shape() {
        assert_eq!(
            parse_uuid("550E8400-e29b-41d4-a716-446655440000").as_deref(),
            Some("550e8400-e29b-41d4-a716-446655440000")
        );
        for bad in [
            "",
            "550e8400e29b41d4a716446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }
}
