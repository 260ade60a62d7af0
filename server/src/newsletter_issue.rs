//! A newsletter issue made from a story: the subject (the story's title), a plain-text part (the
//! teaser, or the story's Markdown, which reads well as it is) and an HTML part (the story's
//! HTML with its CSS inlined, as mail programs want it, and every link made absolute), the
//! `List-Id`, and per subscriber the unsubscribe link and the RFC 8058 headers. No remote images,
//! no tracking of any kind: what a reader opens is not known to us.

use crate::mail::Mail;
use app::stories::{
    catalog::{NewsletterContent, NewsletterSource},
    Story,
};

/// What every copy of an issue shares; a subscriber's copy adds their unsubscribe link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub slug: String,
    pub subject: String,
    /// The plain-text part, with `{unsubscribe}` where the subscriber's link goes.
    text: String,
    /// The HTML part, with `{unsubscribe}` where the subscriber's link goes.
    html: String,
    list_id: String,
}

const UNSUBSCRIBE_SLOT: &str = "{unsubscribe}";

/// The site's address and name, as issues show them.
#[derive(Debug, Clone)]
pub struct Site<'a> {
    /// Without a trailing slash, e.g. `https://stories.example.com`.
    pub public_url: &'a str,
    pub name: &'a str,
}

impl Site<'_> {
    fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }

    /// `List-Id` (RFC 2919): the list's name and an id under the site's host.
    fn list_id(&self) -> String {
        let host = self
            .public_url
            .split_once("://")
            .map_or(self.public_url, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or("localhost");
        format!(
            "{} <newsletter.{host}>",
            self.name.replace(['<', '>', '"'], "")
        )
    }
}

/// Text to put in HTML (element content or a quoted attribute).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The inline styles of the elements Markdown produces: mail programs drop `<style>` sheets or
/// parts of them, so each element carries its own.
const STYLES: &[(&str, &str)] = &[
    ("p", "margin:0 0 16px;line-height:1.6"),
    (
        "h1",
        "margin:0 0 8px;font-size:26px;line-height:1.25;color:#1f3a5f",
    ),
    (
        "h2",
        "margin:24px 0 8px;font-size:20px;line-height:1.3;color:#1f3a5f",
    ),
    (
        "h3",
        "margin:20px 0 8px;font-size:17px;line-height:1.3;color:#1f3a5f",
    ),
    ("a", "color:#1d5fa8"),
    ("ul", "margin:0 0 16px;padding-left:24px"),
    ("ol", "margin:0 0 16px;padding-left:24px"),
    ("li", "margin:0 0 4px;line-height:1.6"),
    (
        "blockquote",
        "margin:0 0 16px;padding:0 16px;border-left:4px solid #d9d4c7;color:#4f5b69",
    ),
    (
        "pre",
        "margin:0 0 16px;padding:12px;background:#f5f3ee;overflow:auto;font-size:14px",
    ),
    ("code", "font-family:Menlo,Consolas,monospace"),
    ("img", "max-width:100%;height:auto"),
];

/// Adds each element's style to the tags of `html` (markup we made: Markdown's output), and
/// makes site-relative links and images absolute.
fn inline_styles(html: &str, site: &Site<'_>) -> String {
    let absolute = html
        .replace("href=\"/", &format!("href=\"{}/", site.public_url))
        .replace("src=\"/", &format!("src=\"{}/", site.public_url));
    let mut out = String::with_capacity(absolute.len() * 2);
    let mut rest = absolute.as_str();
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let name_end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric())
            .map_or(rest.len(), |i| i + 1);
        let name = &rest[1..name_end];
        match STYLES.iter().find(|(tag, _)| *tag == name) {
            Some((_, style)) => {
                out.push('<');
                out.push_str(name);
                out.push_str(&format!(" style=\"{style}\""));
                rest = &rest[name_end..];
            }
            None => {
                out.push('<');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Issue {
    /// The issue for `story`, sent as its front matter says (teaser or whole story).
    pub fn from_story(story: &Story, source: &NewsletterSource, site: &Site<'_>) -> Self {
        let summary = &story.summary;
        let url = site.absolute(&summary.href());
        let (text_body, html_body) = match source.content {
            NewsletterContent::Teaser => (
                summary.teaser.clone(),
                format!("<p>{}</p>", escape(&summary.teaser)),
            ),
            NewsletterContent::Full => (source.markdown.trim().to_owned(), story.body_html.clone()),
        };
        let text = format!(
            "{title}\r\nby {author}, {published}\r\n\r\n{text_body}\r\n\r\nRead the story: {url}\r\n\r\n\
             --\r\nYou get this because you subscribed to {name} at {site}.\r\n\
             Unsubscribe: {UNSUBSCRIBE_SLOT}\r\n",
            title = summary.title,
            author = summary.author,
            published = summary.published,
            name = site.name,
            site = site.public_url,
        );
        let html = format!(
            "<!DOCTYPE html>\
             <html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head>\
             <body style=\"margin:0;padding:0;background:#f5f3ee\">\
             <div style=\"max-width:600px;margin:0 auto;padding:24px;background:#ffffff;\
             color:#1c2430;font-family:Georgia,'Times New Roman',serif;font-size:17px\">\
             <p style=\"margin:0 0 24px;font-family:system-ui,Arial,sans-serif;font-size:14px;\
             color:#4f5b69\">{name}</p>\
             <h1 style=\"margin:0 0 8px;font-size:26px;line-height:1.25;color:#1f3a5f\">{title}</h1>\
             <p style=\"margin:0 0 24px;font-size:14px;color:#4f5b69\">by {author}, {published}</p>\
             {body}\
             <p style=\"margin:24px 0\"><a href=\"{url}\" style=\"display:inline-block;\
             padding:10px 18px;background:#1f3a5f;color:#ffffff;text-decoration:none;\
             border-radius:8px;font-family:system-ui,Arial,sans-serif;font-weight:600\">\
             Read the story</a></p>\
             <hr style=\"border:0;border-top:1px solid #d9d4c7;margin:32px 0 16px\">\
             <p style=\"margin:0;font-family:system-ui,Arial,sans-serif;font-size:13px;\
             color:#4f5b69\">You get this because you subscribed to {name} at \
             <a href=\"{site}\" style=\"color:#1d5fa8\">{site}</a>. \
             <a href=\"{UNSUBSCRIBE_SLOT}\" style=\"color:#1d5fa8\">Unsubscribe</a></p>\
             </div></body></html>\r\n",
            title = escape(&summary.title),
            author = escape(&summary.author),
            published = escape(&summary.published),
            name = escape(site.name),
            url = escape(&url),
            site = escape(site.public_url),
            body = inline_styles(&html_body, site),
        );
        Self {
            slug: summary.slug.clone(),
            subject: summary.title.clone(),
            text,
            html,
            list_id: site.list_id(),
        }
    }

    /// One subscriber's copy: their unsubscribe link in the text, the HTML and the headers.
    pub fn mail_to(&self, to: &str, unsubscribe_url: &str) -> Mail {
        Mail {
            to: to.to_owned(),
            subject: self.subject.clone(),
            text: self.text.replace(UNSUBSCRIBE_SLOT, unsubscribe_url),
            html: Some(
                self.html
                    .replace(UNSUBSCRIBE_SLOT, &escape(unsubscribe_url)),
            ),
            headers: std::iter::once(("List-Id", self.list_id.clone()))
                .chain(crate::mail::unsubscribe_headers(unsubscribe_url))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::stories::catalog::StoryCatalog;

    const STORY: &str = "+++\ntitle = \"Cold <starts>\"\nteaser = \"Why & how.\"\nauthor = \"Ada\"\ndate = 2026-11-20\nimage = \"/images/a.svg\"\nimage_alt = \"A picture\"\nNEWSLETTER+++\n\nSome *text* with [a link](/post/other/) and `code`.\n\n## More\n\n- one\n";

    fn issue(newsletter: &str) -> Issue {
        let text = STORY.replace("NEWSLETTER", newsletter);
        let catalog = StoryCatalog::parse([("cold.md", text.as_str())]).unwrap();
        let site = Site {
            public_url: "https://stories.example",
            name: "Serverless Stories",
        };
        Issue::from_story(
            catalog.get("cold").unwrap(),
            catalog.newsletter_source("cold").unwrap(),
            &site,
        )
    }

    #[test]
    fn a_teaser_issue_links_to_the_story_and_escapes_what_it_quotes() {
        let mail = issue("").mail_to(
            "ada@example.com",
            "https://stories.example/unsubscribe?token=t1",
        );
        assert_eq!(mail.subject, "Cold <starts>");
        assert!(mail.text.contains("Why & how."), "{}", mail.text);
        assert!(mail
            .text
            .contains("Read the story: https://stories.example/post/cold/"));
        assert!(mail
            .text
            .contains("Unsubscribe: https://stories.example/unsubscribe?token=t1"));
        assert!(!mail.text.contains("Some *text*"), "teaser only");
        let html = mail.html.unwrap();
        assert!(
            html.contains("<h1 style=") && html.contains("Cold &lt;starts&gt;</h1>"),
            "{html}"
        );
        assert!(html.contains("Why &amp; how."));
        assert!(html.contains("href=\"https://stories.example/post/cold/\""));
        assert!(html.contains("href=\"https://stories.example/unsubscribe?token=t1\""));
        assert!(!html.contains("<style"), "styles are inline");
        assert!(!html.contains("<img"), "no remote images in a teaser");
        let header = |name: &str| {
            mail.headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            header("List-Unsubscribe").as_deref(),
            Some("<https://stories.example/unsubscribe?token=t1>")
        );
        assert_eq!(
            header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert_eq!(
            header("List-Id").as_deref(),
            Some("Serverless Stories <newsletter.stories.example>")
        );
    }

    #[test]
    fn a_full_issue_carries_the_story_styled_inline_with_absolute_links() {
        let mail = issue("newsletter = \"full\"\n").mail_to("ada@example.com", "https://x/u");
        assert!(mail
            .text
            .contains("Some *text* with [a link](/post/other/)"));
        let html = mail.html.unwrap();
        assert!(html.contains("<h2 style=\"margin:24px 0 8px"), "{html}");
        assert!(html.contains("<li style="));
        assert!(html.contains("<code style="));
        assert!(
            html.contains(
                "<a style=\"color:#1d5fa8\" href=\"https://stories.example/post/other/\""
            ),
            "{html}"
        );
        assert!(!html.contains("href=\"/"), "every link is absolute");
    }

    #[test]
    fn each_subscriber_gets_their_own_link() {
        let issue = issue("");
        let one = issue.mail_to("a@example.com", "https://s/u?token=1");
        let two = issue.mail_to("b@example.com", "https://s/u?token=2");
        assert!(one.text.contains("token=1") && !one.text.contains("token=2"));
        assert!(two.html.unwrap().contains("token=2"));
    }
}
