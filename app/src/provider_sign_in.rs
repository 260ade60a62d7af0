//! Signing admins in at an OpenID Connect provider: what the pages and the server's routes
//! (`server::provider_sign_in`) share: how this site signs in, the routes' paths, and why a
//! sign-in ended back on the login page.

/// How admins sign in on this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInMethod {
    /// Username and password on our login form (the embedded users, a Cognito user pool).
    Password,
    /// On an OpenID Connect provider's pages, named `name` on the login page.
    Provider { name: String },
}

/// Starts a sign-in: redirects to the provider.
pub const SIGN_IN: &str = "/login/oidc";
/// Where the provider sends the admin back (the redirect URI registered at the provider).
pub const CALLBACK: &str = "/login/callback";
/// Redirects to the provider's end-session page.
pub const SIGN_OUT: &str = "/logout/provider";
/// The cookies that hand a new session's ID token from the callback to the page: read once by
/// the browser, moved to local storage, and deleted. Browsers keep about 4 KB per cookie and ID
/// tokens with many groups are longer, so the token is split into numbered cookies
/// (`stories_signed_in_0`, `_1`, …).
pub const HANDOFF_COOKIE: &str = "stories_signed_in";
const HANDOFF_CHUNK_BYTES: usize = 3500;
/// 28 KB of token at most: far beyond any provider's, well within a request's headers.
pub const HANDOFF_MAX_CHUNKS: usize = 8;

pub fn handoff_cookie_name(index: usize) -> String {
    format!("{HANDOFF_COOKIE}_{index}")
}

/// The token's parts, one per cookie; `None` if it needs more than [`HANDOFF_MAX_CHUNKS`] (or is
/// not ASCII, which a JWT always is).
pub fn handoff_chunks(token: &str) -> Option<Vec<&str>> {
    if !token.is_ascii() || token.is_empty() {
        return None;
    }
    let chunks: Vec<&str> = (0..token.len())
        .step_by(HANDOFF_CHUNK_BYTES)
        .filter_map(|start| token.get(start..(start + HANDOFF_CHUNK_BYTES).min(token.len())))
        .collect();
    (chunks.len() <= HANDOFF_MAX_CHUNKS).then_some(chunks)
}

/// The token the numbered cookies hold (`cookie` reads one by name), and how many there were.
pub fn handoff_token<'a>(cookie: impl Fn(&str) -> Option<&'a str>) -> Option<(String, usize)> {
    let mut token = String::new();
    let mut count = 0;
    while count < HANDOFF_MAX_CHUNKS {
        match cookie(&handoff_cookie_name(count)) {
            Some(part) => token.push_str(part),
            None => break,
        }
        count += 1;
    }
    (count > 0).then_some((token, count))
}
/// The page that takes the handoff (the cookie's path).
pub const LANDING: &str = "/admin";

/// Why a provider sign-in ended back on the login page (`/login?failed=<code>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderSignInFailure {
    /// No sign-in of this browser matches the answer: wrong `state`, none started, expired,
    /// or already finished (a replayed callback).
    UnknownAttempt,
    /// The provider answered with an error (e.g. the user declined).
    Declined,
    /// The provider refused to trade the code (used already, expired, or not ours).
    CodeRefused,
    /// The provider's ID token failed a check (signature, issuer, audience, nonce, expiry).
    TokenRefused,
    /// The provider could not be reached or answered nonsense.
    Unavailable,
}

impl ProviderSignInFailure {
    pub const ALL: [Self; 5] = [
        Self::UnknownAttempt,
        Self::Declined,
        Self::CodeRefused,
        Self::TokenRefused,
        Self::Unavailable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownAttempt => "attempt",
            Self::Declined => "declined",
            Self::CodeRefused => "code",
            Self::TokenRefused => "token",
            Self::Unavailable => "unavailable",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|failure| failure.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::UnknownAttempt => {
                "This sign-in expired or was already used (or started in another browser). \
                 Please log in again."
            }
            Self::Declined => "The sign-in was cancelled or refused at the provider.",
            Self::CodeRefused => {
                "The provider refused to complete this sign-in (its code was already used or \
                 expired). Please log in again."
            }
            Self::TokenRefused => {
                "The provider's answer failed this site's checks, so you are not signed in. \
                 Please log in again; if it keeps happening, tell the site's administrator."
            }
            Self::Unavailable => {
                "The sign-in provider cannot be reached right now. Please try again in a minute."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_token_travels_in_numbered_cookies_and_comes_back_whole() {
        let token = "a".repeat(3500 * 2 + 10);
        let chunks = handoff_chunks(&token).unwrap();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [3500, 3500, 10]
        );
        let jar: Vec<(String, &str)> = chunks
            .iter()
            .enumerate()
            .map(|(i, chunk)| (handoff_cookie_name(i), *chunk))
            .collect();
        let read = |name: &str| jar.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(handoff_token(read), Some((token, 3)));
        assert_eq!(handoff_token(|_| None), None);
        assert_eq!(
            handoff_chunks("eyJh.eyJz.c2ln"),
            Some(vec!["eyJh.eyJz.c2ln"])
        );
        assert_eq!(handoff_chunks(&"a".repeat(3500 * 8 + 1)), None);
        assert_eq!(handoff_chunks("é"), None);
        assert_eq!(handoff_chunks(""), None);
    }

    #[test]
    fn every_failure_reads_back_from_its_code() {
        for failure in ProviderSignInFailure::ALL {
            assert_eq!(
                ProviderSignInFailure::from_code(failure.code()),
                Some(failure)
            );
        }
        assert_eq!(ProviderSignInFailure::from_code("nope"), None);
    }
}
