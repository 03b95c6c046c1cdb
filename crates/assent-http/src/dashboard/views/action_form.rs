//! The form that answers one action of a pending notification, fitting its response type:
//! buttons, radio buttons, checkboxes, a text or a number field, with the bounds in words.

use assent_core::notification::{Action, ResponseType};
use serde_json::Value;

/// One action of a pending notification, as a form.
#[derive(Debug)]
pub(in crate::dashboard) struct ActionView {
    pub id: String,
    pub label: String,
    pub form: AnswerForm,
    /// Flagged `irreversible`: styled apart, and sent only with its box ticked.
    pub irreversible: bool,
}

#[derive(Debug)]
pub(in crate::dashboard) struct Choice {
    pub value: String,
    pub label: String,
}

/// The form fitting an action's response type.
#[derive(Debug)]
pub(in crate::dashboard) enum AnswerForm {
    /// One button.
    Simple,
    /// Two buttons, `value=true` and `value=false`.
    Binary { yes: String, no: String },
    /// Radio buttons.
    Choice { options: Vec<Choice> },
    /// Checkboxes; `hint` tells the bounds.
    MultiChoice {
        options: Vec<Choice>,
        hint: Option<String>,
    },
    Text {
        placeholder: Option<String>,
        min: Option<u64>,
        max: Option<u64>,
        hint: Option<String>,
    },
    Number {
        min: Option<String>,
        max: Option<String>,
        step: &'static str,
        hint: Option<String>,
    },
}

impl ActionView {
    pub(super) fn new(action: &Action) -> Self {
        let constraint = |key: &str| {
            action
                .constraints
                .as_ref()
                .and_then(|c| c.get(key))
                .filter(|v| !v.is_null())
        };
        let count = |key: &str| constraint(key).and_then(Value::as_u64);
        let choices = || {
            action
                .options
                .as_ref()
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|o| {
                            let field = |k: &str| {
                                o.get(k)
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned()
                            };
                            Choice {
                                value: field("value"),
                                label: field("label"),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let form = match action.response_type {
            ResponseType::Simple => AnswerForm::Simple,
            ResponseType::Binary => {
                let option = |key: &str, fallback: &str| {
                    action
                        .options
                        .as_ref()
                        .and_then(|o| o.get(key))
                        .and_then(Value::as_str)
                        .unwrap_or(fallback)
                        .to_owned()
                };
                AnswerForm::Binary {
                    yes: option("true_label", "Yes"),
                    no: option("false_label", "No"),
                }
            }
            ResponseType::Choice => AnswerForm::Choice { options: choices() },
            ResponseType::MultiChoice => {
                let (min, max) = (count("min_selections"), count("max_selections"));
                AnswerForm::MultiChoice {
                    options: choices(),
                    hint: bounds(min, max, "options", "option"),
                }
            }
            ResponseType::Text => {
                let (min, max) = (count("min_length"), count("max_length"));
                AnswerForm::Text {
                    placeholder: constraint("placeholder")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    min,
                    max,
                    hint: bounds(min, max, "characters", "character"),
                }
            }
            ResponseType::Number => {
                let number = |key: &str| {
                    constraint(key)
                        .filter(|v| v.is_number())
                        .map(Value::to_string)
                };
                let (min, max) = (number("min"), number("max"));
                let integer = constraint("integer")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let hint = match (&min, &max) {
                    (Some(min), Some(max)) => Some(format!("From {min} to {max}")),
                    (Some(min), None) => Some(format!("At least {min}")),
                    (None, Some(max)) => Some(format!("At most {max}")),
                    (None, None) => None,
                };
                let hint = match (hint, integer) {
                    (Some(h), true) => Some(format!("{h}, a whole number.")),
                    (Some(h), false) => Some(format!("{h}.")),
                    (None, true) => Some("A whole number.".to_owned()),
                    (None, false) => None,
                };
                AnswerForm::Number {
                    min,
                    max,
                    step: if integer { "1" } else { "any" },
                    hint,
                }
            }
        };
        Self {
            id: action.id.clone(),
            label: action.label.clone(),
            form,
            irreversible: action.is_irreversible(),
        }
    }
}

/// `Choose 1 to 3 options.`, `At least 2 characters.`, …
fn bounds(min: Option<u64>, max: Option<u64>, many: &str, one: &str) -> Option<String> {
    let noun = |n: u64| if n == 1 { one } else { many };
    let min = min.filter(|&m| m > 0);
    match (min, max) {
        (Some(min), Some(max)) if min == max => Some(format!("Exactly {min} {}.", noun(max))),
        (Some(min), Some(max)) => Some(format!("From {min} to {max} {}.", noun(max))),
        (Some(min), None) => Some(format!("At least {min} {}.", noun(min))),
        (None, Some(max)) => Some(format!("At most {max} {}.", noun(max))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_as_sentences() {
        assert_eq!(
            bounds(Some(1), Some(3), "options", "option").as_deref(),
            Some("From 1 to 3 options.")
        );
        assert_eq!(
            bounds(Some(2), None, "options", "option").as_deref(),
            Some("At least 2 options.")
        );
        assert_eq!(
            bounds(Some(0), Some(1), "options", "option").as_deref(),
            Some("At most 1 option.")
        );
        assert_eq!(bounds(None, None, "options", "option"), None);
    }
}
