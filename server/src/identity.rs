//! Identity provider adapters behind `app::identity::IdentityProvider`.

pub mod cognito;
pub mod embedded;
pub mod id_token;
pub mod users;
