//! The two lists of what was asked: the inbox (the pending claims and notifications) and the
//! history, each a list of [`Item`]s, claims and notifications together.

use askama::Template;

use super::Nav;
// `notification.html`, included in both lists, matches on `AnswerForm`.
use super::action_form::AnswerForm;
use super::claim::ClaimView;
use super::notification::NotificationView;

/// The inbox; its `items` block alone is the fragment the live update fetches.
#[derive(Debug, Template)]
#[template(path = "inbox.html", blocks = ["items"])]
pub(in crate::dashboard) struct InboxPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub notice: Option<String>,
    pub items: Vec<Item>,
}

#[derive(Debug, Template)]
#[template(path = "history.html")]
pub(in crate::dashboard) struct HistoryPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub notice: Option<String>,
    pub items: Vec<Item>,
}

/// One entry of a list: a claim or a notification.
#[derive(Debug)]
pub(in crate::dashboard) enum Item {
    Claim(ClaimView),
    Notification(NotificationView),
}

impl Item {
    /// What lists sort by: the time it was asked (inbox) or last changed (history).
    pub fn sort_key(&self, by_change: bool) -> (i64, &str) {
        match self {
            Self::Claim(c) if by_change => (c.changed_at, &c.id),
            Self::Claim(c) => (c.created_at, &c.id),
            Self::Notification(n) if by_change => (n.changed_at, &n.id),
            Self::Notification(n) => (n.created_at, &n.id),
        }
    }
}
