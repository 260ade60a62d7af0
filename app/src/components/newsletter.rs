use crate::{
    error::ApiError,
    subscribe::{no_js, Subscribe, SubscribeOutcome, SubscribeResult},
};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The newsletter form. With JavaScript it submits in place; without it the browser posts the
/// form and comes back to `/?subscribe=<code>#newsletter`, which is rendered the same way.
#[component]
pub fn Newsletter() -> impl IntoView {
    let query = use_query_map();
    let code = query.read_untracked().get(no_js::QUERY_KEY);
    let typed = query
        .read_untracked()
        .get(no_js::EMAIL_KEY)
        .unwrap_or_default();
    view! { <NewsletterForm code typed/> }
}

/// `code` and `typed`: the no-JavaScript answer in the URL, if any (see `no_js`).
#[island]
fn NewsletterForm(code: Option<String>, typed: String) -> impl IntoView {
    let action = ServerAction::<Subscribe>::new();
    let answered = code.and_then(|code| no_js::result_from_code(&code));
    let result = Memo::new(move |_| action.value().get().or_else(|| answered.clone()));
    let subscribed = move || matches!(result.get(), Some(Ok(SubscribeOutcome::Subscribed)));
    let pending = action.pending();
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
                when=move || !subscribed()
                fallback=|| {
                    view! {
                        <p class="alert alert-success" role="status">
                            {SubscribeOutcome::Subscribed.message()}
                        </p>
                    }
                }
            >
                <ActionForm action=action attr:class="newsletter-form" attr:novalidate=true>
                    <label for="newsletter-email">"Email address"</label>
                    <div class="newsletter-row">
                        <input
                            id="newsletter-email"
                            type="email"
                            name="email"
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
                    <div id="newsletter-message" aria-live="polite">
                        {move || result.get().map(result_alert)}
                    </div>
                </ActionForm>
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
        Ok(SubscribeOutcome::Subscribed) => return None,
        Err(ApiError { message, .. }) => ("alert alert-danger", message),
    };
    Some(view! { <p class=class role="alert">{text}</p> })
}
