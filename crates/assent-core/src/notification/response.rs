//! How a user answers an action: the six response types, and the check of a response's data
//! against its action's type, options and constraints.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Action;
use super::fields::get;

/// How the user answers an action, and what `response_data` must then be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// Choosing the action is the answer; `response_data` is `null`.
    Simple,
    /// A boolean; `options` holds `true_label` and `false_label`.
    Binary,
    /// One option's `value`.
    Choice,
    /// An array of option `value`s, within `min_selections`..=`max_selections`.
    MultiChoice,
    /// A string, within `min_length`..=`max_length` characters.
    Text,
    /// A number, within `min`..=`max`, whole when `integer` is true.
    Number,
}

impl ResponseType {
    pub const ALL: [Self; 6] = [
        Self::Simple,
        Self::Binary,
        Self::Choice,
        Self::MultiChoice,
        Self::Text,
        Self::Number,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Binary => "binary",
            Self::Choice => "choice",
            Self::MultiChoice => "multi_choice",
            Self::Text => "text",
            Self::Number => "number",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Why a response's data does not fit its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// 400 `INVALID_RESPONSE_DATA`: the wrong JSON type for the response type.
    WrongType(String),
    /// 422 `CONSTRAINT_VIOLATION`: the right type, but outside the action's limits or options.
    Constraint(String),
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongType(why) | Self::Constraint(why) => f.write_str(why),
        }
    }
}

impl Action {
    fn constraint(&self, key: &str) -> Option<&Value> {
        self.constraints
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|c| get(c, key))
    }

    fn option_values(&self) -> Vec<&str> {
        self.options
            .as_ref()
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|o| o.get("value").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checks a user's `response_data` for this action (`null` when it was left out).
    pub fn check_response(&self, data: &Value) -> Result<(), ResponseError> {
        use ResponseError::{Constraint, WrongType};
        match self.response_type {
            ResponseType::Simple if data.is_null() => Ok(()),
            ResponseType::Simple => Err(WrongType(
                "a simple action takes no response_data: send null".into(),
            )),
            ResponseType::Binary if data.is_boolean() => Ok(()),
            ResponseType::Binary => Err(WrongType(
                "a binary action takes a boolean response_data".into(),
            )),
            ResponseType::Choice => {
                let Some(choice) = data.as_str() else {
                    return Err(WrongType(
                        "a choice action takes one option value (a string)".into(),
                    ));
                };
                if self.option_values().contains(&choice) {
                    Ok(())
                } else {
                    Err(Constraint(format!("`{choice}` is not one of the options")))
                }
            }
            ResponseType::MultiChoice => {
                let chosen = data
                    .as_array()
                    .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        WrongType(
                            "a multi_choice action takes an array of option values (strings)"
                                .into(),
                        )
                    })?;
                let options = self.option_values();
                if let Some(unknown) = chosen.iter().find(|c| !options.contains(c)) {
                    return Err(Constraint(format!("`{unknown}` is not one of the options")));
                }
                if chosen.iter().collect::<HashSet<_>>().len() != chosen.len() {
                    return Err(Constraint("an option is chosen more than once".into()));
                }
                let n = chosen.len() as u64;
                let min = self
                    .constraint("min_selections")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let max = self.constraint("max_selections").and_then(Value::as_u64);
                if n < min {
                    return Err(Constraint(format!("choose at least {min} options")));
                }
                if let Some(max) = max
                    && n > max
                {
                    return Err(Constraint(format!("choose at most {max} options")));
                }
                Ok(())
            }
            ResponseType::Text => {
                let Some(text) = data.as_str() else {
                    return Err(WrongType("a text action takes a string".into()));
                };
                let n = text.chars().count() as u64;
                if let Some(min) = self.constraint("min_length").and_then(Value::as_u64)
                    && n < min
                {
                    return Err(Constraint(format!(
                        "the text must be at least {min} characters"
                    )));
                }
                if let Some(max) = self.constraint("max_length").and_then(Value::as_u64)
                    && n > max
                {
                    return Err(Constraint(format!(
                        "the text must be at most {max} characters"
                    )));
                }
                Ok(())
            }
            ResponseType::Number => {
                let Some(number) = data.as_f64() else {
                    return Err(WrongType("a number action takes a JSON number".into()));
                };
                if let Some(min) = self.constraint("min").and_then(Value::as_f64)
                    && number < min
                {
                    return Err(Constraint(format!("the number must be at least {min}")));
                }
                if let Some(max) = self.constraint("max").and_then(Value::as_f64)
                    && number > max
                {
                    return Err(Constraint(format!("the number must be at most {max}")));
                }
                let integer = self
                    .constraint("integer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if integer && number.fract() != 0.0 {
                    return Err(Constraint("the number must be whole".into()));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::notification::test_fixtures::*;
    use crate::notification::validate_notification;

    fn action(value: Value) -> Action {
        let body = with(minimal(), "/actions", json!([value]));
        validate_notification(&self::body(body), NOW)
            .unwrap()
            .actions
            .remove(0)
    }

    #[test]
    fn responses_are_checked_by_type_then_by_constraint() {
        use ResponseError::{Constraint, WrongType};
        let simple = action(json!({"id": "a", "label": "x", "response_type": "simple"}));
        assert_eq!(simple.check_response(&Value::Null), Ok(()));
        assert!(matches!(
            simple.check_response(&json!(true)),
            Err(WrongType(_))
        ));

        let binary = action(json!({"id": "a", "label": "x", "response_type": "binary",
            "options": {"true_label": "y", "false_label": "n"}}));
        assert_eq!(binary.check_response(&json!(false)), Ok(()));
        assert!(matches!(
            binary.check_response(&json!("yes")),
            Err(WrongType(_))
        ));
        assert!(matches!(
            binary.check_response(&Value::Null),
            Err(WrongType(_))
        ));

        let choice = action(json!({"id": "a", "label": "x", "response_type": "choice",
            "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}));
        assert_eq!(choice.check_response(&json!("b")), Ok(()));
        assert!(matches!(
            choice.check_response(&json!("c")),
            Err(Constraint(_))
        ));
        assert!(matches!(
            choice.check_response(&json!(["a"])),
            Err(WrongType(_))
        ));

        let multi = action(
            json!({"id": "a", "label": "x", "response_type": "multi_choice",
            "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"},
                        {"value": "c", "label": "C"}],
            "constraints": {"min_selections": 1, "max_selections": 2}}),
        );
        assert_eq!(multi.check_response(&json!(["a", "c"])), Ok(()));
        assert!(matches!(
            multi.check_response(&json!([])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["a", "b", "c"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["a", "a"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!(["z"])),
            Err(Constraint(_))
        ));
        assert!(matches!(
            multi.check_response(&json!("a")),
            Err(WrongType(_))
        ));
        assert!(matches!(
            multi.check_response(&json!([1])),
            Err(WrongType(_))
        ));

        let text = action(json!({"id": "a", "label": "x", "response_type": "text",
            "constraints": {"min_length": 2, "max_length": 3}}));
        assert_eq!(text.check_response(&json!("héé")), Ok(()));
        assert!(matches!(
            text.check_response(&json!("h")),
            Err(Constraint(_))
        ));
        assert!(matches!(
            text.check_response(&json!("hello")),
            Err(Constraint(_))
        ));
        assert!(matches!(text.check_response(&json!(5)), Err(WrongType(_))));

        let number = action(json!({"id": "a", "label": "x", "response_type": "number",
            "constraints": {"min": 1, "max": 10, "integer": true}}));
        assert_eq!(number.check_response(&json!(10)), Ok(()));
        assert!(matches!(
            number.check_response(&json!(0)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!(11)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!(2.5)),
            Err(Constraint(_))
        ));
        assert!(matches!(
            number.check_response(&json!("5")),
            Err(WrongType(_))
        ));
        let unbounded = action(json!({"id": "a", "label": "x", "response_type": "number"}));
        assert_eq!(unbounded.check_response(&json!(-2.5)), Ok(()));
    }
}
