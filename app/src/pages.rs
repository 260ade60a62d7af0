pub mod admin;
mod admin_dashboard;
mod admin_issues;
pub mod home;
pub mod login;
pub mod mail_links;
pub mod not_found;
pub mod story;
