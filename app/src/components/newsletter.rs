use crate::{
    error::ApiError,
    page_location,
    subscribe::{
        client, no_js, SubscribeOutcome, SubscribeResult, EMAIL_FIELD, HONEYPOT_FIELD, PATH,
    },
};
use leptos::prelude::*;

/// The newsletter form. With JavaScript it submits in place; without it the browser posts the
/// form and comes back to `/?subscribe=<code>#newsletter`, which is rendered the same way: the
/// answer and what was typed come from the page's URL (see `no_js`).
#[island]
pub fn Newsletter() -> impl IntoView {
    let code = page_location::query(no_js::QUERY_KEY);
    let typed = page_location::query(no_js::EMAIL_KEY).unwrap_or_default();
    let result = RwSignal::new(code.and_then(|code| no_js::result_from_code(&code)));
    // Done (the form gives way to the answer): subscribed, or asked to confirm by mail.
    let done = move || match result.get() {
        Some(Ok(outcome @ (SubscribeOutcome::Subscribed | SubscribeOutcome::ConfirmationSent))) => {
            Some(outcome.message())
        }
        _ => None,
    };
    let pending = RwSignal::new(false);
    let input = NodeRef::<leptos::html::Input>::new();
    // With JavaScript the form is sent in place; without, the browser posts it (same endpoint).
    // (Inline rather than sharing the login forms' `Submission`: the shared generic version
    // costs bytes of the home page's weight budget: 0.36 KB brotli when measured.)
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(input) = input.get_untracked() else {
            return;
        };
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        let email = input.value();
        leptos::task::spawn_local(async move {
            result.set(Some(client::subscribe(&email).await));
            pending.set(false);
        });
    };
    let typed = StoredValue::new(typed);
    let field_error = move || match result.get() {
        Some(Err(err)) if err.is_bad_request() => Some(err.message),
        _ => None,
    };

    view! {
        <section id="newsletter" class="newsletter" aria-labelledby="newsletter-heading">
            <h2 id="newsletter-heading">"Newsletter"</h2>
            <p>"Get an email when a new story is published."</p>
            <Show
                when=move || done().is_none()
                fallback=move || {
                    view! {
                        <p class="alert alert-success" role="status">
                            {done}
                        </p>
                    }
                }
            >
                <form
                    action=page_location::site_path(PATH)
                    method="post"
                    class="newsletter-form"
                    novalidate=true
                    on:submit=on_submit
                >
                    <label for="newsletter-email">"Email address"</label>
                    <div class="newsletter-row">
                        <input
                            node_ref=input
                            id="newsletter-email"
                            type="email"
                            name=EMAIL_FIELD
                            autocomplete="email"
                            inputmode="email"
                            placeholder="name@example.com"
                            maxlength="320"
                            required
                            value=typed.get_value()
                            aria-invalid=move || field_error().is_some().then_some("true")
                            aria-describedby="newsletter-message"
                        />
                        <button type="submit" class="button button-primary" disabled=move || pending.get()>
                            {move || if pending.get() { "Submitting…" } else { "Submit" }}
                        </button>
                    </div>
                    // For bots only: off-screen, hidden from screen readers, out of the tab order.
                    <div class="newsletter-hp" aria-hidden="true">
                        <label>"Leave empty" <input type="text" name=HONEYPOT_FIELD tabindex="-1" autocomplete="off"/></label>
                    </div>
                    <div id="newsletter-message" aria-live="polite">
                        {move || result.get().map(result_alert)}
                    </div>
                </form>
            </Show>
        </section>
    }
}

/// The message under the form for every result but success (which replaces the form).
fn result_alert(result: SubscribeResult) -> impl IntoView {
    let (class, text) = match result {
        Ok(outcome @ SubscribeOutcome::AlreadySubscribed) => {
            ("alert alert-info", outcome.message().to_owned())
        }
        Ok(SubscribeOutcome::Subscribed | SubscribeOutcome::ConfirmationSent) => return None,
        Err(ApiError { message, .. }) => ("alert alert-danger", message),
    };
    Some(view! { <p class=class role="alert">{text}</p> })
}
