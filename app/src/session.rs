//! The signed-in admin's session in the browser: the ID token (local storage key `token`, as in
//! the original) and the temporary credentials obtained with it (key `credentials`).
//!
//! On the server nothing is known about the session: the navbar renders "Log in" and switches
//! after hydration, when the stored token is read. Islands share no context in the browser: they
//! meet in local storage, and signing in or out is followed by a navigation (`go_to`).

use crate::auth::CredentialsForIdentity;
use leptos::prelude::*;

pub const TOKEN_KEY: &str = "token";
pub const CREDENTIALS_KEY: &str = "credentials";

#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub token: RwSignal<Option<String>>,
}

impl Session {
    /// The stored token as a signal (for what the navbar shows), loaded once hydrated.
    pub fn load() -> Self {
        let session = Self {
            token: RwSignal::new(None),
        };
        // Effects run only in the browser, after hydration: the first render matches the server's.
        Effect::new(move |_| session.token.set(storage::get(TOKEN_KEY)));
        session
    }

    /// Stores a new sign-in. Callers then navigate (`go_to`), so no island's signal needs it.
    pub fn signed_in(id_token: &str) {
        storage::set(TOKEN_KEY, id_token);
        storage::remove(CREDENTIALS_KEY);
    }

    /// Forgets everything we stored. Callers then navigate, as after `signed_in`.
    pub fn sign_out() {
        storage::remove(TOKEN_KEY);
        storage::remove(CREDENTIALS_KEY);
    }

    /// The stored token, read now (not the signal, which may not be loaded yet).
    pub fn stored_token() -> Option<String> {
        storage::get(TOKEN_KEY)
    }

    pub fn stored_credentials() -> Option<CredentialsForIdentity> {
        storage::get_json(CREDENTIALS_KEY)
    }

    pub fn store_credentials(credentials: &CredentialsForIdentity) {
        storage::set_json(CREDENTIALS_KEY, credentials);
    }
}

/// Pages are rendered by the server (islands), so moving on is a real navigation, to one of the
/// site's paths (`/admin`).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window
            .location()
            .assign(&crate::page_location::site_path(path));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Local storage in the browser (nothing on the server). The token is stored as it is: reading
/// it is on every page (the navbar), which therefore carries no JSON parser; only the admin page,
/// which loads its own module, stores the credentials as JSON.
mod storage {
    use serde::{de::DeserializeOwned, Serialize};

    #[cfg(feature = "hydrate")]
    fn local() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    /// The token (or any plain value) under `key`.
    pub fn get(key: &str) -> Option<String> {
        stored(key).map(|value| unquoted(&value).to_owned())
    }

    /// What is stored under `key`, as it is.
    fn stored(key: &str) -> Option<String> {
        #[cfg(feature = "hydrate")]
        return local()?.get_item(key).ok()?;
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = key;
            None
        }
    }

    /// Earlier versions stored the token as a JSON string. A token (JWT: base64url and dots)
    /// never has quotes or escapes, so such a session stays signed in after an upgrade.
    pub(super) fn unquoted(value: &str) -> &str {
        value
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            .unwrap_or(value)
    }

    pub fn get_json<T: DeserializeOwned>(key: &str) -> Option<T> {
        serde_json::from_str(&stored(key)?).ok()
    }

    pub fn set(key: &str, value: &str) {
        #[cfg(feature = "hydrate")]
        if let Some(storage) = local() {
            let _ = storage.set_item(key, value);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (key, value);
    }

    pub fn set_json<T: Serialize>(key: &str, value: &T) {
        if let Ok(json) = serde_json::to_string(value) {
            set(key, &json);
        }
    }

    pub fn remove(key: &str) {
        #[cfg(feature = "hydrate")]
        if let Some(storage) = local() {
            let _ = storage.remove_item(key);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = key;
    }
}

#[cfg(test)]
mod tests {
    use super::storage::unquoted;

    #[test]
    fn tokens_stored_as_json_strings_by_earlier_versions_read_as_the_token() {
        assert_eq!(unquoted("\"eyJh.eyJz.c2ln\""), "eyJh.eyJz.c2ln");
        assert_eq!(unquoted("eyJh.eyJz.c2ln"), "eyJh.eyJz.c2ln");
        assert_eq!(unquoted("\""), "\"");
    }
}
