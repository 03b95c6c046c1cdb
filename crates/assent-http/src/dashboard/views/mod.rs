//! What the templates show: pages, and the claims and notifications as display-ready values.
//! Every string that came from a service or an agent is escaped by the templates (HTML
//! autoescaping is on for `.html` templates); nothing here marks text as safe.
//!
//! This file holds what every page shares (the layout's [`Nav`], [`When`]) and the small pages
//! with no list (error, login, signup); the files beside it hold one concept each: the inbox
//! and history lists (`inbox.rs`) of claims (`claim.rs`) and notifications (`notification.rs`),
//! the form that answers an action (`action_form.rs`), services, credentials, webhooks and their
//! delivery log, the audit log, and the Settings page's channels and sent log.

mod action_form;
mod audit;
mod claim;
mod credentials;
mod inbox;
mod notification;
mod policies;
mod services;
mod settings;
mod webhooks;

use askama::Template;
use assent_core::Timestamp;

pub(super) use audit::{AuditItem, AuditPage, Services};
pub(super) use claim::ClaimView;
pub(super) use credentials::{Credential, Secret, TokensPage};
pub(super) use inbox::{HistoryPage, InboxPage, Item};
pub(super) use notification::NotificationView;
pub(super) use policies::PoliciesPage;
pub(super) use services::{ServiceItem, ServicePage, ServicesPage};
pub(super) use settings::{AddForm, ChannelItem, MessageItem, SettingsPage};
pub(super) use webhooks::{
    DeliveryItem, DeliveryLog, EventChoice, Filter, WebhookItem, WebhookPage,
};

/// The layout's header for a logged-in owner.
#[derive(Debug, Clone)]
pub(super) struct Nav {
    pub namespace: String,
    pub email: String,
    pub csrf: String,
    /// `inbox`, `history`, `services`, `policies`, `settings`, `tokens`, `audit`, `account`, or
    /// empty.
    pub current: &'static str,
}

#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage {
    pub nav: Option<Nav>,
    pub status: u16,
    pub title: String,
    pub message: String,
}

#[derive(Debug, Template)]
#[template(path = "login.html")]
pub(super) struct LoginPage {
    pub nav: Option<Nav>,
    pub email: String,
    pub error: Option<String>,
    /// A one-click link's page to go back to after logging in (empty: the inbox).
    pub next: String,
}

#[derive(Debug, Template)]
#[template(path = "signup.html")]
pub(super) struct SignupPage {
    pub nav: Option<Nav>,
    pub email: String,
    pub namespace: String,
    pub error: Option<String>,
    /// The invite token given (by the link's `?invite=`, or the form).
    pub invite: String,
    /// The signup policy is `invite`: the form asks for one.
    pub invite_only: bool,
    /// The signup policy is `closed`: no form, only how to get an account.
    pub closed: bool,
}

/// The owner's account: the change-password form and the list of sessions.
#[derive(Debug, Template)]
#[template(path = "account.html")]
pub(super) struct AccountPage {
    pub nav: Option<Nav>,
    pub csrf: String,
    pub email: String,
    pub namespace: String,
    pub sessions: Vec<SessionItem>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug)]
pub(super) struct SessionItem {
    pub id: String,
    pub current: bool,
    pub user_agent: String,
    pub address: String,
    pub created: When,
    pub last_seen: Option<When>,
    pub expires: When,
}

/// The page of a password reset link.
#[derive(Debug, Template)]
#[template(path = "reset.html")]
pub(super) struct ResetPage {
    pub nav: Option<Nav>,
    pub token: String,
    /// The account's email while the link is usable; `None` shows only the error.
    pub email: Option<String>,
    pub error: Option<String>,
}

/// A moment, for a `<time>` element.
#[derive(Debug, Clone)]
pub(super) struct When {
    /// RFC 3339.
    pub iso: String,
    /// `2026-11-22 10:00 UTC`.
    pub text: String,
}

impl From<Timestamp> for When {
    fn from(at: Timestamp) -> Self {
        Self::at(at.as_millis())
    }
}

impl When {
    /// The moment `millis` after the Unix epoch.
    pub fn at(millis: i64) -> Self {
        let iso = Timestamp::from_millis(millis).to_rfc3339();
        let text = format!(
            "{} UTC",
            iso.get(..16).unwrap_or(&iso).replacen('T', " ", 1)
        );
        Self { iso, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_minutes() {
        let when = When::at(1_795_860_000_000);
        assert_eq!(when.text, "2026-11-28 10:00 UTC");
        assert!(when.iso.starts_with("2026-11-28T10:00:00"));
    }
}
