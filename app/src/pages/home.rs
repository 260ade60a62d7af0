use crate::{
    components::{newsletter::Newsletter, story_card::StoryCard},
    stories::list_stories,
    SITE_NAME,
};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

#[component]
pub fn HomePage() -> impl IntoView {
    let stories = Resource::new(|| (), |_| list_stories());
    view! {
        <Title text=SITE_NAME/>
        <Meta name="description" content="Stories about serverless computing, and a newsletter to hear about new ones."/>
        <div class="container">
            <section class="top-stories" aria-labelledby="top-stories-heading">
                <h1 id="top-stories-heading">"Top Stories"</h1>
                <Suspense fallback=|| view! { <p class="loading">"Loading stories…"</p> }>
                    {move || Suspend::new(async move {
                        match stories.await {
                            Ok(list) => {
                                view! {
                                    <div class="story-grid">
                                        {list
                                            .into_iter()
                                            .map(|story| view! { <StoryCard story/> })
                                            .collect_view()}
                                    </div>
                                }
                                    .into_any()
                            }
                            Err(err) => {
                                view! { <p class="alert alert-danger" role="alert">{err.message}</p> }
                                    .into_any()
                            }
                        }
                    })}
                </Suspense>
            </section>
            <Newsletter/>
        </div>
    }
}
