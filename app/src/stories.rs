//! Stories: Markdown files with TOML front matter, parsed once at start-up on the server and
//! served to pages through two server functions (so the client bundle carries no content).

use crate::error::ApiError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What a story card (and the story page's header) shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorySummary {
    pub slug: String,
    pub title: String,
    pub teaser: String,
    pub author: String,
    /// Human-readable publication date, e.g. "November 20, 2026".
    pub published: String,
    /// Machine-readable publication date (ISO 8601) for `<time datetime>`.
    pub published_iso: String,
    pub image: String,
    pub image_alt: String,
}

impl StorySummary {
    pub fn href(&self) -> String {
        story_href(&self.slug)
    }
}

pub fn story_href(slug: &str) -> String {
    format!("/post/{slug}/")
}

/// A whole story: its summary and the body rendered to HTML from our own Markdown (raw HTML in
/// the source is escaped, so the body is safe to insert as HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    pub summary: StorySummary,
    pub body_html: String,
}

#[server(name = ListStories, prefix = "/api", endpoint = "stories", input = leptos::server_fn::codec::GetUrl)]
pub async fn list_stories() -> Result<Vec<StorySummary>, ApiError> {
    Ok(crate::services::Services::from_context()?
        .catalog
        .summaries())
}

#[server(name = GetStory, prefix = "/api", endpoint = "story", input = leptos::server_fn::codec::GetUrl)]
pub async fn get_story(slug: String) -> Result<Option<Story>, ApiError> {
    Ok(crate::services::Services::from_context()?
        .catalog
        .get(&slug)
        .cloned())
}

#[cfg(feature = "ssr")]
pub mod catalog {
    use super::{Story, StorySummary};
    use pulldown_cmark::{html, Event, Options, Parser};
    use serde::Deserialize;
    use std::sync::Arc;

    /// All stories, newest first.
    #[derive(Debug, Clone, Default)]
    pub struct StoryCatalog {
        stories: Vec<Story>,
        /// What the newsletter sends of each story, by slug (server side only: never sent to
        /// the browser with the story).
        newsletter: std::collections::HashMap<String, NewsletterSource>,
    }

    /// What an issue of the newsletter made from a story contains (front matter `newsletter`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum NewsletterContent {
        /// The teaser and a "Read the story" link (the default).
        #[default]
        Teaser,
        /// The whole story.
        Full,
    }

    /// A story as the newsletter sends it: which part, and its Markdown source (the plain-text
    /// part of the mail: Markdown reads well as it is).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct NewsletterSource {
        pub content: NewsletterContent,
        pub markdown: String,
    }

    pub type SharedCatalog = Arc<StoryCatalog>;

    #[derive(Debug, thiserror::Error)]
    #[error("story {file}: {reason}")]
    pub struct StoryError {
        pub file: String,
        pub reason: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FrontMatter {
        title: String,
        teaser: String,
        author: String,
        date: toml::value::Datetime,
        image: String,
        image_alt: String,
        /// `"teaser"` (default) or `"full"`: what the newsletter sends.
        #[serde(default)]
        newsletter: Option<String>,
    }

    impl StoryCatalog {
        /// Parses `(file name, contents)` pairs; the slug is the file name without `.md`.
        pub fn parse<'a>(
            files: impl IntoIterator<Item = (&'a str, &'a str)>,
        ) -> Result<Self, StoryError> {
            let mut stories = Vec::new();
            let mut newsletter = std::collections::HashMap::new();
            for (file, text) in files {
                let error = |reason: String| StoryError {
                    file: file.to_owned(),
                    reason,
                };
                let (story, source) = parse_story(file, text).map_err(error)?;
                newsletter.insert(story.summary.slug.clone(), source);
                stories.push(story);
            }
            stories.sort_by(|a, b| {
                b.summary
                    .published_iso
                    .cmp(&a.summary.published_iso)
                    .then_with(|| a.summary.slug.cmp(&b.summary.slug))
            });
            Ok(Self {
                stories,
                newsletter,
            })
        }

        /// What the newsletter sends of the story `slug`.
        pub fn newsletter_source(&self, slug: &str) -> Option<&NewsletterSource> {
            self.newsletter.get(slug)
        }

        pub fn summaries(&self) -> Vec<StorySummary> {
            self.stories.iter().map(|s| s.summary.clone()).collect()
        }

        pub fn get(&self, slug: &str) -> Option<&Story> {
            self.stories.iter().find(|s| s.summary.slug == slug)
        }

        pub fn len(&self) -> usize {
            self.stories.len()
        }

        pub fn is_empty(&self) -> bool {
            self.stories.is_empty()
        }
    }

    fn parse_story(file: &str, text: &str) -> Result<(Story, NewsletterSource), String> {
        let slug = file
            .strip_suffix(".md")
            .ok_or("story files must end in .md")?;
        if slug.is_empty()
            || !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("the file name (the story's URL) may only use a-z, 0-9 and '-'".into());
        }
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let rest = text
            .strip_prefix("+++\n")
            .or_else(|| text.strip_prefix("+++\r\n"))
            .ok_or("front matter missing: the file must start with a line '+++'")?;
        let end = rest
            .find("\n+++")
            .ok_or("front matter not closed: add a line '+++' after it")?;
        let (front, body) = (&rest[..end], &rest[end + 4..]);
        let meta: FrontMatter =
            toml::from_str(front).map_err(|e| format!("front matter: {}", e.message()))?;
        for (field, value) in [
            ("title", &meta.title),
            ("teaser", &meta.teaser),
            ("author", &meta.author),
            ("image_alt", &meta.image_alt),
        ] {
            if value.trim().is_empty() {
                return Err(format!("front matter: `{field}` is empty"));
            }
        }
        // Images ship with the site: a local absolute path, never another host.
        if !meta.image.starts_with('/') || meta.image.starts_with("//") {
            return Err(
                "front matter: `image` must be a path under public/, like /images/x.svg".into(),
            );
        }
        let date = meta
            .date
            .date
            .filter(|_| meta.date.time.is_none())
            .ok_or("front matter: `date` must be a plain date, like 2026-11-20")?;
        let month = time::Month::try_from(date.month).map_err(|e| format!("date: {e}"))?;
        let date = time::Date::from_calendar_date(i32::from(date.year), month, date.day)
            .map_err(|e| format!("date: {e}"))?;
        let content = match meta.newsletter.as_deref() {
            None | Some("teaser") => NewsletterContent::Teaser,
            Some("full") => NewsletterContent::Full,
            Some(other) => {
                return Err(format!(
                    "front matter: `newsletter` is \"teaser\" or \"full\", not {other:?}"
                ))
            }
        };
        let body = body.strip_prefix('\n').unwrap_or(body);
        let source = NewsletterSource {
            content,
            markdown: body.trim().to_owned(),
        };
        let story = Story {
            summary: StorySummary {
                slug: slug.to_owned(),
                title: meta.title,
                teaser: meta.teaser,
                author: meta.author,
                published: format!("{} {}, {}", date.month(), date.day(), date.year()),
                published_iso: date.to_string(),
                image: meta.image,
                image_alt: meta.image_alt,
            },
            body_html: markdown_to_html(body),
        };
        Ok((story, source))
    }

    /// Renders Markdown; raw HTML in the source is shown as text, never interpreted.
    pub fn markdown_to_html(markdown: &str) -> String {
        let options = Options::ENABLE_SMART_PUNCTUATION | Options::ENABLE_STRIKETHROUGH;
        let events = Parser::new_ext(markdown, options).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        });
        let mut out = String::with_capacity(markdown.len() * 3 / 2);
        html::push_html(&mut out, events);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const GOOD: &str = "+++\ntitle = \"Hello\"\nteaser = \"A teaser.\"\nauthor = \"Ada\"\ndate = 2026-11-20\nimage = \"/images/a.svg\"\nimage_alt = \"A picture\"\n+++\n\nSome *text* <script>alert(1)</script>.\n";

        #[test]
        fn parses_front_matter_and_renders_markdown_without_raw_html() {
            let catalog = StoryCatalog::parse([("hello.md", GOOD)]).unwrap();
            let story = catalog.get("hello").unwrap();
            assert_eq!(story.summary.title, "Hello");
            assert_eq!(story.summary.published, "November 20, 2026");
            assert_eq!(story.summary.published_iso, "2026-11-20");
            assert_eq!(story.summary.href(), "/post/hello/");
            assert!(story.body_html.contains("<em>text</em>"));
            assert!(story.body_html.contains("&lt;script&gt;"));
            assert!(!story.body_html.contains("<script>"));
        }

        #[test]
        fn the_newsletter_sends_the_teaser_unless_the_story_asks_for_all_of_it() {
            let full = GOOD.replace("+++\n\n", "newsletter = \"full\"\n+++\n\n");
            let catalog =
                StoryCatalog::parse([("hello.md", GOOD), ("whole.md", full.as_str())]).unwrap();
            let teaser = catalog.newsletter_source("hello").unwrap();
            assert_eq!(teaser.content, NewsletterContent::Teaser);
            assert!(teaser.markdown.starts_with("Some *text*"));
            assert_eq!(
                catalog.newsletter_source("whole").unwrap().content,
                NewsletterContent::Full
            );
            assert_eq!(catalog.newsletter_source("missing"), None);
        }

        #[test]
        fn newest_story_comes_first() {
            let older = GOOD.replace("2026-11-20", "2026-01-02");
            let catalog =
                StoryCatalog::parse([("older.md", older.as_str()), ("newer.md", GOOD)]).unwrap();
            let slugs: Vec<_> = catalog.summaries().into_iter().map(|s| s.slug).collect();
            assert_eq!(slugs, ["newer", "older"]);
        }

        #[test]
        fn bad_files_are_refused_with_a_reason() {
            let cases = [
                ("Bad Name.md", GOOD.to_owned(), "file name"),
                ("x.md", "no front matter".to_owned(), "front matter missing"),
                ("x.md", GOOD.replace("\n+++\n\n", "\n"), "not closed"),
                ("x.md", GOOD.replace("title = \"Hello\"\n", ""), "title"),
                (
                    "x.md",
                    GOOD.replace("/images/a.svg", "https://cdn.example.com/a.png"),
                    "image",
                ),
                (
                    "x.md",
                    GOOD.replace("2026-11-20", "2026-11-20T10:00:00Z"),
                    "plain date",
                ),
                ("x.md", GOOD.replace("Ada", " "), "author"),
                ("x.txt", GOOD.to_owned(), ".md"),
                (
                    "x.md",
                    GOOD.replace("+++\n\n", "newsletter = \"all\"\n+++\n\n"),
                    "newsletter",
                ),
            ];
            for (file, text, expected) in cases {
                let err = StoryCatalog::parse([(file, text.as_str())]).unwrap_err();
                assert!(err.to_string().contains(expected), "{file}: {err}");
            }
        }
    }
}
