//! The behaviours every `SubscriberStore` must have, and `store_contract!`, which runs all of
//! them against an adapter: each adapter's tests invoke it once, saying how to make a fresh,
//! empty store and a broken one. A new contract test is a function here plus its name in
//! `store_contract!`'s list; every adapter then runs it.

use app::{
    store::{Insert, StoreError, SubscriberStore},
    subscriber_email::SubscriberEmail,
};
use std::sync::Arc;

type Store = Arc<dyn SubscriberStore>;
use time::OffsetDateTime;

fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).expect("test address is valid")
}

pub async fn new_then_duplicate(store: Store) {
    let ada = email("ada@example.com");
    assert_eq!(store.find(&ada).await.unwrap(), None);
    let at = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
    assert_eq!(store.subscribe(&ada, at).await.unwrap(), Insert::Added);
    assert_eq!(
        store
            .subscribe(&ada, OffsetDateTime::now_utc())
            .await
            .unwrap(),
        Insert::AlreadyPresent
    );
    let stored = store.find(&ada).await.unwrap().expect("stored");
    assert_eq!(stored.email, "ada@example.com");
    // The first subscription's time is kept.
    assert_eq!(stored.subscribed_at, at);
}

pub async fn case_variants_are_one_subscriber(store: Store) {
    let typed = email("Grace.Hopper@Example.COM");
    let at = OffsetDateTime::now_utc();
    assert_eq!(store.subscribe(&typed, at).await.unwrap(), Insert::Added);
    for variant in ["grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM"] {
        assert_eq!(
            store.subscribe(&email(variant), at).await.unwrap(),
            Insert::AlreadyPresent,
            "{variant}"
        );
    }
    // Stored as first typed, found by any variant.
    let stored = store
        .find(&email("grace.HOPPER@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.email, "Grace.Hopper@Example.COM");
}

pub async fn concurrent_subscribes_have_one_winner(store: Store) {
    let racer = email("racer@example.com");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let racer = racer.clone();
            tokio::spawn(async move { store.subscribe(&racer, OffsetDateTime::now_utc()).await })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() == Insert::Added {
            added += 1;
        }
    }
    assert_eq!(added, 1);
    assert_eq!(
        store.count().await.unwrap(),
        1,
        "one subscriber counted once"
    );
}

/// Many different addresses at once (what group commit batches): each one added exactly once.
pub async fn concurrent_distinct_subscribes_are_all_added(store: Store) {
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let address = email(&format!("reader{i}@example.com"));
                store.subscribe(&address, OffsetDateTime::now_utc()).await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), Insert::Added);
    }
    // The count is checked by the sequential tests: moto (the DynamoDB emulator in the tests)
    // loses an occasional concurrent `ADD`, which DynamoDB itself applies atomically.
    let listed = store.page(None, 1000).await.unwrap();
    assert_eq!(listed.subscribers.len(), 120);
    for i in [0, 59, 119] {
        let address = email(&format!("READER{i}@example.com"));
        assert!(store.find(&address).await.unwrap().is_some());
    }
}

pub async fn health_check_passes(store: Store) {
    store.check().await.expect("a fresh store is healthy");
}

pub async fn pages_cover_everything_once_and_count_matches(store: Store) {
    let empty = store.page(None, 10).await.unwrap();
    assert!(empty.subscribers.is_empty());
    assert_eq!(empty.next_cursor, None);
    assert_eq!(store.count().await.unwrap(), 0);

    let total = 53;
    let at = OffsetDateTime::now_utc();
    for i in 0..total {
        let address = format!("Reader{i:03}@Example.com");
        assert_eq!(
            store.subscribe(&email(&address), at).await.unwrap(),
            Insert::Added
        );
    }
    assert_eq!(store.count().await.unwrap(), total);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.page(cursor.as_deref(), 10).await.unwrap();
        assert!(page.subscribers.len() <= 10);
        pages += 1;
        seen.extend(page.subscribers.into_iter().map(|s| s.email));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 6);
    let mut expected: Vec<String> = (0..total)
        .map(|i| format!("Reader{i:03}@Example.com"))
        .collect();
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every subscriber exactly once, as typed");

    // A page exactly as large as what is left ends the listing.
    let all = store.page(None, total as u32).await.unwrap();
    assert_eq!(all.subscribers.len(), total as usize);
    assert_eq!(all.next_cursor, None);
}

pub async fn foreign_cursors_are_refused(store: Store) {
    for cursor in ["", "!!not-base64!!", "%%%"] {
        assert!(
            matches!(
                store.page(Some(cursor), 10).await,
                Err(StoreError::BadCursor)
            ),
            "{cursor:?}"
        );
    }
}

/// `store` is one whose backend is down or broken: every operation is an error, and a subscribe
/// is never reported as a duplicate (the visitor must not be told they are subscribed).
pub async fn outage_is_an_error_never_a_duplicate(store: Store) {
    let visitor = email("visitor@example.com");
    assert!(matches!(
        store.subscribe(&visitor, OffsetDateTime::now_utc()).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(store.find(&visitor).await.is_err());
    assert!(store.page(None, 10).await.is_err());
    assert!(store.count().await.is_err());
    assert!(store.check().await.is_err());
}

/// Runs every contract test against an adapter, each in its own `#[tokio::test]` (named after
/// the contract function, in a `contract` module). `fresh` is a future giving `(guard, store)`:
/// a new, empty store, and whatever must live as long as it (a temporary directory, or `()`).
/// `broken` is a future giving a list of such pairs whose backend is down or damaged.
macro_rules! store_contract {
    (fresh: $fresh:expr, broken: $broken:expr $(,)?) => {
        mod contract {
            #[allow(unused_imports)]
            use super::*;

            $crate::store::contract::store_contract!(@each $fresh;
                new_then_duplicate,
                case_variants_are_one_subscriber,
                concurrent_subscribes_have_one_winner,
                concurrent_distinct_subscribes_are_all_added,
                pages_cover_everything_once_and_count_matches,
                foreign_cursors_are_refused,
                health_check_passes,
            );

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn outage_is_an_error_never_a_duplicate() {
                for (_guard, store) in $broken.await {
                    $crate::store::contract::outage_is_an_error_never_a_duplicate(
                        std::sync::Arc::new(store),
                    )
                    .await;
                }
            }
        }
    };
    (@each $fresh:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let (_guard, store) = $fresh.await;
                $crate::store::contract::$test(std::sync::Arc::new(store)).await;
            }
        )*
    };
}
pub(crate) use store_contract;
