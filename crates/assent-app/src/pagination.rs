//! Cursor pagination shared by the owner's lists: `limit` (1 to 200, default 50) and an opaque
//! `cursor` taken from the previous page's `next_cursor`.

use assent_core::FieldError;

use crate::Error;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// The page size asked for, checked.
pub fn limit(raw: Option<&str>) -> Result<i64, Error> {
    match raw {
        None => Ok(DEFAULT_LIMIT),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::validation(&FieldError::invalid(
                    "limit",
                    "must be a number from 1 to 200",
                ))
            }),
    }
}

/// A cursor this server did not issue.
pub fn bad_cursor() -> Error {
    Error::validation(&FieldError::invalid(
        "cursor",
        "is not a cursor this server issued",
    ))
}

/// Cuts rows fetched with `limit + 1` down to `limit`; the extra row only tells whether a next
/// page exists. Returns the next page's cursor, made from the page's last row.
pub fn finish<T>(
    rows: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more.then(|| rows.last().map(cursor_of)).flatten()
}

/// One page of rows and the cursor of the next page (`None` on the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked() {
        assert_eq!(limit(None).ok(), Some(50));
        assert_eq!(limit(Some("200")).ok(), Some(200));
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_extra_row_makes_a_cursor() {
        let mut rows = vec![1, 2, 3];
        assert_eq!(
            finish(&mut rows, 2, ToString::to_string),
            Some("2".to_owned())
        );
        assert_eq!(rows, [1, 2]);
        let mut rows = vec![1, 2];
        assert_eq!(finish(&mut rows, 2, ToString::to_string), None);
    }
}
