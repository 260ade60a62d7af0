use crate::{
    page_location::{self, site_path},
    pages::not_found::NotFound,
    stories::get_story,
};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

#[component]
pub fn StoryPage() -> impl IntoView {
    let params = use_params_map();
    let story = Resource::new(
        move || params.read().get("slug").unwrap_or_default(),
        get_story,
    );
    view! {
        <Suspense fallback=|| view! { <p class="container loading">"Loading story…"</p> }>
            {move || Suspend::new(async move {
                match story.await {
                    Ok(Some(story)) => {
                        let summary = story.summary;
                        view! {
                            <Title text=format!("{} · Serverless Stories", summary.title)/>
                            <Meta name="description" content=summary.teaser.clone()/>
                            <article class="container story">
                                <header class="story-header">
                                    <p class="breadcrumb">
                                        <a href=site_path("/")>"Top Stories"</a>
                                    </p>
                                    <h1>{summary.title}</h1>
                                    <p class="story-meta">
                                        "By " {summary.author} " · "
                                        <time datetime=summary.published_iso>{summary.published}</time>
                                    </p>
                                </header>
                                <img
                                    class="story-image"
                                    src=site_path(&summary.image)
                                    alt=summary.image_alt
                                    width="1280"
                                    height="720"
                                />
                                // Our own Markdown, rendered on the server with raw HTML escaped
                                // (stories::catalog::markdown_to_html): not user data.
                                <div class="story-body" inner_html=page_location::links_under_prefix(&story.body_html)></div>
                                <footer class="story-footer">
                                    <a href=site_path("/#newsletter") class="button button-primary">
                                        "Get new stories by email"
                                    </a>
                                </footer>
                            </article>
                        }
                            .into_any()
                    }
                    Ok(None) => view! { <NotFound/> }.into_any(),
                    Err(err) => {
                        view! {
                            <section class="container page-message">
                                <p class="alert alert-danger" role="alert">{err.message}</p>
                            </section>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
