use leptos::prelude::*;

/// False in the server's HTML and until the island around it has hydrated. Lazy islands load
/// their code after the page, so their controls stay disabled until that code can handle them
/// (instead of a click doing nothing, or a change being undone by hydration).
pub fn hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    // Effects run only in the browser, once hydrated.
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}
