//! The Settings page (`/dashboard/settings`): the owner's channels (add, change, test, send
//! the confirmation again, remove) and the sent log. Each form calls the operation that
//! `/v1/auth/channels` calls; a refused form is shown again with what is wrong.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use assent_app::channels::{self, AddInput, UpdateInput};

use super::manage::{failure_of, refusal, refusal_of};
use super::views::{AddForm, ChannelItem, MessageItem, SettingsPage};
use super::{Failure, Posted, Visitor, finish, html, logged_in, see_other};
use crate::state::AppState;

/// How many messages of the sent log the page shows (the API's `/v1/auth/messages` as well).
const LOG_SIZE: i64 = 100;

const NO_SUCH_CHANNEL: &str =
    "There is no such channel of yours. It may have been removed, or the link is wrong.";

async fn page(state: &AppState, visitor: &Visitor) -> Result<SettingsPage, Failure> {
    let list = channels::list(&state.app, &visitor.account).await?;
    let log = channels::messages(&state.app, &visitor.account, LOG_SIZE).await?;
    let nav = visitor.nav("settings");
    Ok(SettingsPage {
        csrf: nav.csrf.clone(),
        nav: Some(nav),
        messages: log
            .into_iter()
            .map(|m| MessageItem::new(m, &list))
            .collect(),
        channels: list.into_iter().map(ChannelItem::from).collect(),
        add: AddForm::default(),
        notice: None,
        channel_error: None,
        add_error: None,
        web_push: state.settings.vapid_public_key.is_some(),
    })
}

/// `GET /dashboard/settings`.
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    finish(
        async {
            let visitor = logged_in(&req, &state).await?;
            Ok(html(StatusCode::OK, &page(&state, &visitor).await?))
        }
        .await,
    )
}

/// The page again with `notice` (at the address the form posted to).
async fn with_notice(
    state: &AppState,
    visitor: &Visitor,
    notice: String,
) -> Result<HttpResponse, Failure> {
    let mut page = page(state, visitor).await?;
    page.notice = Some(notice);
    Ok(html(StatusCode::OK, &page))
}

/// A number field as the operation takes it: blank is not given; anything else is passed on
/// (a text that is no number as -1, which the operation refuses naming the field).
fn number(text: Option<&str>) -> Option<i64> {
    match text.map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(t.parse().unwrap_or(-1)),
    }
}

/// `POST /dashboard/settings/channels`: `POST /v1/auth/channels` from the form.
pub async fn add(state: web::Data<AppState>, posted: Posted) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let field = |name: &str| form.get(name).unwrap_or_default().to_owned();
            let quiet_hours = field("quiet_hours");
            let input = AddInput {
                kind: form.get("kind").map(str::to_owned),
                address: form.get("address").map(str::to_owned),
                events: Some(form.all("events").into_iter().map(str::to_owned).collect()),
                quiet_hours: (!quiet_hours.trim().is_empty()).then(|| quiet_hours.clone()),
                throttle_seconds: number(form.get("throttle_seconds")),
                keys: None,
                expiry_lead_seconds: number(form.get("expiry_lead_seconds")),
            };
            match channels::add(&state.app, &visitor.account, input).await {
                Ok(channel) if channel.verified_at.is_none() => {
                    with_notice(
                        &state,
                        &visitor,
                        format!(
                            "A confirmation link was sent to {}. Open it to start receiving \
                             messages there.",
                            channel.address
                        ),
                    )
                    .await
                }
                Ok(_) => Ok(see_other("/dashboard/settings")),
                Err(e) => {
                    let (status, error) = refusal(e)?;
                    let mut page = page(&state, &visitor).await?;
                    page.add = AddForm::new(
                        &field("kind"),
                        &field("address"),
                        &form.all("events"),
                        &quiet_hours,
                        &field("throttle_seconds"),
                        &field("expiry_lead_seconds"),
                    );
                    page.add_error = Some(error);
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/settings/channels/{id}`: new events, quiet hours, throttle and expiry lead
/// (`PATCH /v1/auth/channels/{id}`).
pub async fn update(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, form } = posted;
            let id = id.into_inner();
            let input = UpdateInput {
                events: Some(form.all("events").into_iter().map(str::to_owned).collect()),
                // Blank turns quiet hours off.
                quiet_hours: Some(form.get("quiet_hours").unwrap_or_default().to_owned()),
                throttle_seconds: number(form.get("throttle_seconds")),
                expiry_lead_seconds: number(form.get("expiry_lead_seconds")),
            };
            match channels::update(&state.app, &visitor.account, id.clone(), input).await {
                Ok(channel) => {
                    with_notice(
                        &state,
                        &visitor,
                        format!("The settings of {} are saved.", channel.address),
                    )
                    .await
                }
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_CHANNEL)?;
                    let mut page = page(&state, &visitor).await?;
                    page.channel_error = Some((id, error));
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/settings/channels/{id}/test`: a test message, then the page (the log
/// shows it).
pub async fn test(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    queued(state, id, posted, Queue::Test).await
}

/// `POST /dashboard/settings/channels/{id}/verification`: the confirmation link again.
pub async fn resend_verification(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    queued(state, id, posted, Queue::Verification).await
}

#[derive(Debug, Clone, Copy)]
enum Queue {
    Test,
    Verification,
}

async fn queued(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
    what: Queue,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            let id = id.into_inner();
            let done = match what {
                Queue::Test => channels::test(&state.app, &visitor.account, id.clone()).await,
                Queue::Verification => {
                    channels::resend_verification(&state.app, &visitor.account, id.clone()).await
                }
            };
            match done {
                Ok(_) => {
                    let notice = match what {
                        Queue::Test => "A test message is on its way; it shows in Messages below.",
                        Queue::Verification => {
                            "A new confirmation link is on its way; open it to start receiving \
                             messages there."
                        }
                    };
                    with_notice(&state, &visitor, notice.to_owned()).await
                }
                Err(e) => {
                    let (status, error) = refusal_of(&visitor, e, NO_SUCH_CHANNEL)?;
                    let mut page = page(&state, &visitor).await?;
                    page.channel_error = Some((id, error));
                    Ok(html(status, &page))
                }
            }
        }
        .await,
    )
}

/// `POST /dashboard/settings/channels/{id}/delete`: removes it (its waiting messages too).
pub async fn remove(
    state: web::Data<AppState>,
    id: web::Path<String>,
    posted: Posted,
) -> HttpResponse {
    finish(
        async {
            let Posted { visitor, .. } = posted;
            channels::remove(&state.app, &visitor.account, id.into_inner())
                .await
                .map_err(|e| failure_of(&visitor, e, NO_SUCH_CHANNEL))?;
            Ok(see_other("/dashboard/settings"))
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn a_number_field_blank_is_not_given_and_garbage_is_refused_later() {
        assert_eq!(number(None), None);
        assert_eq!(number(Some("  ")), None);
        assert_eq!(number(Some(" 300 ")), Some(300));
        assert_eq!(number(Some("soon")), Some(-1));
    }
}
