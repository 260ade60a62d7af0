//! The pages the links in our mails open: confirming a subscription and unsubscribing. Each is
//! a page with one button that posts to the same URL (mail scanners follow links, they don't
//! press buttons); the server's answer to the post is a redirect back to the page with the
//! outcome as a code (`?result=…`), so both work without JavaScript and a reload posts nothing.

pub const CONFIRM_PATH: &str = "/confirm";
pub const UNSUBSCRIBE_PATH: &str = "/unsubscribe";
/// The query parameter carrying a link's secret.
pub const TOKEN_PARAM: &str = "token";
/// The query parameter carrying the outcome of the post.
pub const RESULT_PARAM: &str = "result";
/// The hidden field the unsubscribe page's form sends: a post with it comes from our page (and
/// is answered with a redirect to the outcome); any other post is a mail client's one-click
/// unsubscribe (RFC 8058), answered in place, since that standard allows no redirect.
pub const FROM_PAGE_FIELD: &str = "from";
pub const FROM_PAGE_VALUE: &str = "page";

/// What pressing a page's button did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Confirmed,
    AlreadyConfirmed,
    Unsubscribed,
    AlreadyUnsubscribed,
    /// The link's secret is not one we know (forged, cut, expired or replaced).
    UnknownLink,
    /// The store failed: try again later.
    Failed,
}

impl LinkOutcome {
    const ALL: [LinkOutcome; 6] = [
        Self::Confirmed,
        Self::AlreadyConfirmed,
        Self::Unsubscribed,
        Self::AlreadyUnsubscribed,
        Self::UnknownLink,
        Self::Failed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::AlreadyConfirmed => "already-confirmed",
            Self::Unsubscribed => "unsubscribed",
            Self::AlreadyUnsubscribed => "already-unsubscribed",
            Self::UnknownLink => "unknown",
            Self::Failed => "error",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|outcome| outcome.code() == code)
    }

    /// A heading and a sentence for the page.
    pub fn message(self, page: &str) -> (&'static str, &'static str) {
        match (self, page) {
            (Self::Confirmed, _) => (
                "Subscription confirmed",
                "Thank you! You will get an email when a new story is published.",
            ),
            (Self::AlreadyConfirmed, _) => (
                "Already confirmed",
                "Your subscription is already confirmed: there is nothing more to do.",
            ),
            (Self::Unsubscribed, _) => (
                "You are unsubscribed",
                "You will get no more mail from us. Changed your mind? Subscribe again on the \
                 home page.",
            ),
            (Self::AlreadyUnsubscribed, _) => (
                "Already unsubscribed",
                "This address is not on the list: you will get no more mail from us.",
            ),
            (Self::UnknownLink, CONFIRM_PATH) => (
                "This link does not work",
                "It may have expired (links work for 48 hours), been replaced by a newer mail, \
                 or been cut short by your mail program. Subscribe again on the home page to get \
                 a new one.",
            ),
            (Self::UnknownLink, _) => (
                "This link does not work",
                "It may have been cut short by your mail program: try copying the whole link \
                 from the mail. If the address was erased from the list, there is nothing to \
                 unsubscribe.",
            ),
            (Self::Failed, _) => (
                "Something went wrong",
                "Nothing was changed. Please try again in a few minutes.",
            ),
        }
    }
}

/// The absolute URL a mail links to: `<public url><page>?token=<token>` (tokens are URL-safe).
pub fn link_url(public_url: &str, page: &str, token: &str) -> String {
    format!(
        "{}{page}?{TOKEN_PARAM}={token}",
        public_url.trim_end_matches('/')
    )
}

/// Where the server sends the browser after a post: back to the page, with the outcome.
pub fn outcome_location(page: &str, outcome: LinkOutcome) -> String {
    format!("{page}?{RESULT_PARAM}={}", outcome.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_survives_the_redirect_and_unknown_codes_show_nothing() {
        for outcome in LinkOutcome::ALL {
            let location = outcome_location(CONFIRM_PATH, outcome);
            let code = location.split_once("result=").unwrap().1;
            assert_eq!(LinkOutcome::from_code(code), Some(outcome));
        }
        assert_eq!(LinkOutcome::from_code("<script>"), None);
    }
}
