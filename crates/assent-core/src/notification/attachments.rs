//! The context's `attachments`: each one a typed file given by exactly one of an http(s)
//! `uri` and inline base64 `data`, at most `MAX_ATTACHMENTS` of them.

use serde_json::{Map, Value};

use super::MAX_ATTACHMENTS;
use super::error::{NotificationError, constraint, invalid};
use super::fields::{optional_text, required_text};

pub(super) fn validate_attachments(value: &Value) -> Result<Value, NotificationError> {
    let Value::Array(items) = value else {
        return Err(invalid("context.attachments", "must be an array"));
    };
    if items.len() > MAX_ATTACHMENTS {
        return Err(constraint(
            "context.attachments",
            format!("may hold at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let mut checked = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("context.attachments[{i}]");
        let Value::Object(item) = item else {
            return Err(invalid(path, "must be an object"));
        };
        let mut out = Map::new();
        out.insert(
            "type".into(),
            required_text(item, "type", &format!("{path}.type"))?.into(),
        );
        if let Some(description) =
            optional_text(item, "description", &format!("{path}.description"))?
        {
            out.insert("description".into(), description.into());
        }
        let uri = optional_text(item, "uri", &format!("{path}.uri"))?;
        let data = optional_text(item, "data", &format!("{path}.data"))?;
        match (uri, data) {
            (Some(uri), None) => {
                let parsed = url::Url::parse(&uri)
                    .map_err(|_| invalid(format!("{path}.uri"), "must be an absolute URL"))?;
                if !matches!(parsed.scheme(), "https" | "http") {
                    return Err(invalid(
                        format!("{path}.uri"),
                        "must be an http or https URL",
                    ));
                }
                out.insert("uri".into(), uri.into());
            }
            (None, Some(data)) => {
                let base64 = data.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
                });
                if !base64 {
                    return Err(invalid(format!("{path}.data"), "must be base64"));
                }
                out.insert("data".into(), data.into());
            }
            _ => {
                return Err(invalid(path, "must have exactly one of `uri` and `data`"));
            }
        }
        checked.push(Value::Object(out));
    }
    Ok(Value::Array(checked))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::notification::test_fixtures::*;

    #[test]
    fn attachments_hold_exactly_one_of_uri_and_data() {
        for attachment in [
            json!({"type": "text/plain"}),
            json!({"type": "text/plain", "uri": "https://a.example", "data": "aGk="}),
            json!({"uri": "https://a.example"}),
            json!({"type": "text/plain", "uri": "not a url"}),
            json!({"type": "text/plain", "uri": "file:///etc/passwd"}),
            json!({"type": "text/plain", "data": "not base64!"}),
        ] {
            let e = error_of(with(minimal(), "/context/attachments", json!([attachment])));
            assert!(e.field().starts_with("context.attachments[0]"), "{e:?}");
        }
    }
}
