pub mod footer;
pub mod navbar;
pub mod newsletter;
pub mod story_card;
