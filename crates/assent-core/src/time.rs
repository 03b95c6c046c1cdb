//! Instants as whole milliseconds since the Unix epoch: portable across both databases and
//! rendered on the wire as RFC 3339 UTC with milliseconds (`2026-11-22T10:00:00.000Z`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The moment `duration` after this one (saturating).
    pub fn after(self, duration: std::time::Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// Reads an RFC 3339 date-time with an offset (`2026-11-22T10:00:00Z`,
    /// `2026-11-22T11:00:00.5+01:00`); precision past milliseconds is dropped.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Self)
    }

    /// This instant moved by `millis` (saturating).
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// RFC 3339 in UTC with exactly three fractional digits.
    pub fn to_rfc3339(self) -> String {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(&format).ok())
            // Only instants outside years -9999..=9999 fail; none is ever stored.
            .unwrap_or_else(|| format!("@{}ms", self.0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

/// A whole number and a unit: `500ms`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number
        .checked_mul(millis)
        .map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_a_number_and_a_unit() {
        use std::time::Duration;
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 90s "), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604_800)));
        for bad in ["", "7", "d", "7w", "-1h", "1.5h", "s5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn renders_rfc3339_utc_with_milliseconds() {
        assert_eq!(
            Timestamp::from_millis(1_795_860_000_123).to_rfc3339(),
            "2026-11-28T10:00:00.123Z"
        );
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T10:00:00.123Z"),
            Some(Timestamp::from_millis(1_795_860_000_123))
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-28T11:00:00.123+01:00"),
            Some(Timestamp::from_millis(1_795_860_000_123))
        );
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T10:00:00",
            "yesterday",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn serializes_as_a_string() {
        let json = serde_json::to_string(&Timestamp::from_millis(5)).unwrap();
        assert_eq!(json, "\"1970-01-01T00:00:00.005Z\"");
    }

    #[test]
    fn now_is_after_2025() {
        assert!(Timestamp::now().as_millis() > 1_735_689_600_000);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]

            #[test]
            fn any_text_is_a_duration_or_none_without_panic(text in "\\PC{0,12}|[0-9]{0,25}(ms|s|m|h|d)?") {
                let _ = parse_duration(&text);
            }

            /// A number and a unit read back as that many units, unless it overflows.
            #[test]
            fn a_written_duration_reads_back(
                number in any::<u64>(),
                (unit, millis) in prop::sample::select(vec![("ms", 1_u64), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]),
            ) {
                let expected = number.checked_mul(millis).map(std::time::Duration::from_millis);
                prop_assert_eq!(parse_duration(&format!("{number}{unit}")), expected);
            }

            /// Every instant of years 1 to 9999 renders as RFC 3339 and reads back exactly.
            #[test]
            fn an_instant_renders_and_reads_back(millis in -62_135_596_800_000_i64..=253_402_300_799_999) {
                let instant = Timestamp::from_millis(millis);
                prop_assert_eq!(Timestamp::parse_rfc3339(&instant.to_rfc3339()), Some(instant));
            }

            #[test]
            fn any_text_is_an_instant_or_none_without_panic(text in "\\PC{0,40}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{0,14}(Z|[+-][0-9]{2}:[0-9]{2})") {
                let _ = Timestamp::parse_rfc3339(&text);
            }
        }
    }
}
