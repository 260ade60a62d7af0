//! The admin page: gets temporary credentials with the stored ID token, then lists subscribers
//! with SigV4-signed calls, page by page.

use crate::{
    admin::{
        client::{erase_subscriber, export_csv, list_subscribers, unsubscribe_subscriber, Shown},
        SubscriberPage, SubscriberRow,
    },
    auth::{client::credentials, CredentialsForIdentity},
    components::hydrated::hydrated,
    error::{ApiError, ApiErrorKind},
    session::{go_to, Session},
    sigv4_signer::SigningIdentity,
    subscriber_status::{Status, StatusCounts},
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

pub(super) enum Failure {
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

/// Makes a signed call with credentials for the stored session, renewing them once if the
/// server says they expired.
pub(super) async fn signed_call<T, Call, Answer>(token: &str, call: Call) -> Result<T, Failure>
where
    Call: Fn(SigningIdentity) -> Answer,
    Answer: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut renew = false;
    loop {
        let creds = ensure_credentials(token, renew).await?;
        let identity = SigningIdentity {
            credentials: creds.credentials,
            region: creds.region,
        };
        match call(identity).await {
            Ok(answer) => return Ok(answer),
            // Expired credentials: fetch new ones once and retry.
            Err(ApiError {
                error: ApiErrorKind::ExpiredCredentials,
                ..
            }) if !renew => renew = true,
            Err(err) => return Err(Failure::Message(err.message)),
        }
    }
}

/// The stored session's token; without one, off to the home page.
pub(super) fn session_token() -> Option<String> {
    let token = Session::stored_token();
    if token.is_none() {
        go_to("/");
    }
    token
}

/// The session is no good any more: forget it and go home.
pub(super) fn signed_out() {
    Session::sign_out();
    go_to("/");
}

/// Saves `text` as a file the browser downloads.
fn save_file(name: &str, text: &str) -> Result<(), String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let failed = |_| "The browser could not save the file.".to_owned();
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type("text/csv;charset=utf-8");
        let blob =
            web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(failed)?;
        let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(failed)?;
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or("no document")?;
        let link: web_sys::HtmlElement = document
            .create_element("a")
            .map_err(failed)?
            .dyn_into()
            .map_err(|_| "no link element".to_owned())?;
        link.set_attribute("href", &url).map_err(failed)?;
        link.set_attribute("download", name).map_err(failed)?;
        link.click();
        let _ = web_sys::Url::revoke_object_url(&url);
        Ok(())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (name, text);
        Err("Downloads happen in the browser.".to_owned())
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    view! {
        <Title text="Admin · Serverless Stories"/>
        <section class="container">
            <h1>"Admin"</h1>
            <h2>"Overview"</h2>
            <super::admin_dashboard::DashboardPanel/>
            <h2>"Newsletter"</h2>
            <super::admin_issues::IssueDeskPanel/>
            <h2>"List of Subscribers"</h2>
            <SubscriberList/>
        </section>
    }
}

/// A message about the last action: whether it went well, and what to say.
pub(super) type Notice = Option<(bool, String)>;

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
    let shown = RwSignal::new(Shown::default());
    let notice = RwSignal::new(Notice::None);
    // The address whose erasure waits for a second, explicit press.
    let confirming_erase = RwSignal::new(None::<String>);
    // Loads can overlap (a page size chosen while the first page is on its way): only the latest
    // one's answer is shown, whatever order the answers arrive in.
    let latest_load = StoredValue::new(0u64);
    let loads_in_flight = RwSignal::new(0u32);
    let acting = RwSignal::new(false);

    let failed = move |failure: Failure| match failure {
        Failure::SignedOut => signed_out(),
        Failure::Message(message) => notice.set(Some((false, message))),
    };

    let load = move |cursor: Option<String>| {
        let Some(token) = session_token() else {
            return;
        };
        latest_load.update_value(|n| *n += 1);
        let this_load = latest_load.get_value();
        loads_in_flight.update(|n| *n += 1);
        view_state.set(View::Loading);
        spawn_local(async move {
            let filter = shown.get_untracked();
            let size = page_size.get_untracked();
            let answer = signed_call(&token, |identity| {
                let (filter, cursor) = (filter.clone(), cursor.clone());
                async move { list_subscribers(&identity, &filter, cursor.as_deref(), size).await }
            })
            .await;
            loads_in_flight.update(|n| *n = n.saturating_sub(1));
            if latest_load.get_value() != this_load {
                return;
            }
            match answer {
                Ok(page) => {
                    current.set(cursor);
                    view_state.set(View::Loaded(page));
                }
                Err(Failure::SignedOut) => failed(Failure::SignedOut),
                Err(Failure::Message(message)) => view_state.set(View::Failed(message)),
            }
        });
    };
    let reload_from_start = move || {
        previous.set(Vec::new());
        load(None);
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
            reload_from_start();
        }
    };
    let filter_status = move |ev| {
        let status = Status::parse(&event_target_value(&ev));
        shown.update(|shown| shown.status = status);
        reload_from_start();
    };
    let search_input = NodeRef::<leptos::html::Input>::new();
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = search_input
            .get_untracked()
            .map(|input| input.value())
            .unwrap_or_default();
        shown.update(|shown| shown.search = text);
        reload_from_start();
    };

    // An action on one address (unsubscribe, erase): signed, then the page is read again so the
    // row and the counts show the new state.
    let act = move |email: String, erase: bool| {
        let Some(token) = session_token() else {
            return;
        };
        acting.set(true);
        confirming_erase.set(None);
        spawn_local(async move {
            let answer = signed_call(&token, |identity| {
                let email = email.clone();
                async move {
                    if erase {
                        erase_subscriber(&identity, &email).await
                    } else {
                        unsubscribe_subscriber(&identity, &email).await
                    }
                }
            })
            .await;
            acting.set(false);
            match answer {
                Ok(done) => {
                    notice.set(Some((true, done)));
                    load(current.get_untracked());
                }
                Err(failure) => failed(failure),
            }
        });
    };
    let export = move |_| {
        let Some(token) = session_token() else {
            return;
        };
        acting.set(true);
        spawn_local(async move {
            let filter = shown.get_untracked();
            let csv = signed_call(&token, |identity| {
                let filter = filter.clone();
                async move { export_csv(&identity, &filter).await }
            })
            .await;
            acting.set(false);
            match csv {
                Ok(csv) => {
                    let name = format!("subscribers-{}.csv", today());
                    match save_file(&name, &csv) {
                        Ok(()) => notice.set(Some((true, format!("Exported {name}.")))),
                        Err(message) => notice.set(Some((false, message))),
                    }
                }
                Err(failure) => failed(failure),
            }
        });
    };

    let hydrated = hydrated();
    let busy = move || loads_in_flight.get() > 0 || view_state.with(|v| *v == View::Loading);
    let controls_off = move || !hydrated.get() || acting.get();
    view! {
        <div class="admin-toolbar">
            <label>
                "Show "
                <select on:change=filter_status disabled=move || !hydrated.get()>
                    <option value="">"Everyone"</option>
                    {Status::ALL.map(|status| view! { <option value=status.as_str()>{status_label(status)}</option> }).collect_view()}
                </select>
            </label>
            <form class="admin-search" role="search" on:submit=search>
                <label for="subscriber-search">"Address contains"</label>
                <input node_ref=search_input id="subscriber-search" type="search" maxlength="320" disabled=move || !hydrated.get()/>
                <button type="submit" class="button" disabled=move || !hydrated.get()>"Search"</button>
            </form>
            <label>
                "Per page "
                <select on:change=resize prop:value=move || page_size.get().to_string() disabled=move || !hydrated.get()>
                    {PAGE_SIZES.map(|size| view! { <option value=size.to_string()>{size}</option> }).collect_view()}
                </select>
            </label>
            <button type="button" class="button" on:click=export disabled=controls_off>"Export CSV"</button>
        </div>
        // A live region (announced when its text changes), but not a second `status`: the count
        // line is the page's status.
        <div class="admin-notice subscriber-notice" aria-live="polite">
            {move || notice.get().map(|(ok, text)| {
                let class = if ok { "alert alert-success" } else { "alert alert-danger" };
                view! { <p class=class>{text}</p> }
            })}
        </div>
        <div class="subscriber-list" aria-busy=move || busy().to_string()>
        {move || match view_state.get() {
            View::Loading => view! { <p class="loading" role="status">"Loading subscribers…"</p> }.into_any(),
            View::Failed(message) => view! { <p class="alert alert-danger" role="alert">{message}</p> }.into_any(),
            View::Loaded(page) => {
                let first = previous.with(Vec::len) as u64 * u64::from(page_size.get_untracked()) + 1;
                let last = first + page.subscribers.len() as u64 - 1;
                let filtered = shown.with_untracked(|shown| *shown != Shown::default());
                view! {
                    <p class="subscriber-count" role="status">
                        {match (page.total, filtered, page.subscribers.len()) {
                            (0, _, _) => "No subscribers yet.".to_owned(),
                            (_, true, 0) => "No subscriber matches.".to_owned(),
                            (_, true, _) => format!("Matching subscribers {first}–{last}."),
                            (1, _, _) => "1 subscriber.".to_owned(),
                            (n, _, _) => format!("{n} subscribers. Showing {first}–{last}."),
                        }}
                    </p>
                    <StatusCountsLine counts=page.counts/>
                    <SubscriberTable
                        rows=page.subscribers
                        confirming_erase
                        act
                        controls_off=Signal::derive(controls_off)
                    />
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

/// Today's date (UTC) for a file name, from the browser's clock.
fn today() -> String {
    let at = time::OffsetDateTime::from(crate::api_client::now());
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

pub(super) fn status_label(status: Status) -> &'static str {
    match status {
        Status::Pending => "Pending",
        Status::Confirmed => "Confirmed",
        Status::Unsubscribed => "Unsubscribed",
    }
}

#[component]
fn StatusCountsLine(counts: StatusCounts) -> impl IntoView {
    view! {
        <ul class="status-counts" aria-label="Subscribers per status">
            {Status::ALL
                .map(|status| view! { <li>{status_label(status)} ": " <strong>{counts.get(status)}</strong></li> })
                .collect_view()}
        </ul>
    }
}

#[component]
fn SubscriberTable(
    rows: Vec<SubscriberRow>,
    confirming_erase: RwSignal<Option<String>>,
    act: impl Fn(String, bool) + Copy + Send + Sync + 'static,
    controls_off: Signal<bool>,
) -> impl IntoView {
    (!rows.is_empty()).then(|| {
        view! {
            <table class="subscribers">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Subscribed"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    // Text nodes only: an address is data, never markup.
                    {rows
                        .into_iter()
                        .map(|row| {
                            let shown = crate::admin::time_for_people(&row.subscribed_at);
                            let email = StoredValue::new(row.email.clone());
                            let confirming = move || confirming_erase.with(|c| c.as_deref() == Some(email.get_value().as_str()));
                            let unsubscribed = row.status == Status::Unsubscribed;
                            view! {
                                <tr>
                                    <td>{row.email}</td>
                                    <td><span class=format!("status status-{}", row.status.as_str())>{status_label(row.status)}</span></td>
                                    <td><time datetime=row.subscribed_at>{shown}</time></td>
                                    <td class="row-actions">
                                        <Show
                                            when=confirming
                                            fallback=move || view! {
                                                <button type="button" class="button button-small" disabled=move || controls_off.get() || unsubscribed
                                                    on:click=move |_| act(email.get_value(), false)>"Unsubscribe"</button>
                                                <button type="button" class="button button-small button-danger" disabled=move || controls_off.get()
                                                    on:click=move |_| confirming_erase.set(Some(email.get_value()))>"Delete…"</button>
                                            }
                                        >
                                            <span role="alert">"Erase every record of this address? This cannot be undone. "</span>
                                            <button type="button" class="button button-small button-danger" disabled=move || controls_off.get()
                                                on:click=move |_| act(email.get_value(), true)>"Erase"</button>
                                            <button type="button" class="button button-small"
                                                on:click=move |_| confirming_erase.set(None)>"Cancel"</button>
                                        </Show>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        }
    })
}
