//! The stories shipped inside the binary (see build.rs).

use app::stories::catalog::{StoryCatalog, StoryError};

include!(concat!(env!("OUT_DIR"), "/stories.rs"));

pub fn embedded_catalog() -> Result<StoryCatalog, StoryError> {
    StoryCatalog::parse(STORY_FILES.iter().copied())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_stories_parse() {
        let catalog = super::embedded_catalog().expect("content/stories parses");
        assert!(catalog.len() >= 3);
    }
}
