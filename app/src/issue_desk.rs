//! The admin API of newsletter issues (the server crate's `issue_api`): every story with its
//! issue's progress, sending an issue, and a preview to one address. Signed like the rest of
//! the admin API.

use serde::{Deserialize, Serialize};

/// `GET`: the [`IssueDesk`].
pub const ISSUES_PATH: &str = "/api/issues";
/// `POST slug=…` starts the story's issue; with `failed=retry`, tries its failed deliveries again.
pub const SEND_PATH: &str = "/api/issues/send";
/// `POST slug=…&to=…`: one copy marked as a preview to that address.
pub const PREVIEW_PATH: &str = "/api/issues/preview";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueDesk {
    /// Who an issue started now goes to.
    pub confirmed: u64,
    /// Why issues cannot be sent here (a setting is missing); `None` when they can.
    pub cannot_send: Option<String>,
    /// Newest first.
    pub stories: Vec<StoryIssue>,
}

impl IssueDesk {
    /// Some issue is still being delivered (the page then reads again soon).
    pub fn sending(&self) -> bool {
        self.stories
            .iter()
            .any(|story| story.issue.as_ref().is_some_and(|issue| !issue.done()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryIssue {
    pub slug: String,
    pub title: String,
    /// As people read it, e.g. "November 20, 2026".
    pub published: String,
    /// Absent until the issue is started.
    pub issue: Option<IssueProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueProgress {
    /// RFC 3339, UTC.
    pub started_at: String,
    pub started_by: String,
    /// Waiting to be sent (or for a retry).
    pub queued: u64,
    /// Being sent now.
    pub sending: u64,
    pub sent: u64,
    /// Refused for good (the reason is in the ledger).
    pub failed: u64,
    /// Left the list before their turn.
    pub skipped: u64,
}

impl IssueProgress {
    pub fn total(&self) -> u64 {
        self.queued + self.sending + self.sent + self.failed + self.skipped
    }

    pub fn finished(&self) -> u64 {
        self.sent + self.failed + self.skipped
    }

    pub fn done(&self) -> bool {
        self.queued == 0 && self.sending == 0
    }
}

/// The admin page's signed calls.
pub mod client {
    use super::*;
    use crate::{
        admin::client::{signed_get, signed_post_form},
        api_client,
        error::ApiError,
        sigv4_signer::SigningIdentity,
    };

    pub async fn desk(identity: &SigningIdentity) -> Result<IssueDesk, ApiError> {
        let signed = signed_get(identity, ISSUES_PATH, &[])?;
        api_client::get(&signed).await
    }

    pub async fn send(identity: &SigningIdentity, slug: &str) -> Result<String, ApiError> {
        signed_post_form(identity, SEND_PATH, &[("slug", slug)]).await
    }

    pub async fn retry_failed(identity: &SigningIdentity, slug: &str) -> Result<String, ApiError> {
        signed_post_form(identity, SEND_PATH, &[("slug", slug), ("failed", "retry")]).await
    }

    pub async fn preview(
        identity: &SigningIdentity,
        slug: &str,
        to: &str,
    ) -> Result<String, ApiError> {
        signed_post_form(identity, PREVIEW_PATH, &[("slug", slug), ("to", to)]).await
    }
}
