//! `/confirm` and `/unsubscribe`: the pages the links in our mails open (see
//! `crate::mail_links`). Rendered on the server only: no island, nothing added to any page's
//! script.

use crate::{
    mail_links::{
        LinkOutcome, CONFIRM_PATH, FROM_PAGE_FIELD, FROM_PAGE_VALUE, RESULT_PARAM, TOKEN_PARAM,
        UNSUBSCRIBE_PATH,
    },
    page_location::{self, site_path},
    SITE_NAME,
};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

#[component]
pub fn ConfirmPage() -> impl IntoView {
    view! {
        <MailLinkPage
            page=CONFIRM_PATH
            title="Confirm your subscription"
            intro="Press the button to start getting an email when a new story is published."
            button="Confirm subscription"
        />
    }
}

#[component]
pub fn UnsubscribePage() -> impl IntoView {
    view! {
        <MailLinkPage
            page=UNSUBSCRIBE_PATH
            title="Unsubscribe from the newsletter"
            intro="Press the button and we will send no more mail to this address."
            button="Unsubscribe"
        />
    }
}

/// A page with one button that posts to the link's URL, or, after the post, its outcome.
#[component]
fn MailLinkPage(
    page: &'static str,
    title: &'static str,
    intro: &'static str,
    button: &'static str,
) -> impl IntoView {
    let outcome = page_location::query(RESULT_PARAM).and_then(|code| LinkOutcome::from_code(&code));
    let token = page_location::query(TOKEN_PARAM).filter(|token| !token.is_empty());
    let body = match (outcome, token) {
        (Some(outcome), _) => {
            let (heading, text) = outcome.message(page);
            let class = match outcome {
                LinkOutcome::UnknownLink | LinkOutcome::Failed => "alert alert-danger",
                _ => "alert alert-success",
            };
            view! {
                <h1>{heading}</h1>
                <p class=class role="status">{text}</p>
                <p><a href=site_path("/") class="button button-primary">"Back to Top Stories"</a></p>
            }
            .into_any()
        }
        (None, Some(token)) => {
            // The token goes back in the URL the form posts to: the same URL as the link
            // (for unsubscribing, the one `List-Unsubscribe` names).
            let action = format!(
                "{}?{TOKEN_PARAM}={}",
                site_path(page),
                percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
            );
            view! {
                <h1>{title}</h1>
                <p>{intro}</p>
                <form method="post" action=action>
                    <input type="hidden" name=FROM_PAGE_FIELD value=FROM_PAGE_VALUE/>
                    <button type="submit" class="button button-primary">{button}</button>
                </form>
            }
            .into_any()
        }
        (None, None) => {
            let (heading, text) = LinkOutcome::UnknownLink.message(page);
            view! {
                <h1>{heading}</h1>
                <p class="alert alert-danger" role="status">{text}</p>
            }
            .into_any()
        }
    };
    view! {
        <Title text=format!("{title} · {SITE_NAME}")/>
        // The URL carries a secret: keep it out of search engines and other sites' logs.
        <Meta name="robots" content="noindex"/>
        <Meta name="referrer" content="no-referrer"/>
        <section class="container page-message">{body}</section>
    }
}
