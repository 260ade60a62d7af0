//! The admin API: the subscriber list. Its endpoints sit behind the server's SigV4 layer, which
//! verifies the signature and the caller's `admin` group before any of this runs.

use crate::error::ApiError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Paths the server's SigV4 layer guards. Every admin server function's URL is listed here.
pub const SIGNED_ENDPOINTS: &[&str] = &[
    "/api/subscribers",
    "/api/subscribers/unsubscribe",
    "/api/subscribers/erase",
    EXPORT_PATH,
    crate::dashboard::DASHBOARD_PATH,
    crate::issue_desk::ISSUES_PATH,
    crate::issue_desk::SEND_PATH,
    crate::issue_desk::PREVIEW_PATH,
];

/// What a signed-in user who is not an admin is told (403) by every admin endpoint.
pub const NOT_AN_ADMIN: &str = "Your account is not an admin of this site.";

/// The list as CSV (the server crate's `subscriber_export`; `status` and `search` as for the
/// list).
pub const EXPORT_PATH: &str = "/api/subscribers/export";

/// The service name requests are signed for, as with API Gateway.
pub const SIGV4_SERVICE: &str = "execute-api";

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A time as people read it: "30 Nov 2026, 14:06 UTC", from RFC 3339 in UTC (what the API
/// gives; the exact time goes in the `<time>` element's `datetime`). Anything else is shown as
/// it is.
pub fn time_for_people(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let readable = || {
        let (date, time) = rfc3339.strip_suffix('Z')?.split_once('T')?;
        let mut date = date.splitn(3, '-');
        let (year, month, day) = (date.next()?, date.next()?, date.next()?);
        let month = MONTHS.get(month.parse::<usize>().ok()?.checked_sub(1)?)?;
        let day: u8 = day.parse().ok()?;
        let hours_minutes = time.get(..5)?;
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        let (hours, minutes) = hours_minutes.split_once(':')?;
        (year.len() == 4 && digits(year) && digits(hours) && digits(minutes))
            .then(|| format!("{day} {month} {year}, {hours_minutes} UTC"))
    };
    readable().unwrap_or_else(|| rfc3339.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberRow {
    /// As the visitor typed it. Rendered as text, never as HTML.
    pub email: String,
    /// RFC 3339, UTC.
    pub subscribed_at: String,
    pub status: crate::subscriber_status::Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberPage {
    pub subscribers: Vec<SubscriberRow>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Every subscriber stored, in any status.
    pub total: u64,
    pub counts: crate::subscriber_status::StatusCounts,
}

#[server(
    name = ListSubscribers,
    prefix = "/api",
    endpoint = "subscribers",
    input = leptos::server_fn::codec::GetUrl
)]
pub async fn list_subscribers(
    cursor: Option<String>,
    limit: Option<u32>,
    status: Option<crate::subscriber_status::Status>,
    search: Option<String>,
) -> Result<SubscriberPage, ApiError> {
    server_side::list_subscribers(cursor, limit, status, search).await
}

/// Takes an address off the list (its consent record is kept). Answers what was done, for
/// people.
#[server(
    name = UnsubscribeSubscriber,
    prefix = "/api",
    endpoint = "subscribers/unsubscribe"
)]
pub async fn unsubscribe_subscriber(email: String) -> Result<String, ApiError> {
    server_side::unsubscribe_subscriber(email).await
}

/// Erases every record of an address (an erasure request). Answers what was done, for people.
#[server(name = EraseSubscriber, prefix = "/api", endpoint = "subscribers/erase")]
pub async fn erase_subscriber(email: String) -> Result<String, ApiError> {
    server_side::erase_subscriber(email).await
}

/// The admin page's call of [`list_subscribers`]: a GET with the arguments in the query string,
/// signed with SigV4 in the browser.
pub mod client {
    use super::*;
    use crate::{
        api_client,
        page_location::site_path,
        sigv4_signer::{sign_get, sign_request, SignedRequest, SigningIdentity},
    };
    use leptos::server_fn::ServerFn;

    /// Which subscribers the admin page shows.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Shown {
        pub status: Option<crate::subscriber_status::Status>,
        pub search: String,
    }

    impl Shown {
        fn params(&self) -> Vec<(&'static str, String)> {
            let mut params = Vec::new();
            if let Some(status) = self.status {
                params.push(("status", status.as_str().to_owned()));
            }
            if !self.search.trim().is_empty() {
                params.push(("search", self.search.trim().to_owned()));
            }
            params
        }
    }

    pub async fn list_subscribers(
        identity: &SigningIdentity,
        shown: &Shown,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<SubscriberPage, ApiError> {
        let limit = limit.to_string();
        let filters = shown.params();
        let mut params = vec![("limit", limit.as_str())];
        params.extend(filters.iter().map(|(name, value)| (*name, value.as_str())));
        if let Some(cursor) = cursor {
            params.push(("cursor", cursor));
        }
        let signed = signed_get(identity, ListSubscribers::PATH, &params)?;
        api_client::get(&signed).await
    }

    /// `GET path?params` to this page's host, signed now (under the page's prefix, as sent).
    pub(crate) fn signed_get(
        identity: &SigningIdentity,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<SignedRequest, ApiError> {
        let host = api_client::page_host()?;
        Ok(sign_get(
            identity,
            SIGV4_SERVICE,
            &host,
            &site_path(path),
            params,
            api_client::now(),
        ))
    }

    /// A signed POST of `email` to an admin action (unsubscribe, erase).
    async fn post_email(
        identity: &SigningIdentity,
        path: &str,
        email: &str,
    ) -> Result<String, ApiError> {
        signed_post_form(identity, path, &[("email", email)]).await
    }

    /// A signed POST of form `fields` to an admin action; the answer is a message for people.
    pub(crate) async fn signed_post_form(
        identity: &SigningIdentity,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<String, ApiError> {
        let body = api_client::form_encode(fields);
        let signed = sign_request(
            identity,
            SIGV4_SERVICE,
            &api_client::page_host()?,
            "POST",
            &site_path(path),
            &[],
            body.as_bytes(),
            api_client::now(),
        );
        api_client::post_form_signed(&signed, &body).await
    }

    pub async fn unsubscribe_subscriber(
        identity: &SigningIdentity,
        email: &str,
    ) -> Result<String, ApiError> {
        post_email(identity, UnsubscribeSubscriber::PATH, email).await
    }

    pub async fn erase_subscriber(
        identity: &SigningIdentity,
        email: &str,
    ) -> Result<String, ApiError> {
        post_email(identity, EraseSubscriber::PATH, email).await
    }

    /// The list as CSV, signed like the rest: the whole text (the browser then saves it).
    pub async fn export_csv(identity: &SigningIdentity, shown: &Shown) -> Result<String, ApiError> {
        let filters = shown.params();
        let params: Vec<(&str, &str)> = filters
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let signed = signed_get(identity, EXPORT_PATH, &params)?;
        api_client::get_text(&signed).await
    }
}

#[cfg(feature = "ssr")]
mod server_side {
    use super::*;
    use crate::{
        credentials::Caller,
        error::{describe, ApiErrorKind},
        store::{observed, ListFilter, StoreError, Unsubscribed, Unsubscriber},
        subscriber_email::SubscriberEmail,
    };
    use time::format_description::well_known::Rfc3339;

    pub async fn list_subscribers(
        cursor: Option<String>,
        limit: Option<u32>,
        status: Option<crate::subscriber_status::Status>,
        search: Option<String>,
    ) -> Result<SubscriberPage, ApiError> {
        // The SigV4 layer put the verified caller here; without it nothing is served.
        let caller = admin().await?;
        let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_PAGE_SIZE}."
            )));
        }
        let store = &crate::services::Services::from_context()?.store;
        let failed = |err: StoreError| match err {
            StoreError::BadCursor => {
                ApiError::bad_request("cursor is not one this API handed out.")
            }
            err => {
                tracing::error!(error = %describe(&err), "listing subscribers failed");
                ApiError::unavailable()
            }
        };
        let cursor = cursor.filter(|c| !c.is_empty());
        let filter = ListFilter { status, search };
        let now = time::OffsetDateTime::now_utc();
        let page = observed("page", store.page(&filter, cursor.as_deref(), limit, now))
            .await
            .map_err(failed)?;
        let counts = observed("count", store.counts(now)).await.map_err(failed)?;
        tracing::info!(admin = %caller.username, rows = page.subscribers.len(), "listed subscribers");
        Ok(SubscriberPage {
            subscribers: page
                .subscribers
                .into_iter()
                .map(|s| SubscriberRow {
                    email: s.email,
                    subscribed_at: s.subscribed_at.format(&Rfc3339).unwrap_or_default(),
                    status: s.status,
                })
                .collect(),
            next_cursor: page.next_cursor,
            total: counts.total(),
            counts,
        })
    }

    async fn admin() -> Result<Caller, ApiError> {
        leptos_axum::extract::<axum::Extension<Caller>>()
            .await
            .ok()
            .map(|caller| caller.0)
            .filter(Caller::is_admin)
            .ok_or_else(|| ApiError::new(ApiErrorKind::Forbidden, super::NOT_AN_ADMIN))
    }

    fn address(email: &str) -> Result<SubscriberEmail, ApiError> {
        SubscriberEmail::parse(email).map_err(|err| ApiError::bad_request(err.to_string()))
    }

    fn failed(err: StoreError) -> ApiError {
        tracing::error!(error = %describe(&err), "an admin change failed");
        ApiError::unavailable()
    }

    pub async fn unsubscribe_subscriber(email: String) -> Result<String, ApiError> {
        let caller = admin().await?;
        let email = address(&email)?;
        let store = &crate::services::Services::from_context()?.store;
        let source = format!("admin {}", caller.username);
        let done = observed(
            "unsubscribe",
            store.unsubscribe(
                Unsubscriber::Address(&email),
                time::OffsetDateTime::now_utc(),
                &source,
                None,
            ),
        )
        .await
        .map_err(failed)?;
        match done {
            Unsubscribed::Unsubscribed(email) => {
                tracing::info!(admin = %caller.username, "unsubscribed a subscriber");
                Ok(format!("{email} is unsubscribed."))
            }
            Unsubscribed::AlreadyUnsubscribed(email) => {
                Ok(format!("{email} was already unsubscribed."))
            }
            Unsubscribed::Unknown => Err(ApiError::bad_request(format!(
                "{} is not on the list.",
                email.as_str()
            ))),
        }
    }

    pub async fn erase_subscriber(email: String) -> Result<String, ApiError> {
        let caller = admin().await?;
        let email = address(&email)?;
        let store = &crate::services::Services::from_context()?.store;
        if observed("erase", store.erase(&email))
            .await
            .map_err(failed)?
        {
            // The address itself is not logged: it is what was asked to be forgotten.
            tracing::info!(admin = %caller.username, "erased a subscriber");
            Ok(format!("Every record of {} is erased.", email.as_str()))
        } else {
            Err(ApiError::bad_request(format!(
                "{} is not on the list.",
                email.as_str()
            )))
        }
    }
}

#[cfg(test)]
mod time_tests {
    use super::time_for_people;

    #[test]
    fn times_read_as_people_write_them_and_anything_else_as_it_is() {
        assert_eq!(
            time_for_people("2026-11-30T14:06:09.487870095Z"),
            "30 Nov 2026, 14:06 UTC"
        );
        assert_eq!(
            time_for_people("2026-01-05T00:00:00Z"),
            "5 Jan 2026, 00:00 UTC"
        );
        for odd in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-30T14:06:09+02:00",
            "2026-11-30T1Z",
        ] {
            assert_eq!(time_for_people(odd), odd);
        }
    }
}
