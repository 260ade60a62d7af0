pub mod footer;
pub mod hydrated;
pub mod navbar;
pub mod newsletter;
pub mod story_card;
