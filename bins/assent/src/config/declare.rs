//! How a setting is declared: the `settings!` macro that the table in `settings.rs` invokes
//! once, the [`Setting`] descriptor it produces for every row, the [`Raw`] types a value may
//! be read as, and [`Given`], a value together with its descriptor, which `resolve.rs` reads.
//!
//! Why a `macro_rules!` table and not a static list of descriptors beside hand-written
//! structs: clap needs a typed field per setting, the existing code and tests construct
//! `ServeArgs { bind: Some(..), ..Default::default() }`, and a struct plus a list would be two
//! places to keep in step. One row of the macro is the field, its type and its descriptor at
//! once; everything else (the clap argument, the environment variable, the TOML key, the
//! minimum checks, `--help` and `docs/configuration.md`) is derived from that row. The
//! descriptor is plain data (`&'static str`s), so the reference generator and the tests can
//! walk every setting without knowing its type.
//!
//! Defaults and minimums are written as a user would write them (`"30s"`, `"1"`) and parsed
//! by the same code as a given value, so a default is valid input by construction and the
//! reference shows exactly what the code uses. The library crates keep their own `Default`s
//! for their tests; `config::tests` fails if the two ever differ.
//!
//! Durations and rates are read as text ([`Duration`], [`Rate`]) and parsed only when
//! resolved, so that a bad one is reported by name with an example (exit code 1), not as a
//! usage error of clap's (exit code 2).

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::time;

use anyhow::anyhow;
use assent_core::time::parse_duration;
use clap::ValueEnum;
use clap::builder::ValueRange;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Every environment variable starts with this.
pub const ENV_PREFIX: &str = "ASSENT_";

/// The appendix of the variable that names a file holding a secret setting's value.
pub const FILE_SUFFIX: &str = "_FILE";

/// One setting, as declared in the table. The names are derived from the row's field name:
/// the TOML key is the field name, the flag is `--` and the key in kebab case, the
/// environment variable is [`ENV_PREFIX`] and the key in capitals.
#[derive(Debug)]
pub struct Setting {
    /// The field name: the TOML key, and the flag in kebab case.
    pub key: &'static str,
    /// `ASSENT_` and the key in capitals.
    pub env: &'static str,
    /// `ASSENT_`, the key in capitals and `_FILE`: read only for a `secret` setting.
    pub env_file: &'static str,
    /// The row's doc comment, line by line (see [`Setting::help`]).
    pub doc: &'static str,
    /// The placeholder of the value in `--help` (`DURATION`, `N`, `URL`).
    pub value_name: &'static str,
    /// The value used when the setting is not given, written as a user would write it.
    pub default: Option<&'static str>,
    /// What happens when the setting is not given and it has no `default` (for the docs).
    pub unset: &'static str,
    /// The smallest accepted value, in the setting's own syntax (`1`, `100ms`).
    pub at_least: Option<&'static str>,
    /// The fewest characters a text value may have.
    pub min_chars: Option<usize>,
    /// A credential: its environment value is never shown, and it may be read from the file
    /// that `env_file` names.
    pub secret: bool,
    /// The values accepted, when they are a short list (`text`, `json`).
    pub choices: fn() -> Vec<String>,
    /// A switch: the flag alone means `true`.
    pub switch: bool,
}

impl Setting {
    /// The fields a row does not have to write, for a value of type `T`.
    pub const fn of<T: Raw>() -> Self {
        Self {
            key: "",
            env: "",
            env_file: "",
            doc: "",
            value_name: T::VALUE_NAME,
            default: None,
            unset: "none",
            at_least: None,
            min_chars: None,
            secret: false,
            choices: T::choices,
            switch: T::SWITCH,
        }
    }

    /// `--key-in-kebab-case`.
    pub fn flag(&self) -> String {
        format!("--{}", self.key.replace('_', "-"))
    }

    /// The flag as it is used: `--bind <ADDR>`, or `--switch[=<BOOL>]`.
    pub fn usage(&self) -> String {
        match self.switch {
            true => format!("{}[=<{}>]", self.flag(), self.value_name),
            false => format!("{} <{}>", self.flag(), self.value_name),
        }
    }

    /// The doc comment as one line of text.
    pub fn help(&self) -> String {
        self.doc.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The help clap prints: the text, then the default, the minimum and the file variable.
    pub fn clap_help(&self) -> String {
        let mut help = self.help();
        help.push_str(&format!(
            " [default: {}]",
            self.default.unwrap_or(self.unset)
        ));
        if let Some(min) = self.at_least {
            help.push_str(&format!(" [at least: {min}]"));
        }
        if let Some(min) = self.min_chars {
            help.push_str(&format!(" [at least: {min} characters]"));
        }
        if self.secret {
            help.push_str(&format!(" [or from the file named by {}]", self.env_file));
        }
        help
    }

    /// `NAME: why`, the shape of every configuration error.
    pub fn error(&self, why: impl Display) -> anyhow::Error {
        anyhow!("{}: {why}", self.env)
    }

    /// The smallest duration, for a duration setting.
    fn min_duration(&self) -> anyhow::Result<time::Duration> {
        match self.at_least {
            None => Ok(time::Duration::ZERO),
            Some(min) => parse_duration(min)
                .ok_or_else(|| self.error(format!("the built-in minimum `{min}` is no duration"))),
        }
    }
}

/// The upper-case bytes of [`ENV_PREFIX`], `key` and `suffix`, at compile time, so that every
/// environment variable name is a `&'static str` derived from its field name.
pub const fn env_name_bytes<const N: usize>(key: &str, suffix: &str) -> [u8; N] {
    let parts = [ENV_PREFIX.as_bytes(), key.as_bytes(), suffix.as_bytes()];
    let mut out = [0u8; N];
    let mut at = 0;
    let mut part = 0;
    while part < parts.len() {
        let bytes = parts[part];
        let mut i = 0;
        while i < bytes.len() {
            out[at] = bytes[i].to_ascii_uppercase();
            at += 1;
            i += 1;
        }
        part += 1;
    }
    assert!(at == N, "the length of an environment variable name");
    out
}

/// `ASSENT_` and the field name in capitals (and `suffix`), as a `&'static str`.
macro_rules! env_name {
    ($key:ident, $suffix:expr) => {{
        const KEY: &str = stringify!($key);
        const BYTES: [u8; $crate::config::declare::ENV_PREFIX.len() + KEY.len() + $suffix.len()] =
            $crate::config::declare::env_name_bytes(KEY, $suffix);
        match std::str::from_utf8(&BYTES) {
            Ok(name) => name,
            Err(_) => panic!("a field name is ASCII"),
        }
    }};
}
pub(crate) use env_name;

/// A type a setting's value is read as: what clap, serde and a built-in default parse into.
pub trait Raw: Clone + DeserializeOwned {
    /// The placeholder of the value in `--help`, unless the row names another.
    const VALUE_NAME: &'static str = "VALUE";

    /// Reads a built-in default (or a secret file's text) as the command line would.
    fn parse(text: &str) -> Option<Self>;

    /// The values accepted, when they are a short list.
    fn choices() -> Vec<String> {
        Vec::new()
    }

    /// A switch may be given as a bare flag, which means `true`.
    const SWITCH: bool = false;

    /// How many values the flag takes: one, or none or one for a switch.
    fn num_args() -> ValueRange {
        match Self::SWITCH {
            true => ValueRange::new(0..=1),
            false => ValueRange::SINGLE,
        }
    }

    /// The value of a bare switch.
    fn missing_value() -> Option<&'static str> {
        Self::SWITCH.then_some("true")
    }

    /// Whether this value is below `min` (written in the same syntax). Only numbers compare;
    /// the minimum of a duration, which is read as text, is checked by [`Given::duration`].
    fn is_below(&self, min: &str) -> Option<bool> {
        let _ = min;
        None
    }
}

impl Raw for String {
    fn parse(text: &str) -> Option<Self> {
        Some(text.to_owned())
    }
}

impl Raw for PathBuf {
    fn parse(text: &str) -> Option<Self> {
        Some(Self::from(text))
    }
}

impl Raw for bool {
    const VALUE_NAME: &'static str = "BOOL";
    const SWITCH: bool = true;

    fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    fn choices() -> Vec<String> {
        vec!["true".to_owned(), "false".to_owned()]
    }
}

/// Declares a kind of text value: a `String` that its `Given` method reads (not before, so
/// that the error names the setting), with its own placeholder in `--help`.
macro_rules! text_kind {
    ($(#[doc = $doc:literal])* $kind:ident, $value_name:literal) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        #[serde(transparent)]
        pub struct $kind(pub String);

        impl From<&str> for $kind {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl From<String> for $kind {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl Raw for $kind {
            const VALUE_NAME: &'static str = $value_name;

            fn parse(text: &str) -> Option<Self> {
                Some(text.into())
            }
        }
    };
}

text_kind!(
    /// A duration as written: a whole number and a unit, `500ms`, `10s`, `5m`, `2h`, `7d`.
    Duration,
    "DURATION"
);
text_kind!(
    /// A rate as written: `N/DURATION`, `100/1m`.
    Rate,
    "N/DURATION"
);

fn is_below<T: FromStr + PartialOrd>(value: &T, min: &str) -> Option<bool> {
    min.parse::<T>().ok().map(|min| *value < min)
}

macro_rules! raw_numbers {
    ($($number:ty),*) => {$(
        impl Raw for $number {
            const VALUE_NAME: &'static str = "N";

            fn parse(text: &str) -> Option<Self> {
                text.parse().ok()
            }

            fn is_below(&self, min: &str) -> Option<bool> {
                is_below(self, min)
            }
        }
    )*};
}
raw_numbers!(u32, usize);

/// `Raw` for a `clap::ValueEnum` that serde reads in lower case.
macro_rules! raw_value_enum {
    ($($enum:ty),*) => {$(
        impl $crate::config::declare::Raw for $enum {
            fn parse(text: &str) -> Option<Self> {
                <Self as clap::ValueEnum>::from_str(text, false).ok()
            }

            fn choices() -> Vec<String> {
                $crate::config::declare::value_enum_names::<Self>()
            }
        }
    )*};
}
pub(crate) use raw_value_enum;

/// The names clap accepts for a `ValueEnum`.
pub fn value_enum_names<T: ValueEnum>() -> Vec<String> {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|v| v.get_name().to_owned())
        .collect()
}

/// A setting's value as given (by a flag, the environment or the file), with its descriptor.
#[derive(Debug)]
pub struct Given<'a, T> {
    pub setting: &'static Setting,
    value: Option<&'a T>,
}

impl<'a, T: Raw> Given<'a, T> {
    pub fn new(setting: &'static Setting, value: Option<&'a T>) -> Self {
        Self { setting, value }
    }

    /// The value given, else the default, else `None`; a number below the minimum is an error.
    pub fn get(&self) -> anyhow::Result<Option<T>> {
        let setting = self.setting;
        let value = match (self.value, setting.default) {
            (Some(value), _) => Some(value.clone()),
            (None, Some(default)) => Some(T::parse(default).ok_or_else(|| {
                setting.error(format!("the built-in default `{default}` is not valid"))
            })?),
            (None, None) => None,
        };
        if let (Some(value), Some(min)) = (&value, setting.at_least)
            && value.is_below(min) == Some(true)
        {
            return Err(anyhow!("{} must be at least {min}", setting.env));
        }
        Ok(value)
    }

    /// The value given or the default: for settings that have one.
    pub fn value(&self) -> anyhow::Result<T> {
        self.get()?
            .ok_or_else(|| self.setting.error("has no built-in default"))
    }

    /// The value given or the default, read by `read`.
    pub fn read<U>(
        &self,
        read: impl FnOnce(&'static Setting, T) -> anyhow::Result<U>,
    ) -> anyhow::Result<U> {
        read(self.setting, self.value()?)
    }

    /// The value given or the default, read by `read`; `None` when neither.
    pub fn read_optional<U>(
        &self,
        read: impl FnOnce(&'static Setting, T) -> anyhow::Result<U>,
    ) -> anyhow::Result<Option<U>> {
        self.get()?
            .map(|value| read(self.setting, value))
            .transpose()
    }
}

impl Given<'_, Duration> {
    /// A duration of at least the setting's minimum.
    pub fn duration(&self) -> anyhow::Result<time::Duration> {
        let min = self.setting.min_duration()?;
        let Duration(raw) = self.value()?;
        parse_duration(&raw).filter(|d| *d >= min).ok_or_else(|| {
            self.setting.error(format!(
                "`{raw}` is not a duration of at least {min:?}, like 500ms, 10s or 5m"
            ))
        })
    }

    /// A duration of at least the setting's minimum, with the error `why` names.
    pub fn duration_or(&self, why: impl Display) -> anyhow::Result<time::Duration> {
        let min = self.setting.min_duration()?;
        let Duration(raw) = self.value()?;
        parse_duration(&raw)
            .filter(|d| *d >= min)
            .ok_or_else(|| self.setting.error(format!("`{raw}` {why}")))
    }
}

impl Given<'_, Duration> {
    /// A retention period: a duration, or `forever` (`None`).
    pub fn retention(&self) -> anyhow::Result<Option<time::Duration>> {
        let Duration(raw) = self.value()?;
        if raw.trim().eq_ignore_ascii_case("forever") {
            return Ok(None);
        }
        parse_duration(&raw).map(Some).ok_or_else(|| {
            self.setting
                .error(format!("`{raw}` is not a duration like 30d, or `forever`"))
        })
    }
}

impl Given<'_, Rate> {
    /// A rate, `N/DURATION` (`100/1m`).
    pub fn rate(&self) -> anyhow::Result<assent_http::rate_limit::Rate> {
        let Rate(raw) = self.value()?;
        assent_http::rate_limit::Rate::parse(&raw).ok_or_else(|| {
            self.setting
                .error(format!("`{raw}` is not a rate like 100/1m or 10/1h"))
        })
    }
}

/// What every group of settings offers to the code that treats them all alike.
pub trait Group: Sized {
    /// Every setting of the group, in the order of the table.
    fn settings() -> &'static [&'static Setting];

    /// Whether the setting of `key` has a value.
    fn is_set(&self, key: &str) -> bool;

    /// Sets the setting of `key` from text, read as a built-in default is; `false` when the
    /// text is no value of its type or the key no setting of the group.
    fn set_text(&mut self, key: &str, text: &str) -> bool;
}

/// Declares groups of settings: for each group a clap `Args` struct with one optional field
/// per row, and for each row a [`Setting`] named like its field in the `setting` module.
/// A row is its doc comment (the help text), its field name and type, and the descriptor's
/// other fields in braces (see [`Setting`]).
macro_rules! settings {
    ($(
        $(#[doc = $group_doc:literal])*
        #[group(title = $title:literal, global = $global:literal)]
        pub struct $group:ident {
            $(
                $(#[doc = $doc:literal])*
                $name:ident: $ty:ty { $($field:ident: $value:expr),* $(,)? }
            ),* $(,)?
        }
    )*) => {
        /// One descriptor per setting, named like its field.
        #[expect(non_upper_case_globals, reason = "each descriptor is named like its field")]
        pub mod setting {
            use super::*;
            use $crate::config::declare::{FILE_SUFFIX, Setting, env_name};
            $($(
                pub const $name: Setting = Setting {
                    key: stringify!($name),
                    env: env_name!($name, ""),
                    env_file: env_name!($name, FILE_SUFFIX),
                    doc: concat!($($doc, "\n"),*),
                    $($field: $value,)*
                    ..Setting::of::<$ty>()
                };
            )*)*
        }

        $(
            $(#[doc = $group_doc])*
            #[derive(Debug, Default, Clone, clap::Args)]
            pub struct $group {
                $(
                    #[arg(
                        long,
                        env = setting::$name.env,
                        value_name = setting::$name.value_name,
                        help = setting::$name.clap_help(),
                        hide_env_values = setting::$name.secret,
                        num_args = <$ty as $crate::config::declare::Raw>::num_args(),
                        default_missing_value =
                            <$ty as $crate::config::declare::Raw>::missing_value(),
                        global = $global,
                    )]
                    pub $name: Option<$ty>,
                )*
            }

            impl $group {
                /// The heading of this group in the reference.
                pub const TITLE: &'static str = $title;

                /// Every setting of this group, in the order of the table.
                pub const SETTINGS: &'static [&'static $crate::config::declare::Setting] =
                    &[$(&setting::$name),*];

                /// Reads the value of `key` from a TOML table into its field; `false` when
                /// the key is not one of this group's. Errors carry the value's position.
                pub fn read_toml_value<'de, M: serde::de::MapAccess<'de>>(
                    &mut self,
                    key: &str,
                    map: &mut M,
                ) -> Result<bool, M::Error> {
                    match key {
                        $(stringify!($name) => self.$name = Some(map.next_value()?),)*
                        _ => return Ok(false),
                    }
                    Ok(true)
                }

                /// Fills every unset field from `fallback`.
                pub fn or(mut self, fallback: Self) -> Self {
                    $(
                        if self.$name.is_none() {
                            self.$name = fallback.$name;
                        }
                    )*
                    self
                }

                $(
                    /// The value given, with its descriptor.
                    pub fn $name(&self) -> $crate::config::declare::Given<'_, $ty> {
                        $crate::config::declare::Given::new(&setting::$name, self.$name.as_ref())
                    }
                )*
            }

            impl $crate::config::declare::Group for $group {
                fn settings() -> &'static [&'static $crate::config::declare::Setting] {
                    Self::SETTINGS
                }

                fn is_set(&self, key: &str) -> bool {
                    match key {
                        $(stringify!($name) => self.$name.is_some(),)*
                        _ => false,
                    }
                }

                fn set_text(&mut self, key: &str, text: &str) -> bool {
                    match key {
                        $(stringify!($name) => {
                            self.$name = <$ty as $crate::config::declare::Raw>::parse(text);
                            self.$name.is_some()
                        })*
                        _ => false,
                    }
                }
            }
        )*
    };
}
pub(crate) use settings;
