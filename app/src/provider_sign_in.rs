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
/// The page a finished sign-in lands on.
pub const LANDING: &str = "/admin";
/// The longest ID token a sign-in may hand over: the page sends it back in a form body
/// (`/api/credentials`, `/api/logout`), which the server caps at 16 KiB.
pub const MAX_ID_TOKEN_BYTES: usize = 15 * 1024;

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
