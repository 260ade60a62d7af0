//! The admin page: gets temporary credentials with the stored ID token, then lists subscribers
//! with SigV4-signed calls, page by page.

use crate::{
    admin::{client::list_subscribers, SubscriberPage, SubscriberRow},
    auth::{client::credentials, CredentialsForIdentity},
    components::hydrated::hydrated,
    error::{ApiError, ApiErrorKind},
    session::{go_to, Session},
    sigv4_signer::SigningIdentity,
};
use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;

const PAGE_SIZES: [u32; 4] = [10, 25, 50, 100];
/// Credentials are renewed this long before they expire.
const RENEW_BEFORE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq)]
enum View {
    Loading,
    Loaded(SubscriberPage),
    Failed(String),
}

enum Failure {
    /// The ID token is no good any more: sign out.
    SignedOut,
    Message(String),
}

fn now_secs() -> i64 {
    #[cfg(feature = "hydrate")]
    return (js_sys::Date::now() / 1000.0) as i64;
    #[cfg(not(feature = "hydrate"))]
    0
}

/// Credentials from local storage while they last, else new ones from the server.
async fn ensure_credentials(token: &str, renew: bool) -> Result<CredentialsForIdentity, Failure> {
    if !renew {
        if let Some(stored) = Session::stored_credentials() {
            if stored.credentials.expiration - now_secs() > RENEW_BEFORE_SECS {
                return Ok(stored);
            }
        }
    }
    match credentials(token).await {
        Ok(fresh) => {
            Session::store_credentials(&fresh);
            Ok(fresh)
        }
        Err(err) if err.error == ApiErrorKind::Unauthorized => Err(Failure::SignedOut),
        Err(err) => Err(Failure::Message(err.message)),
    }
}

async fn fetch_page(
    token: &str,
    cursor: Option<String>,
    size: u32,
) -> Result<SubscriberPage, Failure> {
    let mut renew = false;
    loop {
        let creds = ensure_credentials(token, renew).await?;
        let identity = SigningIdentity {
            credentials: creds.credentials,
            region: creds.region,
        };
        match list_subscribers(&identity, cursor.as_deref(), size).await {
            Ok(page) => return Ok(page),
            // Expired credentials: fetch new ones once and retry.
            Err(ApiError {
                error: ApiErrorKind::ExpiredCredentials,
                ..
            }) if !renew => renew = true,
            Err(err) => return Err(Failure::Message(err.message)),
        }
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin · Serverless Stories"/>
        <section class="container">
            <h1>"Admin"</h1>
            <h2>"List of Subscribers"</h2>
            <SubscriberList/>
        </section>
    }
}

/// Everything on the admin page happens in the browser, which holds the session and signs.
/// Lazy: the signing code is a separate wasm chunk (`cargo leptos build --split`) that only this
/// page loads.
#[island(lazy)]
fn SubscriberList() -> impl IntoView {
    let view_state = RwSignal::new(View::Loading);
    // Cursors of the pages before the current one, and the current one.
    let previous = RwSignal::new(Vec::<Option<String>>::new());
    let current = RwSignal::new(None::<String>);
    let page_size = RwSignal::new(PAGE_SIZES[1]);
    // Loads can overlap (a page size chosen while the first page is on its way): only the latest
    // one's answer is shown, whatever order the answers arrive in.
    let latest_load = StoredValue::new(0u64);
    let loads_in_flight = RwSignal::new(0u32);

    let load = move |cursor: Option<String>| {
        let Some(token) = Session::stored_token() else {
            go_to("/");
            return;
        };
        latest_load.update_value(|n| *n += 1);
        let this_load = latest_load.get_value();
        loads_in_flight.update(|n| *n += 1);
        view_state.set(View::Loading);
        spawn_local(async move {
            let answer = fetch_page(&token, cursor.clone(), page_size.get_untracked()).await;
            loads_in_flight.update(|n| *n = n.saturating_sub(1));
            if latest_load.get_value() != this_load {
                return;
            }
            match answer {
                Ok(page) => {
                    current.set(cursor);
                    view_state.set(View::Loaded(page));
                }
                Err(Failure::SignedOut) => {
                    Session::sign_out();
                    go_to("/");
                }
                Err(Failure::Message(message)) => view_state.set(View::Failed(message)),
            }
        });
    };

    // In the browser only: without a stored token, go home; otherwise load the first page.
    Effect::new(move |_| load(None));

    let next = move |_| {
        if let View::Loaded(SubscriberPage {
            next_cursor: Some(cursor),
            ..
        }) = view_state.get_untracked()
        {
            previous.update(|p| p.push(current.get_untracked()));
            load(Some(cursor));
        }
    };
    let back = move |_| {
        let mut before = None;
        previous.update(|p| before = p.pop());
        if let Some(cursor) = before {
            load(cursor);
        }
    };
    let resize = move |ev| {
        if let Ok(size) = event_target_value(&ev).parse::<u32>() {
            page_size.set(size);
            previous.set(Vec::new());
            load(None);
        }
    };

    let hydrated = hydrated();
    let busy = move || loads_in_flight.get() > 0 || view_state.with(|v| *v == View::Loading);
    view! {
        <div class="admin-toolbar">
            <label>
                "Per page "
                <select on:change=resize prop:value=move || page_size.get().to_string() disabled=move || !hydrated.get()>
                    {PAGE_SIZES.map(|size| view! { <option value=size.to_string()>{size}</option> }).collect_view()}
                </select>
            </label>
        </div>
        <div class="subscriber-list" aria-busy=move || busy().to_string()>
        {move || match view_state.get() {
            View::Loading => view! { <p class="loading" role="status">"Loading subscribers…"</p> }.into_any(),
            View::Failed(message) => view! { <p class="alert alert-danger" role="alert">{message}</p> }.into_any(),
            View::Loaded(page) => {
                let first = previous.with(Vec::len) as u64 * u64::from(page_size.get_untracked()) + 1;
                let last = first + page.subscribers.len() as u64 - 1;
                view! {
                    <p class="subscriber-count" role="status">
                        {match page.total {
                            0 => "No subscribers yet.".to_owned(),
                            1 => "1 subscriber.".to_owned(),
                            n => format!("{n} subscribers. Showing {first}–{last}."),
                        }}
                    </p>
                    <SubscriberTable rows=page.subscribers/>
                }
                .into_any()
            }
        }}
        </div>
        <nav class="pager" aria-label="Pages">
            <button
                type="button"
                class="button"
                on:click=back
                disabled=move || previous.with(Vec::is_empty)
            >
                "Previous"
            </button>
            <button
                type="button"
                class="button"
                on:click=next
                disabled=move || !matches!(view_state.get(), View::Loaded(SubscriberPage { next_cursor: Some(_), .. }))
            >
                "Next"
            </button>
        </nav>
    }
}

#[component]
fn SubscriberTable(rows: Vec<SubscriberRow>) -> impl IntoView {
    (!rows.is_empty()).then(|| {
        view! {
            <table class="subscribers">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Subscribed"</th>
                    </tr>
                </thead>
                <tbody>
                    // Text nodes only: an address is data, never markup.
                    {rows
                        .into_iter()
                        .map(|row| {
                            let shown = crate::admin::time_for_people(&row.subscribed_at);
                            view! {
                                <tr>
                                    <td>{row.email}</td>
                                    <td><time datetime=row.subscribed_at>{shown}</time></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
    })
}
