use crate::{
    auth::{client, fields, LoginStep, NewPasswordRequired},
    components::hydrated::hydrated,
    error::ApiError,
    page_location::site_path,
    provider_sign_in::{self as provider_paths, ProviderSignInFailure, SignInMethod},
    session::{go_to, Session},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// Username + password, then (for a temporary password, as Cognito hands out to new users) a
/// "choose a new password" step. With an OpenID Connect provider, a link to its pages instead.
#[component]
pub fn LoginPage() -> impl IntoView {
    let form = match sign_in_method() {
        SignInMethod::Password => view! {
            <noscript>
                <p class="alert alert-info">"Logging in needs JavaScript: the browser keeps your session and signs admin requests."</p>
            </noscript>
            <LoginForm/>
        }
        .into_any(),
        SignInMethod::Provider { name } => view! { <ProviderSignIn name/> }.into_any(),
    };
    view! {
        <Title text="Login · Serverless Stories"/>
        <section class="container narrow">{form}</section>
    }
}

/// How this site signs admins in (the page is rendered on the server, which knows).
fn sign_in_method() -> SignInMethod {
    #[cfg(feature = "ssr")]
    if let Some(services) = use_context::<std::sync::Arc<crate::services::Services>>() {
        return services.identity.sign_in_method();
    }
    SignInMethod::Password
}

/// "Log in with <provider>": a plain link (no JavaScript needed to sign in); the server runs
/// the authorization code flow and lands on the admin page. After a failed attempt or a log-out
/// (see the navbar), the page says so.
#[component]
fn ProviderSignIn(name: String) -> impl IntoView {
    let failure = crate::page_location::query("failed")
        .and_then(|code| ProviderSignInFailure::from_code(&code));
    let signed_out = crate::page_location::query("signed_out").is_some_and(|v| v == "provider");
    view! {
        <h1>"Login"</h1>
        {failure.map(|failure| view! { <p class="alert alert-danger" role="alert">{failure.message()}</p> })}
        {signed_out.then(|| view! {
            <div class="alert alert-info" role="status">
                <p>{format!("You are logged out of this site. You may still be signed in at {name}.")}</p>
                <p><a href=site_path(provider_paths::SIGN_OUT)>{format!("Log out of {name} too")}</a></p>
            </div>
        })}
        <p>{format!("Admins sign in with {name}.")}</p>
        <p><a class="button button-primary" href=site_path(provider_paths::SIGN_IN)>{format!("Log in with {name}")}</a></p>
    }
}

/// The answer to the last submit of a form, and whether one is under way.
#[derive(Clone, Copy)]
struct Submission {
    answer: RwSignal<Option<Result<LoginStep, ApiError>>>,
    pending: RwSignal<bool>,
}

impl Submission {
    fn new() -> Self {
        Self {
            answer: RwSignal::new(None),
            pending: RwSignal::new(false),
        }
    }

    /// Sends one request at a time; `on_step` gets what a successful one answered.
    fn send<F>(self, request: F, on_step: impl Fn(LoginStep) + 'static)
    where
        F: std::future::Future<Output = Result<LoginStep, ApiError>> + 'static,
    {
        if self.pending.get_untracked() {
            return;
        }
        self.pending.set(true);
        leptos::task::spawn_local(async move {
            let answer = request.await;
            let step = answer.as_ref().ok().cloned();
            self.answer.set(Some(answer));
            self.pending.set(false);
            // Last: a step can replace this form (and its signals).
            if let Some(step) = step {
                on_step(step);
            }
        });
    }
}

/// The current value of a text input (empty if it is not rendered).
fn value_of(input: NodeRef<leptos::html::Input>) -> String {
    input
        .get_untracked()
        .map(|input| input.value())
        .unwrap_or_default()
}

// Lazy: its wasm is a separate chunk (`cargo leptos build --split`) that only this page loads.
#[island(lazy)]
fn LoginForm() -> impl IntoView {
    // Set while the user must choose a new password.
    let challenge = RwSignal::new(None::<NewPasswordRequired>);
    let on_step = move |step: LoginStep| match step {
        LoginStep::SignedIn(signed_in) => {
            Session::signed_in(&signed_in.id_token);
            go_to("/admin");
        }
        LoginStep::NewPasswordRequired(required) => challenge.set(Some(required)),
    };
    move || match challenge.get() {
        None => view! { <PasswordForm on_step/> }.into_any(),
        Some(required) => view! { <NewPasswordForm on_step required/> }.into_any(),
    }
}

#[component]
fn PasswordForm(on_step: impl Fn(LoginStep) + Copy + 'static) -> impl IntoView {
    let submission = Submission::new();
    let username = NodeRef::<leptos::html::Input>::new();
    let password = NodeRef::<leptos::html::Input>::new();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let (username, password) = (value_of(username), value_of(password));
        submission.send(
            async move { client::login(&username, &password).await },
            on_step,
        );
    };
    view! {
        <h1>"Login"</h1>
        <form action=site_path(client::login_path()) method="post" class="stacked-form" on:submit=on_submit>
            <label for="login-username">"Username"</label>
            <input node_ref=username id="login-username" type="text" name=fields::USERNAME autocomplete="username" required/>
            <label for="login-password">"Password"</label>
            <input node_ref=password id="login-password" type="password" name=fields::PASSWORD autocomplete="current-password" required/>
            <SubmitButton pending=submission.pending busy_label="Logging in…"/>
            <FormError value=submission.answer/>
        </form>
    }
}

#[component]
fn NewPasswordForm(
    on_step: impl Fn(LoginStep) + Copy + 'static,
    required: NewPasswordRequired,
) -> impl IntoView {
    let submission = Submission::new();
    let new_password = NodeRef::<leptos::html::Input>::new();
    let confirm_password = NodeRef::<leptos::html::Input>::new();
    let challenge = StoredValue::new((required.username.clone(), required.session.clone()));
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let (username, session) = challenge.get_value();
        let (new_password, confirm_password) = (value_of(new_password), value_of(confirm_password));
        submission.send(
            async move {
                client::set_new_password(&username, &session, &new_password, &confirm_password)
                    .await
            },
            on_step,
        );
    };
    view! {
        <h1>"Choose a new password"</h1>
        <p>"Your password was temporary. Choose the password you will use from now on."</p>
        <form action=site_path(client::new_password_path()) method="post" class="stacked-form" on:submit=on_submit>
            <input type="hidden" name=fields::USERNAME value=required.username/>
            <input type="hidden" name=fields::SESSION value=required.session/>
            <label for="new-password">"New password"</label>
            <input node_ref=new_password id="new-password" type="password" name=fields::NEW_PASSWORD autocomplete="new-password" required/>
            <label for="confirm-password">"Confirm new password"</label>
            <input node_ref=confirm_password id="confirm-password" type="password" name=fields::CONFIRM_PASSWORD autocomplete="new-password" required/>
            <SubmitButton pending=submission.pending busy_label="Saving…"/>
            <FormError value=submission.answer/>
        </form>
    }
}

#[component]
fn SubmitButton(#[prop(into)] pending: Signal<bool>, busy_label: &'static str) -> impl IntoView {
    let hydrated = hydrated();
    view! {
        <button type="submit" class="button button-primary" disabled=move || pending.get() || !hydrated.get()>
            {move || if pending.get() { busy_label } else { "Submit" }}
        </button>
    }
}

/// The last answer's error, announced to screen readers.
#[component]
fn FormError(#[prop(into)] value: Signal<Option<Result<LoginStep, ApiError>>>) -> impl IntoView {
    let message = move || match value.get() {
        Some(Err(err)) => Some(err.message),
        _ => None,
    };
    view! {
        <div aria-live="polite">
            {move || message().map(|message| view! { <p class="alert alert-danger" role="alert">{message}</p> })}
        </div>
    }
}
