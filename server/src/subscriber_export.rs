//! `GET /api/subscribers/export`: the list as a CSV download, streamed page by page from the
//! store (both stores, every page, never the whole list in memory). Signed like the rest of the
//! admin API: the SigV4 layer has verified the caller and their `admin` group before this runs.

use crate::{api_errors::json_answer, state::AppState, subscriber_csv};
use app::{
    credentials::Caller,
    error::ApiError,
    store::{ListFilter, Status},
};
use axum::{
    body::Body,
    extract::State,
    response::{IntoResponse, Response},
    Extension,
};
use futures::TryStreamExt;
use http::{header, Uri};

pub async fn export(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    uri: Uri,
) -> Response {
    let caller = match crate::signed_api::admin_caller(caller) {
        Ok(caller) => caller,
        Err(forbidden) => return json_answer::<()>(Err(forbidden)),
    };
    let mut filter = ListFilter::default();
    for (name, value) in uri
        .query()
        .into_iter()
        .flat_map(|query| form_urlencoded::parse(query.as_bytes()))
    {
        match &*name {
            "status" => match Status::parse(&value) {
                Some(status) => filter.status = Some(status),
                None => {
                    let refused = ApiError::bad_request(format!(
                        "status must be pending, confirmed or unsubscribed, not {value:?}."
                    ));
                    return json_answer::<()>(Err(refused));
                }
            },
            "search" => filter.search = Some(value.into_owned()),
            _ => {}
        }
    }
    tracing::info!(admin = %caller.username, "exporting the subscriber list");
    let lines = subscriber_csv::stream(state.services.store.clone(), filter).inspect_err(|err| {
        tracing::error!(error = %app::error::describe(err), "the export stopped: store failed");
    });
    let name = format!("subscribers-{}.csv", time::OffsetDateTime::now_utc().date());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(lines),
    )
        .into_response()
}
