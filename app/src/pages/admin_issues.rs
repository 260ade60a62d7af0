//! The admin page's newsletter panel: every story, with a preview to an address of the admin's
//! choosing and "Send to N confirmed subscribers" (pressed twice: once to ask, once to confirm)
//! before its issue is started, and its delivery's progress after (read again every two seconds
//! while it sends).

use super::admin::{session_token, signed_call, signed_out, Failure, Notice};
use crate::{
    admin::time_for_people,
    components::hydrated::hydrated,
    issue_desk::{
        client::{desk, preview, retry_failed, send},
        IssueDesk, IssueProgress, StoryIssue,
    },
};
use leptos::{prelude::*, task::spawn_local};
use std::time::Duration;

/// How often the progress of an issue being sent is read again.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Send,
    RetryFailed,
    Preview,
}

#[island(lazy)]
pub fn IssueDeskPanel() -> impl IntoView {
    let loaded = RwSignal::new(None::<Result<IssueDesk, String>>);
    let notice = RwSignal::new(Notice::None);
    let acting = RwSignal::new(false);
    // The story whose send waits for a second, explicit press.
    let confirming = RwSignal::new(None::<String>);
    let preview_to = RwSignal::new(String::new());
    // Each change reads the desk again; while an issue sends, a timer changes it.
    let reads = RwSignal::new(0u64);
    let polling = StoredValue::new(false);

    Effect::new(move |_| {
        reads.track();
        let Some(token) = session_token() else {
            return;
        };
        spawn_local(async move {
            let answer = signed_call(&token, |identity| async move { desk(&identity).await }).await;
            let sending = match answer {
                Ok(desk) => {
                    let sending = desk.sending();
                    loaded.set(Some(Ok(desk)));
                    sending
                }
                Err(Failure::SignedOut) => return signed_out(),
                Err(Failure::Message(message)) => {
                    loaded.set(Some(Err(message)));
                    false
                }
            };
            if sending && !polling.get_value() {
                polling.set_value(true);
                set_timeout(
                    move || {
                        polling.set_value(false);
                        reads.update(|n| *n += 1);
                    },
                    POLL,
                );
            }
        });
    });

    let act = move |action: Action, slug: String| {
        let Some(token) = session_token() else {
            return;
        };
        let to = preview_to.get_untracked();
        if action == Action::Preview && to.trim().is_empty() {
            notice.set(Some((
                false,
                "Type the address the preview goes to.".into(),
            )));
            return;
        }
        acting.set(true);
        confirming.set(None);
        spawn_local(async move {
            let answer = signed_call(&token, |identity| {
                let (slug, to) = (slug.clone(), to.clone());
                async move {
                    match action {
                        Action::Send => send(&identity, &slug).await,
                        Action::RetryFailed => retry_failed(&identity, &slug).await,
                        Action::Preview => preview(&identity, &slug, to.trim()).await,
                    }
                }
            })
            .await;
            acting.set(false);
            match answer {
                Ok(done) => notice.set(Some((true, done))),
                Err(Failure::SignedOut) => return signed_out(),
                Err(Failure::Message(message)) => notice.set(Some((false, message))),
            }
            reads.update(|n| *n += 1);
        });
    };

    let hydrated = hydrated();
    let controls_off = Signal::derive(move || !hydrated.get() || acting.get());
    view! {
        <div class="issue-desk">
            <p class="preview-address">
                <label for="preview-to">"Previews go to "</label>
                <input
                    id="preview-to"
                    type="email"
                    maxlength="320"
                    placeholder="you@example.com"
                    autocomplete="email"
                    prop:value=move || preview_to.get()
                    on:input=move |ev| preview_to.set(event_target_value(&ev))
                    disabled=move || !hydrated.get()
                />
            </p>
            <div class="admin-notice issue-notice" aria-live="polite">
                {move || notice.get().map(|(ok, text)| {
                    let class = if ok { "alert alert-success" } else { "alert alert-danger" };
                    view! { <p class=class>{text}</p> }
                })}
            </div>
            {move || match loaded.get() {
                None => view! { <p class="loading" role="status">"Loading the newsletter…"</p> }.into_any(),
                Some(Err(message)) => view! { <p class="alert alert-danger" role="alert">{message}</p> }.into_any(),
                Some(Ok(desk)) => {
                    let cannot_send = desk.cannot_send.clone();
                    view! {
                        {cannot_send.map(|why| view! { <p class="alert alert-danger">{why}</p> })}
                        <ul class="issue-list">
                            {desk.stories.into_iter().map(|story| view! {
                                <StoryRow
                                    story
                                    confirmed=desk.confirmed
                                    can_send=desk.cannot_send.is_none()
                                    confirming
                                    act
                                    controls_off
                                />
                            }).collect_view()}
                        </ul>
                    }
                    .into_any()
                }
            }}
        </div>
    }
}

fn subscribers(n: u64) -> String {
    if n == 1 {
        "1 confirmed subscriber".to_owned()
    } else {
        format!("{n} confirmed subscribers")
    }
}

#[component]
fn StoryRow(
    story: StoryIssue,
    confirmed: u64,
    can_send: bool,
    confirming: RwSignal<Option<String>>,
    act: impl Fn(Action, String) + Copy + Send + Sync + 'static,
    controls_off: Signal<bool>,
) -> impl IntoView {
    let StoryIssue {
        slug,
        title,
        published,
        issue,
    } = story;
    let heading = view! {
        <h3 class="issue-title">{title.clone()}</h3>
        <p class="issue-published">"Published " {published}</p>
    };
    let body = match issue {
        Some(progress) => {
            view! { <IssueState slug=slug.clone() progress act controls_off/> }.into_any()
        }
        None if !can_send => ().into_any(),
        None => {
            let (ask, preview_slug, send_slug) = (slug.clone(), slug.clone(), slug.clone());
            let this = slug.clone();
            let asking = move || confirming.with(|c| c.as_deref() == Some(this.as_str()));
            view! {
                <div class="issue-actions">
                    <button type="button" class="button" disabled=move || controls_off.get()
                        on:click=move |_| act(Action::Preview, preview_slug.clone())>
                        "Send a preview"
                    </button>
                    <Show
                        when=asking
                        fallback=move || {
                            let ask = ask.clone();
                            view! {
                                <button type="button" class="button button-primary"
                                    disabled=move || controls_off.get() || confirmed == 0
                                    on:click=move |_| confirming.set(Some(ask.clone()))>
                                    "Send to " {subscribers(confirmed)} "…"
                                </button>
                            }
                        }
                    >
                        {
                            let (send_slug, title) = (send_slug.clone(), title.clone());
                            view! {
                                <span class="issue-confirm" role="group" aria-label="Confirm sending">
                                    "Send “" {title} "” to " {subscribers(confirmed)} " now? It goes out once. "
                                    <button type="button" class="button button-primary" disabled=move || controls_off.get()
                                        on:click=move |_| act(Action::Send, send_slug.clone())>
                                        "Send now"
                                    </button>
                                    <button type="button" class="button" on:click=move |_| confirming.set(None)>
                                        "Cancel"
                                    </button>
                                </span>
                            }
                        }
                    </Show>
                </div>
            }
            .into_any()
        }
    };
    view! { <li class="issue">{heading}{body}</li> }
}

#[component]
fn IssueState(
    slug: String,
    progress: IssueProgress,
    act: impl Fn(Action, String) + Copy + Send + Sync + 'static,
    controls_off: Signal<bool>,
) -> impl IntoView {
    let (total, finished) = (progress.total(), progress.finished());
    let state = if progress.done() { "Sent" } else { "Sending" };
    let left = progress.queued + progress.sending;
    let failed = progress.failed;
    let retry = progress.done() && failed > 0;
    let summary = format!(
        "{state}: {} of {total} delivered, {failed} failed, {} left the list, {left} to go.",
        progress.sent, progress.skipped
    );
    view! {
        <p class="issue-started">
            "Started "
            <time datetime=progress.started_at.clone()>{time_for_people(&progress.started_at)}</time>
            " by " {progress.started_by}
        </p>
        <progress class="issue-progress" max=total.max(1).to_string() value=finished.to_string()
            aria-label=format!("Delivery of {slug}")>
            {format!("{finished} of {total}")}
        </progress>
        <p class="issue-counts" role="status">{summary}</p>
        {retry.then(|| view! {
            <button type="button" class="button" disabled=move || controls_off.get()
                on:click=move |_| act(Action::RetryFailed, slug.clone())>
                {if failed == 1 { "Try the failed delivery again".to_owned() } else { format!("Try the {failed} failed deliveries again") }}
            </button>
        })}
    }
}
