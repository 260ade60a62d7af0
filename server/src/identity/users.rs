//! The embedded identity provider's users: stored in the SQLite database with argon2id password
//! hashes. Managed with `serverless-stories admin …`.

use crate::embedded_db::EmbeddedDb;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use rusqlite::{params, OptionalExtension};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("usernames are 1 to 128 characters from A-Z a-z 0-9 . _ @ + -")]
    BadUsername,
    #[error("passwords are {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters")]
    BadPassword,
    #[error("a user named {0:?} already exists")]
    AlreadyExists(String),
    #[error("there is no user named {0:?}")]
    NotFound(String),
    #[error("the user database failed")]
    Store(#[source] app::error::Cause),
}

/// A username that is safe to store, log and put in a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, UserError> {
        let ok = (1..=128).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
        ok.then(|| Self(input.to_owned()))
            .ok_or(UserError::BadUsername)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password that meets the policy. Never logged: no `Debug` output of its contents.
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(input: String) -> Result<Self, UserError> {
        let chars = input.chars().count();
        if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            Ok(Self(input))
        } else {
            Err(UserError::BadPassword)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub sub: String,
    pub password_hash: String,
    /// Sessions that signed in before this (Unix seconds) are revoked.
    pub valid_after: i64,
    pub groups: Vec<String>,
    pub created_at: OffsetDateTime,
}

/// Hashes with argon2id (the crate's defaults follow OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String, UserError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| UserError::Store(format!("hashing failed: {e}").into()))
}

/// Constant-time verification against a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hashing takes tens of milliseconds of CPU: keep it off the async workers.
async fn hash_off_runtime(password: Password) -> Result<String, UserError> {
    tokio::task::spawn_blocking(move || hash_password(&password.0))
        .await
        .map_err(store_error)?
}

/// The columns `row_to_parts` reads, in its order.
const USER_COLUMNS: &str = "username, sub, password_hash, groups, created_at, valid_after";

#[derive(Clone)]
pub struct UserDirectory {
    db: EmbeddedDb,
}

fn store_error(e: impl Into<app::error::Cause>) -> UserError {
    UserError::Store(e.into())
}

impl UserDirectory {
    pub fn new(db: EmbeddedDb) -> Self {
        Self { db }
    }

    pub async fn add(
        &self,
        username: &Username,
        password: Password,
        groups: &[&str],
    ) -> Result<User, UserError> {
        let hash = hash_off_runtime(password).await?;
        let user = User {
            username: username.0.clone(),
            sub: new_subject()?,
            password_hash: hash,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            created_at: OffsetDateTime::now_utc(),
            valid_after: 0,
        };
        let row = user.clone();
        let created_at = row.created_at.format(&Rfc3339).map_err(store_error)?;
        let inserted = self
            .db
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO users (username, sub, password_hash, groups, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (username) DO NOTHING",
                    params![
                        row.username,
                        row.sub,
                        row.password_hash,
                        row.groups.join(","),
                        created_at
                    ],
                )
            })
            .await
            .map_err(store_error)?;
        if inserted == 0 {
            return Err(UserError::AlreadyExists(username.0.clone()));
        }
        Ok(user)
    }

    pub async fn find(&self, username: &str) -> Result<Option<User>, UserError> {
        self.find_where("username", username).await
    }

    /// The user a token's `sub` names, if they still exist.
    pub async fn find_by_sub(&self, sub: &str) -> Result<Option<User>, UserError> {
        self.find_where("sub", sub).await
    }

    /// The user whose `column` (one of ours, never input) is `value`.
    async fn find_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, UserError> {
        let value = value.to_owned();
        let row = self
            .db
            .with_conn(move |conn| {
                conn.query_row(
                    &format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1"),
                    params![value],
                    row_to_parts,
                )
                .optional()
            })
            .await
            .map_err(store_error)?;
        row.map(parts_to_user).transpose()
    }

    pub async fn list(&self) -> Result<Vec<User>, UserError> {
        let rows = self
            .db
            .with_conn(|conn| {
                let mut statement = conn.prepare(&format!(
                    "SELECT {USER_COLUMNS} FROM users ORDER BY username"
                ))?;
                let rows = statement.query_map([], row_to_parts)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .map_err(store_error)?;
        rows.into_iter().map(parts_to_user).collect()
    }

    pub async fn remove(&self, username: &str) -> Result<(), UserError> {
        let name = username.to_owned();
        let removed = self
            .db
            .write(move |conn| conn.execute("DELETE FROM users WHERE username = ?1", params![name]))
            .await
            .map_err(store_error)?;
        if removed == 0 {
            return Err(UserError::NotFound(username.to_owned()));
        }
        Ok(())
    }

    /// Replaces the user's groups. Their sessions end with the old groups (tokens and
    /// credentials carry them).
    pub async fn set_groups(&self, username: &str, groups: &[&str]) -> Result<(), UserError> {
        self.update_ending_sessions(username, "groups", groups.join(","))
            .await
    }

    /// Refuses the sessions of the user `sub` that signed in before `valid_after` (Unix seconds);
    /// never brings an ended session back. A user removed meanwhile: nothing to do.
    pub async fn end_sessions_before(&self, sub: &str, valid_after: i64) -> Result<(), UserError> {
        let sub = sub.to_owned();
        self.db
            .write(move |conn| {
                conn.execute(
                    "UPDATE users SET valid_after = MAX(valid_after, ?2) WHERE sub = ?1",
                    params![sub, valid_after],
                )
            })
            .await
            .map_err(store_error)?;
        Ok(())
    }

    pub async fn set_password(&self, username: &str, password: Password) -> Result<(), UserError> {
        let hash = hash_off_runtime(password).await?;
        // The old password's sessions end with it.
        self.update_ending_sessions(username, "password_hash", hash)
            .await
    }

    /// Sets `column` (one of ours, never input) of the user to `value` and ends every session
    /// that signed in up to now. Sessions are compared in whole seconds (`auth_time`), so this
    /// second's end too: a sign-in in the same second as the change is refused and repeated.
    async fn update_ending_sessions(
        &self,
        username: &str,
        column: &'static str,
        value: String,
    ) -> Result<(), UserError> {
        let name = username.to_owned();
        let valid_after = OffsetDateTime::now_utc().unix_timestamp() + 1;
        let updated = self
            .db
            .write(move |conn| {
                conn.execute(
                    &format!(
                        "UPDATE users SET {column} = ?1, valid_after = ?3 WHERE username = ?2"
                    ),
                    params![value, name, valid_after],
                )
            })
            .await
            .map_err(store_error)?;
        if updated == 0 {
            return Err(UserError::NotFound(username.to_owned()));
        }
        Ok(())
    }
}

type UserParts = (String, String, String, String, String, i64);

fn row_to_parts(row: &rusqlite::Row<'_>) -> rusqlite::Result<UserParts> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn parts_to_user(
    (username, sub, password_hash, groups, created_at, valid_after): UserParts,
) -> Result<User, UserError> {
    Ok(User {
        valid_after,
        username,
        sub,
        password_hash,
        groups: groups
            .split(',')
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: OffsetDateTime::parse(&created_at, &Rfc3339).map_err(store_error)?,
    })
}

/// A random version-4 UUID, the shape Cognito gives its `sub`.
fn new_subject() -> Result<String, UserError> {
    let mut b = app::credentials::random_bytes::<16>().map_err(store_error)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> (tempfile::TempDir, UserDirectory) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedDb::open(dir.path()).unwrap();
        (dir, UserDirectory::new(store))
    }

    fn password(p: &str) -> Password {
        Password::parse(p.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn add_find_list_passwd_remove() {
        let (_dir, users) = directory();
        let ada = Username::parse("ada").unwrap();
        let added = users
            .add(&ada, password("correct horse"), &["admin"])
            .await
            .unwrap();
        assert_eq!(added.groups, ["admin"]);
        assert_eq!(added.sub.len(), 36);
        assert!(added.password_hash.starts_with("$argon2id$"));
        assert!(matches!(
            users
                .add(&Username::parse("ADA").unwrap(), password("whatever1"), &[])
                .await,
            Err(UserError::AlreadyExists(_))
        ));
        let found = users.find("Ada").await.unwrap().unwrap();
        assert!(verify_password("correct horse", &found.password_hash));
        assert!(!verify_password("wrong horse", &found.password_hash));
        assert_eq!(users.list().await.unwrap().len(), 1);

        users
            .set_password("ada", password("battery staple"))
            .await
            .unwrap();
        let found = users.find("ada").await.unwrap().unwrap();
        assert!(verify_password("battery staple", &found.password_hash));
        assert!(!verify_password("correct horse", &found.password_hash));

        users.remove("ada").await.unwrap();
        assert!(users.find("ada").await.unwrap().is_none());
        assert!(matches!(
            users.remove("ada").await,
            Err(UserError::NotFound(_))
        ));
        assert!(matches!(
            users.set_password("ada", password("12345678")).await,
            Err(UserError::NotFound(_))
        ));
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        for bad in ["", "a b", "ünicode", "semi;colon", &"x".repeat(129)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        for good in ["ada", "ada.lovelace@example.com", "a_b-c+d"] {
            assert!(Username::parse(good).is_ok(), "{good:?}");
        }
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(257)).is_err());
        assert!(Password::parse("long enough".into()).is_ok());
        assert_eq!(format!("{:?}", password("secret-123")), "Password(..)");
    }

    #[test]
    fn a_malformed_hash_never_matches() {
        assert!(!verify_password("anything", "not a phc string"));
    }
}
