//! The admin API of newsletter issues (paths and types in `app::issue_desk`): every story with
//! its issue's progress, starting an issue (once), trying its failed deliveries again, and a
//! preview to one address. Behind the SigV4 layer, which has verified the caller and their
//! `admin` group before this runs; sending itself is the delivery worker's.

use crate::{
    api_errors::json_answer,
    delivery::{IssueRecord, Progress, Started},
    newsletter::NewsletterError,
    signed_api::admin_caller,
    state::AppState,
};
use app::{
    admin::time_for_people,
    credentials::Caller,
    error::{describe, ApiError},
    issue_desk::{IssueDesk, IssueProgress, StoryIssue},
    subscriber_email::SubscriberEmail,
};
use axum::{
    extract::{rejection::FormRejection, State},
    response::Response,
    Extension, Form,
};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

/// What people are told; the store's and the transport's failures are logged, not shown.
fn refusal(err: NewsletterError) -> ApiError {
    match err {
        NewsletterError::Store(_) | NewsletterError::Mail(_) => {
            tracing::error!(error = %describe(&err), "a newsletter action failed");
            match err {
                NewsletterError::Mail(crate::mail::MailError::Refused(_)) => {
                    ApiError::bad_request("The mail server refused that address.")
                }
                _ => ApiError::unavailable(),
            }
        }
        err => ApiError::bad_request(err.to_string()),
    }
}

fn unreadable(rejection: FormRejection) -> ApiError {
    ApiError::bad_request(format!(
        "The form could not be read: {}",
        rejection.body_text()
    ))
}

fn progress_of(record: &IssueRecord, progress: &Progress) -> IssueProgress {
    IssueProgress {
        started_at: record.started_at.format(&Rfc3339).unwrap_or_default(),
        started_by: record.started_by.clone(),
        queued: progress.queued,
        sending: progress.sending,
        sent: progress.sent,
        failed: progress.failed,
        skipped: progress.skipped,
    }
}

pub async fn desk(State(state): State<AppState>, caller: Option<Extension<Caller>>) -> Response {
    json_answer(
        async {
            admin_caller(caller)?;
            let newsletter = &state.newsletter;
            let now = time::OffsetDateTime::now_utc();
            let (stories, counts) =
                tokio::join!(newsletter.stories(), state.services.store.counts(now));
            let stories = stories.map_err(refusal)?;
            let counts = counts.map_err(|err| refusal(err.into()))?;
            Ok(IssueDesk {
                confirmed: counts.confirmed,
                cannot_send: newsletter.can_send().err().map(|err| err.to_string()),
                stories: stories
                    .into_iter()
                    .map(|story| StoryIssue {
                        issue: story
                            .issue
                            .as_ref()
                            .map(|(record, progress)| progress_of(record, progress)),
                        slug: story.slug,
                        title: story.title,
                        published: story.published,
                    })
                    .collect(),
            })
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct SendForm {
    slug: String,
    /// `retry`: try the issue's failed deliveries again.
    failed: Option<String>,
}

pub async fn send(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    form: Result<Form<SendForm>, FormRejection>,
) -> Response {
    json_answer(
        async {
            let caller = admin_caller(caller)?;
            let Form(form) = form.map_err(unreadable)?;
            let newsletter = &state.newsletter;
            if form.failed.as_deref() == Some("retry") {
                let again = newsletter.resend_failed(&form.slug).await.map_err(refusal)?;
                tracing::info!(admin = %caller.username, slug = %form.slug, again, "retrying failed deliveries");
                return Ok(match again {
                    0 => "No deliveries of this issue failed.".to_owned(),
                    1 => "Trying the failed delivery again.".to_owned(),
                    n => format!("Trying the {n} failed deliveries again."),
                });
            }
            match newsletter
                .start(&form.slug, &caller.username)
                .await
                .map_err(refusal)?
            {
                Started::New { queued } => {
                    tracing::info!(admin = %caller.username, slug = %form.slug, queued, "issue started");
                    Ok(format!(
                        "Sending to {queued} confirmed subscriber{}.",
                        if queued == 1 { "" } else { "s" }
                    ))
                }
                Started::Already(before) => Err(ApiError::bad_request(format!(
                    "This story was sent on {} by {}: an issue is sent once.",
                    time_for_people(&before.started_at.format(&Rfc3339).unwrap_or_default()),
                    before.started_by
                ))),
            }
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct PreviewForm {
    slug: String,
    to: String,
}

pub async fn preview(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    form: Result<Form<PreviewForm>, FormRejection>,
) -> Response {
    json_answer(
        async {
            let caller = admin_caller(caller)?;
            let Form(form) = form.map_err(unreadable)?;
            let to = SubscriberEmail::parse(&form.to)
                .map_err(|err| ApiError::bad_request(err.to_string()))?;
            state
                .newsletter
                .send_preview(&form.slug, &to)
                .await
                .map_err(refusal)?;
            tracing::info!(admin = %caller.username, slug = %form.slug, "preview sent");
            Ok(format!("A preview is on its way to {}.", to.as_str()))
        }
        .await,
    )
}
