//! The subscriber list as CSV (RFC 4180), for the admin page's export and
//! `serverless-stories subscribers export`: a header line, then one line per subscriber, read
//! page by page from the store (never the whole list in memory).

use app::store::{ListFilter, SharedStore, StoreError, Subscriber};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub const HEADER: &str = "email,status,subscribed_at,confirmed_at,unsubscribed_at\r\n";
/// Subscribers read per store call.
const PAGE: u32 = 500;

/// One field, quoted when it must be. A field a spreadsheet would run as a formula (starting
/// with `=`, `+`, `-`, `@`, tab or carriage return: OWASP's "CSV injection") gets a leading `'`,
/// which spreadsheets show as text; such addresses are rare, and the `'` is documented.
fn field(text: &str) -> String {
    let neutralized = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if neutralized.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", neutralized.replace('"', "\"\""))
    } else {
        neutralized
    }
}

fn time(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// One subscriber's line, CRLF-terminated.
pub fn line(subscriber: &Subscriber) -> String {
    format!(
        "{},{},{},{},{}\r\n",
        field(&subscriber.email),
        subscriber.status.as_str(),
        time(Some(subscriber.subscribed_at)),
        time(subscriber.confirmed_at),
        time(subscriber.unsubscribed_at),
    )
}

/// The export as a stream of chunks: the header, then one chunk of lines per page of the store.
/// A store failure mid-way ends the stream with the error (the download then fails visibly
/// rather than looking complete).
pub fn stream(
    store: SharedStore,
    filter: ListFilter,
) -> impl futures::Stream<Item = Result<String, StoreError>> {
    let start = (Some(None::<String>), true);
    futures::stream::try_unfold(start, move |(cursor, first)| {
        let store = store.clone();
        let filter = filter.clone();
        async move {
            if first {
                return Ok(Some((HEADER.to_owned(), (cursor, false))));
            }
            let Some(cursor) = cursor else {
                return Ok(None);
            };
            let now = OffsetDateTime::now_utc();
            let page = store.page(&filter, cursor.as_deref(), PAGE, now).await?;
            let chunk: String = page.subscribers.iter().map(line).collect();
            let next = page.next_cursor.map(Some);
            Ok(Some((chunk, (next, false))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::store::Status;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("ada@example.com"), "ada@example.com");
        assert_eq!(field("\"a,b\"@example.com"), "\"\"\"a,b\"\"@example.com\"");
        assert_eq!(field("=cmd@example.com"), "'=cmd@example.com");
        assert_eq!(field("+1@example.com"), "'+1@example.com");
        assert_eq!(field("-x@example.com"), "'-x@example.com");
    }

    #[test]
    fn a_line_has_every_column() {
        let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let subscriber = Subscriber {
            email: "Ada@example.com".into(),
            status: Status::Unsubscribed,
            subscribed_at: at,
            confirmed_at: Some(at),
            unsubscribed_at: None,
        };
        assert_eq!(
            line(&subscriber),
            "Ada@example.com,unsubscribed,2026-09-21T14:13:20Z,2026-09-21T14:13:20Z,\r\n"
        );
        assert_eq!(
            HEADER.matches(',').count(),
            line(&subscriber).matches(',').count()
        );
    }
}
