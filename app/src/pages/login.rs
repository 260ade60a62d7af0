use crate::{
    auth::{Login, LoginStep, NewPasswordRequired, SetNewPassword},
    components::hydrated::hydrated,
    error::ApiError,
    session::{go_to, Session},
};
use leptos::prelude::*;
use leptos_meta::Title;

/// Username + password, then (for a temporary password, as Cognito hands out to new users) a
/// "choose a new password" step.
#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <Title text="Login · Serverless Stories"/>
        <section class="container narrow">
            <noscript>
                <p class="alert alert-info">"Logging in needs JavaScript: the browser keeps your session and signs admin requests."</p>
            </noscript>
            <LoginForm/>
        </section>
    }
}

// Lazy: its wasm is a separate chunk (`cargo leptos build --split`) that only this page loads.
#[island(lazy)]
fn LoginForm() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let new_password = ServerAction::<SetNewPassword>::new();
    // Set while the user must choose a new password.
    let challenge = RwSignal::new(None::<NewPasswordRequired>);
    let on_step = move |step: LoginStep| match step {
        LoginStep::SignedIn(signed_in) => {
            Session::signed_in(&signed_in.id_token);
            go_to("/admin");
        }
        LoginStep::NewPasswordRequired(required) => challenge.set(Some(required)),
    };
    Effect::new(move |_| {
        if let Some(Ok(step)) = login.value().get() {
            on_step(step);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(step)) = new_password.value().get() {
            on_step(step);
        }
    });
    move || match challenge.get() {
        None => view! { <PasswordForm action=login/> }.into_any(),
        Some(required) => view! { <NewPasswordForm action=new_password required/> }.into_any(),
    }
}

#[component]
fn PasswordForm(action: ServerAction<Login>) -> impl IntoView {
    let pending = action.pending();
    view! {
        <h1>"Login"</h1>
        <ActionForm action=action attr:class="stacked-form">
            <label for="login-username">"Username"</label>
            <input id="login-username" type="text" name="username" autocomplete="username" required/>
            <label for="login-password">"Password"</label>
            <input id="login-password" type="password" name="password" autocomplete="current-password" required/>
            <SubmitButton pending busy_label="Logging in…"/>
            <FormError value=action.value()/>
        </ActionForm>
    }
}

#[component]
fn NewPasswordForm(
    action: ServerAction<SetNewPassword>,
    required: NewPasswordRequired,
) -> impl IntoView {
    let pending = action.pending();
    view! {
        <h1>"Choose a new password"</h1>
        <p>"Your password was temporary. Choose the password you will use from now on."</p>
        <ActionForm action=action attr:class="stacked-form">
            <input type="hidden" name="username" value=required.username/>
            <input type="hidden" name="session" value=required.session/>
            <label for="new-password">"New password"</label>
            <input id="new-password" type="password" name="new_password" autocomplete="new-password" required/>
            <label for="confirm-password">"Confirm new password"</label>
            <input id="confirm-password" type="password" name="confirm_password" autocomplete="new-password" required/>
            <SubmitButton pending busy_label="Saving…"/>
            <FormError value=action.value()/>
        </ActionForm>
    }
}

#[component]
fn SubmitButton(pending: Memo<bool>, busy_label: &'static str) -> impl IntoView {
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
