//! `JsonBody<T>`: a JSON request body with precise errors. Not JSON at all is 400
//! `INVALID_JSON`; a field of the wrong type is 400 `INVALID_PARAMETER` naming the field; over
//! the size limit is 413 `PAYLOAD_TOO_LARGE`. A Content-Type other than JSON (a form,
//! `text/plain`) is 415 `UNSUPPORTED_MEDIA_TYPE`: those are the bodies a page of another site
//! can post without asking, so refusing them keeps cross-site forms away from the JSON API.
//! A body without a Content-Type is read as JSON.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{ApiError, code};

#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The limit comes from the `PayloadConfig` the app registers.
        let media_type = check_media_type(req);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            media_type?;
            let bytes = bytes.await.map_err(read_error)?;
            parse(&bytes).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out entirely (`None` for an empty body); when there is one it
/// must be right, with the same errors as [`JsonBody`].
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T> OptionalJsonBody<T> {
    pub fn into_inner(self) -> Option<T> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media_type = check_media_type(req);
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            media_type?;
            let bytes = bytes.await.map_err(read_error)?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(None));
            }
            parse(&bytes).map(|value| Self(Some(value)))
        })
    }
}

/// 400 `MISSING_REQUIRED_FIELD` naming `field`.
pub(crate) fn missing(field: &str) -> ApiError {
    ApiError::bad_request(
        code::MISSING_REQUIRED_FIELD,
        format!("The field `{field}` is required."),
    )
    .with_detail("field", field)
}

/// 400 `INVALID_PARAMETER`: `field` is not of the `expected` JSON type.
pub(crate) fn wrong_type(field: &str, expected: &str) -> ApiError {
    ApiError::bad_request(
        code::INVALID_PARAMETER,
        format!("The field `{field}` must be {expected}."),
    )
    .with_detail("field", field)
}

/// A required string field of a JSON body: 400 `MISSING_REQUIRED_FIELD` when absent or blank,
/// `INVALID_PARAMETER` when not a string.
pub fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        None | Some(Value::Null) | Some(Value::String(_)) => Err(missing(field)),
        Some(_) => Err(wrong_type(field, "a string")),
    }
}

/// 415 `UNSUPPORTED_MEDIA_TYPE` unless the body is declared JSON (`application/json` or
/// `application/…+json`, any parameters) or not declared at all.
fn check_media_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(value) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    if value.to_str().is_ok_and(is_json_media_type) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code::UNSUPPORTED_MEDIA_TYPE,
        "The request body must be JSON, sent as `Content-Type: application/json`.",
    ))
}

fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

fn read_error(e: actix_web::Error) -> ApiError {
    if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::PAYLOAD_TOO_LARGE,
            "The request body is larger than the server accepts.",
        )
    } else {
        ApiError::bad_request(code::INVALID_JSON, "The request body could not be read.")
    }
}

/// Parses a JSON body, naming the offending field when a value has the wrong type.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            code::INVALID_JSON,
            "The request body is empty; expected a JSON object.",
        ));
    }
    // serde would also read a struct from a JSON array; the API speaks objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            code::INVALID_JSON,
            "The request body must be a JSON object.",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() && path != "." {
            ApiError::bad_request(
                code::INVALID_PARAMETER,
                format!(
                    "The field `{path}` has the wrong type: {}.",
                    data_error_text(&inner)
                ),
            )
            .with_detail("field", path)
        } else if inner.is_data() {
            ApiError::bad_request(
                code::INVALID_JSON,
                "The request body must be a JSON object.",
            )
        } else {
            ApiError::bad_request(
                code::INVALID_JSON,
                format!("The request body is not valid JSON ({inner})."),
            )
        }
    })?;
    deserializer.end().map_err(|_| {
        ApiError::bad_request(
            code::INVALID_JSON,
            "The request body has trailing characters after the JSON value.",
        )
    })?;
    if has_escaped_nul(bytes) {
        return Err(ApiError::bad_request(
            code::INVALID_PARAMETER,
            "Text may not contain the NUL character (\\u0000).",
        ));
    }
    Ok(value)
}

/// Whether a JSON text holds the escape `\u0000` (a raw NUL is not valid JSON at all). No
/// text this server stores may hold NUL: PostgreSQL refuses it.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if bytes.get(i + 1..i + 6) == Some(b"u0000") {
                return true;
            }
            // Skip the escaped character, so `\\u0000` (a backslash, then text) is not NUL.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// For `Option<Option<T>>` fields with `#[serde(default, deserialize_with = "present")]`:
/// absent is `None`, `null` is `Some(None)`, a value is `Some(Some(value))`.
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// serde's text without its " at line L column C" suffix: the field name says where.
fn data_error_text(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        name: Option<String>,
        #[serde(default)]
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    struct Nested {
        count: Option<u32>,
    }

    #[test]
    fn accepts_objects_and_ignores_unknown_fields() {
        let body: Body = parse(br#"{"name":"x","extra":[1,2]}"#).unwrap();
        assert_eq!(body.name.as_deref(), Some("x"));
        assert!(body.nested.is_none());
        let body: Body = parse(br#"{"nested": {"count": 3}}"#).unwrap();
        assert_eq!(body.nested.and_then(|n| n.count), Some(3));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = parse::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(e.code(), code::INVALID_PARAMETER);
        assert_eq!(
            e.to_body(crate::Dialect::Atp, "r")["details"]["field"],
            "name"
        );
        let e = parse::<Body>(br#"{"nested": {"count": "x"}}"#).unwrap_err();
        assert_eq!(
            e.to_body(crate::Dialect::Atp, "r")["details"]["field"],
            "nested.count"
        );
    }

    #[test]
    fn nul_characters_are_refused_but_escaped_backslashes_are_not() {
        let e = parse::<serde_json::Value>(br#"{"name": "a\u0000b"}"#).unwrap_err();
        assert_eq!(e.code(), code::INVALID_PARAMETER);
        assert!(parse::<serde_json::Value>(br#"{"name": "a\\u0000b"}"#).is_ok());
        assert!(parse::<serde_json::Value>(br#"{"name": "a\u0001b"}"#).is_ok());
    }

    #[test]
    fn only_json_media_types_are_json() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(json), "{json}");
        }
        for other in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "text/json+json",
            "",
        ] {
            assert!(!is_json_media_type(other), "{other}");
        }
    }

    #[test]
    fn non_json_and_non_objects_are_invalid_json() {
        for body in [
            &b"not json"[..],
            b"",
            b"   ",
            b"{\"name\":",
            b"[1,2]",
            b"\"s\"",
            b"{} x",
        ] {
            let e = parse::<Body>(body).unwrap_err();
            assert_eq!(
                e.code(),
                code::INVALID_JSON,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::Value;

        use super::*;

        /// Whether a NUL character stands in any key or string of `value`.
        fn holds_nul(value: &Value) -> bool {
            match value {
                Value::String(s) => s.contains('\0'),
                Value::Array(items) => items.iter().any(holds_nul),
                Value::Object(fields) => fields
                    .iter()
                    .any(|(key, value)| key.contains('\0') || holds_nul(value)),
                _ => false,
            }
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                "\\PC{0,8}|[\\\\u0\"]{0,8}|\\x{0}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::vec(("\\PC{0,6}", inner), 0..4)
                        .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn any_body_is_parsed_or_refused_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
                let _ = parse::<Value>(&bytes);
            }

            /// An object written as JSON reads back as itself, unless it holds a NUL, which is
            /// refused wherever it is. (Integers only: serde_json's default float parsing is
            /// not exact, and that is not this parser's to fix.)
            #[test]
            fn a_written_object_reads_back_unless_it_holds_nul(
                fields in prop::collection::vec(("\\PC{0,6}", json_value()), 0..4),
            ) {
                let object = Value::Object(fields.into_iter().collect());
                let text = object.to_string();
                match parse::<Value>(text.as_bytes()) {
                    Ok(read) => {
                        prop_assert!(!holds_nul(&object));
                        prop_assert_eq!(read, object);
                    }
                    Err(e) => {
                        prop_assert_eq!(e.code(), code::INVALID_PARAMETER);
                        prop_assert!(holds_nul(&object));
                    }
                }
            }

            /// The NUL check agrees with the text itself: a string holds NUL exactly when its
            /// JSON spelling has the escape, however many backslashes stand around it.
            #[test]
            fn the_nul_check_sees_exactly_the_strings_with_nul(text in "[\\\\u0\\x{0}a\"]{0,12}") {
                let written = serde_json::to_string(&text).unwrap();
                prop_assert_eq!(has_escaped_nul(written.as_bytes()), text.contains('\0'));
            }
        }
    }
}
