use crate::{auth::Login, session::use_session};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    let action = ServerAction::<Login>::new();
    let pending = action.pending();
    Effect::new(move |_| {
        if let Some(Ok(signed_in)) = action.value().get() {
            session.signed_in(signed_in.id_token);
            navigate("/admin", Default::default());
        }
    });
    let error = move || match action.value().get() {
        Some(Err(err)) => Some(err.message),
        _ => None,
    };
    view! {
        <Title text="Login · Serverless Stories"/>
        <section class="container narrow">
            <h1>"Login"</h1>
            <noscript>
                <p class="alert alert-info">"Logging in needs JavaScript: the browser keeps your session and signs admin requests."</p>
            </noscript>
            <ActionForm action=action attr:class="stacked-form">
                <label for="login-username">"Username"</label>
                <input id="login-username" type="text" name="username" autocomplete="username" required/>
                <label for="login-password">"Password"</label>
                <input id="login-password" type="password" name="password" autocomplete="current-password" required/>
                <button type="submit" class="button button-primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Logging in…" } else { "Submit" }}
                </button>
                <div aria-live="polite">
                    {move || error().map(|message| view! { <p class="alert alert-danger" role="alert">{message}</p> })}
                </div>
            </ActionForm>
        </section>
    }
}
