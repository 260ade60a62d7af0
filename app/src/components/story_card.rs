use crate::{page_location::site_path, stories::StorySummary};
use leptos::prelude::*;

#[component]
pub fn StoryCard(story: StorySummary) -> impl IntoView {
    let href = site_path(&story.href());
    // Screen readers list links out of context, where "Read Story" alone would be ambiguous;
    // the label starts with the visible text, so voice control still finds it.
    let link_label = format!("Read Story: {}", story.title);
    view! {
        <article class="story-card">
            <img
                class="story-card-image"
                src=site_path(&story.image)
                alt=story.image_alt
                width="640"
                height="360"
            />
            <div class="story-card-body">
                <h2>{story.title}</h2>
                <p class="story-meta">
                    <time datetime=story.published_iso>{story.published}</time>
                </p>
                <p class="story-teaser">{story.teaser}</p>
                <a href=href class="button button-primary" aria-label=link_label>
                    "Read Story"
                </a>
            </div>
        </article>
    }
}
