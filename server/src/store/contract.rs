//! The behaviours every `SubscriberStore` must have, and `store_contract!`, which runs all of
//! them against an adapter: each adapter's tests invoke it once, saying how to make a fresh,
//! empty store and a broken one. A new contract test is a function here plus its name in
//! `store_contract!`'s list; every adapter then runs it.

use app::{
    store::{
        Confirmation, Confirmed, ConsentEventKind, ListFilter, NewSubscription, Status,
        StatusCounts, StoreError, Subscribed, SubscriberStore, Unsubscribed, Unsubscriber,
    },
    subscriber_email::SubscriberEmail,
};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

type Store = Arc<dyn SubscriberStore>;

pub fn email(s: &str) -> SubscriberEmail {
    SubscriberEmail::parse(s).expect("test address is valid")
}

/// A fixed, whole-hour time (stores may count pending subscriptions per expiry hour).
fn hour(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000 / 3600 * 3600 + n * 3600).unwrap()
}

/// Now, on the hour before (so `now()` is after it and within the hour).
fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn this_hour() -> OffsetDateTime {
    let now = now().unix_timestamp();
    OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(3600)).unwrap()
}

fn token(name: &str) -> String {
    format!(
        "unsubscribe-{name}-{}",
        hex::encode(app::credentials::random_bytes::<8>().unwrap())
    )
}

/// A subscribe without double opt-in.
pub fn confirmed_at_once(email: &SubscriberEmail, at: OffsetDateTime) -> NewSubscription<'_> {
    NewSubscription {
        email,
        at,
        source: "form on /",
        client_ip: None,
        confirmation: None,
    }
}

/// Subscribes as asked (a new subscription) and makes the address's unsubscribe secret, as the
/// first mail to it does; returns the secret.
async fn subscribe_with_link(store: &Store, request: &NewSubscription<'_>) -> String {
    assert_eq!(store.subscribe(request).await.unwrap(), Subscribed::New);
    let made = token("link");
    let stored = store
        .unsubscribe_token(request.email, &made)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored, made,
        "a new subscription has no secret until a mail needs one"
    );
    // Made once: asking again gives the same one.
    assert_eq!(
        store
            .unsubscribe_token(request.email, &token("again"))
            .await
            .unwrap(),
        Some(made.clone())
    );
    made
}

fn pending<'a>(email: &'a SubscriberEmail, at: OffsetDateTime, hash: &str) -> NewSubscription<'a> {
    NewSubscription {
        confirmation: Some(Confirmation {
            token_hash: hash.to_owned(),
            expires_at: this_hour() + Duration::hours(49),
        }),
        ..confirmed_at_once(email, at)
    }
}

fn counts(pending: u64, confirmed: u64, unsubscribed: u64) -> StatusCounts {
    StatusCounts {
        pending,
        confirmed,
        unsubscribed,
    }
}

fn is_new(subscribed: &Subscribed) -> bool {
    *subscribed == Subscribed::New
}

pub async fn new_then_duplicate(store: Store) {
    let ada = email("ada@example.com");
    assert_eq!(store.record(&ada).await.unwrap(), None);
    let at = hour(0);
    assert!(is_new(
        &store.subscribe(&confirmed_at_once(&ada, at)).await.unwrap()
    ));
    assert_eq!(
        store
            .subscribe(&confirmed_at_once(&ada, now()))
            .await
            .unwrap(),
        Subscribed::AlreadyConfirmed
    );
    let record = store.record(&ada).await.unwrap().expect("stored");
    assert_eq!(record.subscriber.email, "ada@example.com");
    assert_eq!(record.subscriber.status, Status::Confirmed);
    // The first subscription's time is kept.
    assert_eq!(record.subscriber.subscribed_at, at);
    assert_eq!(record.subscriber.confirmed_at, Some(at));
    assert_eq!(record.history.len(), 1);
    assert_eq!(record.history[0].kind, ConsentEventKind::Subscribed);
    assert_eq!(record.history[0].source, "form on /");
    assert_eq!(record.history[0].client_ip, None);
    assert_eq!(
        record.unsubscribe_token, None,
        "made when the first mail needs it"
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
}

pub async fn case_variants_are_one_subscriber(store: Store) {
    let typed = email("Grace.Hopper@Example.COM");
    let at = now();
    assert!(is_new(
        &store
            .subscribe(&confirmed_at_once(&typed, at))
            .await
            .unwrap()
    ));
    for variant in ["grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM"] {
        assert_eq!(
            store
                .subscribe(&confirmed_at_once(&email(variant), at))
                .await
                .unwrap(),
            Subscribed::AlreadyConfirmed,
            "{variant}"
        );
    }
    // Stored as first typed, found by any variant.
    let stored = store
        .record(&email("grace.HOPPER@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.subscriber.email, "Grace.Hopper@Example.COM");
}

pub async fn concurrent_subscribes_have_one_winner(store: Store) {
    let racer = email("racer@example.com");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            let racer = racer.clone();
            tokio::spawn(async move { store.subscribe(&confirmed_at_once(&racer, now())).await })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        if is_new(&task.await.unwrap().unwrap()) {
            added += 1;
        }
    }
    assert_eq!(added, 1);
    assert_eq!(
        store.counts(now()).await.unwrap(),
        counts(0, 1, 0),
        "counted once"
    );
}

/// Many different addresses at once (what group commit batches): each one added exactly once.
pub async fn concurrent_distinct_subscribes_are_all_added(store: Store) {
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let address = email(&format!("reader{i}@example.com"));
                store.subscribe(&confirmed_at_once(&address, now())).await
            })
        })
        .collect();
    for task in tasks {
        assert!(is_new(&task.await.unwrap().unwrap()));
    }
    // The count is checked by the sequential tests: moto (the DynamoDB emulator in the tests)
    // loses an occasional concurrent `ADD`, which DynamoDB itself applies atomically.
    let listed = store
        .page(&ListFilter::default(), None, 1000, now())
        .await
        .unwrap();
    assert_eq!(listed.subscribers.len(), 120);
    for i in [0, 59, 119] {
        let address = email(&format!("READER{i}@example.com"));
        assert!(store.record(&address).await.unwrap().is_some());
    }
}

/// Addresses that look like the store's own bookkeeping (a DynamoDB store keeps counters under
/// keys starting with `#`) are subscribers like any other.
pub async fn addresses_starting_with_a_hash_are_subscribers(store: Store) {
    let tagged = email("#subscriber-count@example.com");
    assert!(is_new(
        &store
            .subscribe(&confirmed_at_once(&tagged, now()))
            .await
            .unwrap()
    ));
    let listed = store
        .page(&ListFilter::default(), None, 10, now())
        .await
        .unwrap();
    assert_eq!(listed.subscribers.len(), 1);
    assert_eq!(listed.subscribers[0].email, "#subscriber-count@example.com");
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
}

pub async fn health_check_passes(store: Store) {
    store.check().await.expect("a fresh store is healthy");
}

pub async fn pages_cover_everything_once_and_counts_match(store: Store) {
    let all = ListFilter::default();
    let empty = store.page(&all, None, 10, now()).await.unwrap();
    assert!(empty.subscribers.is_empty());
    assert_eq!(empty.next_cursor, None);
    assert_eq!(store.counts(now()).await.unwrap(), StatusCounts::default());

    let total = 53;
    for i in 0..total {
        let address = email(&format!("Reader{i:03}@Example.com"));
        assert!(is_new(
            &store
                .subscribe(&confirmed_at_once(&address, now()))
                .await
                .unwrap()
        ));
    }
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, total, 0));

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .page(&all, cursor.as_deref(), 10, now())
            .await
            .unwrap();
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
    let everything = store.page(&all, None, total as u32, now()).await.unwrap();
    assert_eq!(everything.subscribers.len(), total as usize);
    assert_eq!(everything.next_cursor, None);
}

pub async fn foreign_cursors_are_refused(store: Store) {
    for cursor in ["", "!!not-base64!!", "%%%"] {
        assert!(
            matches!(
                store
                    .page(&ListFilter::default(), Some(cursor), 10, now())
                    .await,
                Err(StoreError::BadCursor)
            ),
            "{cursor:?}"
        );
    }
}

/// Double opt-in: pending until the mailed token comes back; a second subscribe changes
/// nothing; a renewed confirmation replaces the old link, at most once per interval.
pub async fn pending_until_confirmed(store: Store) {
    let ada = email("Ada@example.com");
    let asked = now();
    assert!(is_new(
        &store
            .subscribe(&pending(&ada, asked, "hash-1"))
            .await
            .unwrap()
    ));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.subscriber.status, Status::Pending);
    assert_eq!(record.subscriber.confirmed_at, None);
    assert_eq!(record.confirmation_sent_at, Some(asked));
    assert_eq!(record.expires_at, Some(this_hour() + Duration::hours(49)));
    assert_eq!(store.counts(now()).await.unwrap(), counts(1, 0, 0));

    // Asking again: nothing changes; the caller learns when the last mail went out.
    assert_eq!(
        store
            .subscribe(&pending(&ada, now(), "hash-other"))
            .await
            .unwrap(),
        Subscribed::AwaitingConfirmation {
            last_sent_at: asked
        }
    );
    let renewal = Confirmation {
        token_hash: "hash-2".into(),
        expires_at: this_hour() + Duration::hours(49),
    };
    let too_soon = asked - Duration::seconds(1);
    assert!(!store
        .renew_confirmation(&ada, &renewal, now(), too_soon)
        .await
        .unwrap());
    assert!(store
        .renew_confirmation(&ada, &renewal, now(), asked)
        .await
        .unwrap());
    // The renewal moved the time: a second one right away is refused.
    assert!(!store
        .renew_confirmation(&ada, &renewal, now(), asked)
        .await
        .unwrap());
    // The replaced link no longer works; the new one does, once.
    assert_eq!(
        store.confirm("hash-1", now(), None).await.unwrap(),
        Confirmed::Unknown
    );
    assert_eq!(
        store.confirm("forged", now(), None).await.unwrap(),
        Confirmed::Unknown
    );
    assert_eq!(
        store
            .confirm("hash-2", now(), Some("192.0.2.7"))
            .await
            .unwrap(),
        Confirmed::Confirmed("Ada@example.com".into())
    );
    assert_eq!(
        store.confirm("hash-2", now(), None).await.unwrap(),
        Confirmed::AlreadyConfirmed("Ada@example.com".into())
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.subscriber.status, Status::Confirmed);
    assert!(record.subscriber.confirmed_at.is_some());
    assert_eq!(
        record.expires_at, None,
        "a confirmed subscriber never expires"
    );
    let kinds: Vec<_> = record.history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ConsentEventKind::Subscribed, ConsentEventKind::Confirmed]
    );
    assert_eq!(record.history[1].source, "confirmation link");
    assert_eq!(record.history[1].client_ip.as_deref(), Some("192.0.2.7"));
    // Renewing a confirmed subscription does nothing.
    assert!(!store
        .renew_confirmation(&ada, &renewal, now(), now())
        .await
        .unwrap());
}

/// A subscribe without double opt-in confirms a pending subscription (the setting was turned
/// off since).
pub async fn subscribing_without_double_opt_in_confirms_a_pending_one(store: Store) {
    let ada = email("ada@example.com");
    store
        .subscribe(&pending(&ada, now(), "hash"))
        .await
        .unwrap();
    assert!(is_new(
        &store
            .subscribe(&confirmed_at_once(&ada, now()))
            .await
            .unwrap()
    ));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.subscriber.status, Status::Confirmed);
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
}

/// An unconfirmed subscription stops counting, listing and confirming when it expires, and the
/// address can subscribe anew.
pub async fn expired_confirmations_are_gone(store: Store) {
    let late = email("late@example.com");
    let expired = NewSubscription {
        confirmation: Some(Confirmation {
            token_hash: "old-hash".into(),
            expires_at: this_hour(),
        }),
        ..confirmed_at_once(&late, this_hour() - Duration::hours(48))
    };
    assert!(is_new(&store.subscribe(&expired).await.unwrap()));
    let live = email("live@example.com");
    store
        .subscribe(&pending(&live, now(), "live-hash"))
        .await
        .unwrap();
    assert_eq!(store.counts(now()).await.unwrap(), counts(1, 0, 0));
    assert_eq!(
        store.confirm("old-hash", now(), None).await.unwrap(),
        Confirmed::Unknown
    );
    let listed = store
        .page(&ListFilter::default(), None, 10, now())
        .await
        .unwrap();
    let listed: Vec<_> = listed
        .subscribers
        .iter()
        .map(|s| s.email.as_str())
        .collect();
    assert_eq!(listed, ["live@example.com"]);
    store.remove_expired(now()).await.unwrap();
    assert_eq!(store.counts(now()).await.unwrap(), counts(1, 0, 0));
    assert!(store.record(&live).await.unwrap().is_some());
    // Subscribing again starts anew.
    assert!(is_new(
        &store
            .subscribe(&pending(&late, now(), "new-hash"))
            .await
            .unwrap()
    ));
    assert_eq!(store.counts(now()).await.unwrap(), counts(2, 0, 0));
    assert!(matches!(
        store.confirm("new-hash", now(), None).await.unwrap(),
        Confirmed::Confirmed(_)
    ));
}

pub async fn unsubscribe_by_link_or_address_and_subscribe_again(store: Store) {
    let ada = email("ada@example.com");
    let unsubscribe_token = subscribe_with_link(&store, &confirmed_at_once(&ada, now())).await;
    let at = |who| store.unsubscribe(who, now(), "one-click unsubscribe", None);
    assert_eq!(
        at(Unsubscriber::Token("forged")).await.unwrap(),
        Unsubscribed::Unknown
    );
    assert_eq!(
        at(Unsubscriber::Token(&unsubscribe_token)).await.unwrap(),
        Unsubscribed::Unsubscribed("ada@example.com".into())
    );
    assert_eq!(
        at(Unsubscriber::Token(&unsubscribe_token)).await.unwrap(),
        Unsubscribed::AlreadyUnsubscribed("ada@example.com".into())
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 0, 1));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.subscriber.status, Status::Unsubscribed);
    assert!(record.subscriber.unsubscribed_at.is_some());

    // Back again: a new consent record, and links in mails sent before still work.
    let again = store
        .subscribe(&confirmed_at_once(&ada, now()))
        .await
        .unwrap();
    assert_eq!(again, Subscribed::New);
    assert_eq!(
        store.unsubscribe_token(&ada, "unused").await.unwrap(),
        Some(unsubscribe_token.clone()),
        "the secret in mails sent before is kept"
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.subscriber.status, Status::Confirmed);
    assert_eq!(record.subscriber.unsubscribed_at, None);
    let kinds: Vec<_> = record.history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            ConsentEventKind::Subscribed,
            ConsentEventKind::Unsubscribed,
            ConsentEventKind::Subscribed
        ]
    );
    // Admins and the CLI unsubscribe by address; a pending subscription can be ended too.
    let shouted = email("ADA@example.com");
    assert_eq!(
        at(Unsubscriber::Address(&shouted)).await.unwrap(),
        Unsubscribed::Unsubscribed("ada@example.com".into())
    );
    let grace = email("grace@example.com");
    store.subscribe(&pending(&grace, now(), "g")).await.unwrap();
    assert!(matches!(
        at(Unsubscriber::Address(&grace)).await.unwrap(),
        Unsubscribed::Unsubscribed(_)
    ));
    assert_eq!(
        store.confirm("g", now(), None).await.unwrap(),
        Confirmed::Unknown
    );
    let nobody = email("nobody@example.com");
    assert_eq!(
        at(Unsubscriber::Address(&nobody)).await.unwrap(),
        Unsubscribed::Unknown
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 0, 2));
}

/// Fifty clicks on one link at once confirm once, and the counts say so.
pub async fn concurrent_confirms_confirm_once(store: Store) {
    let ada = email("ada@example.com");
    store
        .subscribe(&pending(&ada, now(), "racing"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.confirm("racing", now(), None).await })
        })
        .collect();
    let mut confirmed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Confirmed::Confirmed(_) => confirmed += 1,
            Confirmed::AlreadyConfirmed(_) => {}
            Confirmed::Unknown => panic!("a valid token was refused"),
        }
    }
    assert_eq!(confirmed, 1);
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
    let record = store.record(&ada).await.unwrap().unwrap();
    assert_eq!(record.history.len(), 2, "one confirmation recorded");
}

/// A confirm racing an unsubscribe: whichever comes first, the address ends unsubscribed (an
/// unsubscribe after a confirm wins; a confirm after an unsubscribe finds nothing pending), and
/// the counts agree with the row.
pub async fn confirm_racing_unsubscribe_leaves_one_state(store: Store) {
    for round in 0..5 {
        let address = email(&format!("racer{round}@example.com"));
        let hash = format!("race-{round}");
        store
            .subscribe(&pending(&address, now(), &hash))
            .await
            .unwrap();
        let confirming = {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.confirm(&hash, now(), None).await })
        };
        let leaving = {
            let store = Arc::clone(&store);
            let address = address.clone();
            tokio::spawn(async move {
                store
                    .unsubscribe(Unsubscriber::Address(&address), now(), "cli", None)
                    .await
            })
        };
        confirming.await.unwrap().unwrap();
        leaving.await.unwrap().unwrap();
        let record = store.record(&address).await.unwrap().unwrap();
        assert_eq!(record.subscriber.status, Status::Unsubscribed);
    }
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 0, 5));
}

pub async fn erase_leaves_nothing(store: Store) {
    let ada = email("ada@example.com");
    let unsubscribe_token = subscribe_with_link(&store, &pending(&ada, now(), "erased-hash")).await;
    let bob = email("bob@example.com");
    store
        .subscribe(&confirmed_at_once(&bob, now()))
        .await
        .unwrap();
    assert!(store.erase(&email("ADA@example.com")).await.unwrap());
    assert_eq!(store.record(&ada).await.unwrap(), None);
    assert_eq!(
        store.confirm("erased-hash", now(), None).await.unwrap(),
        Confirmed::Unknown
    );
    assert_eq!(
        store
            .unsubscribe(Unsubscriber::Token(&unsubscribe_token), now(), "link", None)
            .await
            .unwrap(),
        Unsubscribed::Unknown
    );
    assert!(!store.erase(&ada).await.unwrap());
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 1, 0));
    // Subscribing after an erasure starts with an empty record.
    assert!(is_new(
        &store
            .subscribe(&confirmed_at_once(&ada, now()))
            .await
            .unwrap()
    ));
    assert_eq!(store.record(&ada).await.unwrap().unwrap().history.len(), 1);
    assert_eq!(store.counts(now()).await.unwrap(), counts(0, 2, 0));
}

pub async fn listings_filter_by_status_and_search(store: Store) {
    for (address, status) in [
        ("anna@one.example", Status::Confirmed),
        ("ben@two.example", Status::Pending),
        ("cara@ONE.example", Status::Unsubscribed),
        ("dan@three.example", Status::Confirmed),
    ] {
        let address = email(address);
        match status {
            Status::Pending => {
                store
                    .subscribe(&pending(&address, now(), "ben"))
                    .await
                    .unwrap();
            }
            _ => {
                store
                    .subscribe(&confirmed_at_once(&address, now()))
                    .await
                    .unwrap();
            }
        }
        if status == Status::Unsubscribed {
            store
                .unsubscribe(Unsubscriber::Address(&address), now(), "cli", None)
                .await
                .unwrap();
        }
    }
    let listed = |status: Option<Status>, search: Option<&str>| {
        let store = Arc::clone(&store);
        let filter = ListFilter {
            status,
            search: search.map(str::to_owned),
        };
        async move {
            let mut emails: Vec<String> = Vec::new();
            let mut cursor = None;
            loop {
                let page = store
                    .page(&filter, cursor.as_deref(), 1, now())
                    .await
                    .unwrap();
                emails.extend(page.subscribers.into_iter().map(|s| s.email));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            emails.sort();
            emails
        }
    };
    assert_eq!(
        listed(Some(Status::Confirmed), None).await,
        ["anna@one.example", "dan@three.example"]
    );
    assert_eq!(
        listed(Some(Status::Pending), None).await,
        ["ben@two.example"]
    );
    assert_eq!(
        listed(Some(Status::Unsubscribed), None).await,
        ["cara@ONE.example"]
    );
    assert_eq!(
        listed(None, Some("One.Ex")).await,
        ["anna@one.example", "cara@ONE.example"]
    );
    assert_eq!(
        listed(Some(Status::Confirmed), Some("one")).await,
        ["anna@one.example"]
    );
    assert_eq!(listed(None, Some("nobody")).await, Vec::<String>::new());
    assert_eq!(
        listed(None, Some("  ")).await.len(),
        4,
        "a blank search is no search"
    );
    assert_eq!(store.counts(now()).await.unwrap(), counts(1, 2, 1));
}

pub async fn unsubscribe_secrets_are_made_once(store: Store) {
    let ada = email("ada@example.com");
    assert_eq!(store.unsubscribe_token(&ada, "fresh").await.unwrap(), None);
    let unsubscribe_token = subscribe_with_link(&store, &confirmed_at_once(&ada, now())).await;
    assert_eq!(
        store.unsubscribe_token(&ada, "fresh").await.unwrap(),
        Some(unsubscribe_token)
    );
}

pub async fn client_addresses_are_kept_only_when_given(store: Store) {
    let ada = email("ada@example.com");
    let request = NewSubscription {
        client_ip: Some("2001:db8::1"),
        ..pending(&ada, now(), "ip")
    };
    store.subscribe(&request).await.unwrap();
    store.confirm("ip", now(), None).await.unwrap();
    let history = store.record(&ada).await.unwrap().unwrap().history;
    assert_eq!(history[0].client_ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(history[1].client_ip, None);
}

/// `store` is one whose backend is down or broken: every operation is an error, and a subscribe
/// is never reported as a duplicate (the visitor must not be told they are subscribed).
pub async fn outage_is_an_error_never_a_duplicate(store: Store) {
    let visitor = email("visitor@example.com");
    assert!(matches!(
        store.subscribe(&confirmed_at_once(&visitor, now())).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(store.record(&visitor).await.is_err());
    assert!(store.confirm("hash", now(), None).await.is_err());
    assert!(store
        .unsubscribe(Unsubscriber::Address(&visitor), now(), "cli", None)
        .await
        .is_err());
    assert!(store.erase(&visitor).await.is_err());
    assert!(store
        .page(&ListFilter::default(), None, 10, now())
        .await
        .is_err());
    assert!(store.counts(now()).await.is_err());
    assert!(store.check().await.is_err());
}

pub async fn changes_are_counted_per_day(store: Store) {
    let day = |n: i64| now() - Duration::days(3 - n);
    let days = |store: Store| async move {
        store
            .daily_counts(day(0).date() - Duration::days(1), day(3).date())
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.day, d.confirmed, d.unsubscribed))
            .collect::<Vec<_>>()
    };
    assert!(days(store.clone()).await.is_empty());
    let (ada, bob, cy) = (
        email("ada@example.com"),
        email("bob@example.com"),
        email("cy@example.com"),
    );
    store
        .subscribe(&confirmed_at_once(&ada, day(0)))
        .await
        .unwrap();
    store
        .subscribe(&confirmed_at_once(&bob, day(0)))
        .await
        .unwrap();
    // Pending on day 0, confirmed on day 1: counted on day 1.
    store
        .subscribe(&pending(&cy, day(0), "hash-cy"))
        .await
        .unwrap();
    assert!(matches!(
        store.confirm("hash-cy", day(1), None).await.unwrap(),
        Confirmed::Confirmed(_)
    ));
    store
        .unsubscribe(Unsubscriber::Address(&bob), day(2), "test", None)
        .await
        .unwrap();
    let expected = vec![
        (day(0).date(), 2, 0),
        (day(1).date(), 1, 0),
        (day(2).date(), 0, 1),
    ];
    assert_eq!(days(store.clone()).await, expected);
    // Unchanged by what changes no status; an erasure keeps the day's numbers.
    store
        .subscribe(&confirmed_at_once(&ada, day(2)))
        .await
        .unwrap();
    store.erase(&ada).await.unwrap();
    assert_eq!(days(store.clone()).await, expected);
    // Back on the list: a new confirmed subscriber that day.
    store
        .subscribe(&confirmed_at_once(&bob, day(3)))
        .await
        .unwrap();
    let mut expected = expected;
    expected.push((day(3).date(), 1, 0));
    assert_eq!(days(store.clone()).await, expected);
    // Only the days asked for.
    let last_two = store
        .daily_counts(day(2).date(), day(3).date())
        .await
        .unwrap();
    assert_eq!(last_two.len(), 2);
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
                pages_cover_everything_once_and_counts_match,
                foreign_cursors_are_refused,
                health_check_passes,
                addresses_starting_with_a_hash_are_subscribers,
                pending_until_confirmed,
                subscribing_without_double_opt_in_confirms_a_pending_one,
                expired_confirmations_are_gone,
                unsubscribe_by_link_or_address_and_subscribe_again,
                concurrent_confirms_confirm_once,
                confirm_racing_unsubscribe_leaves_one_state,
                erase_leaves_nothing,
                listings_filter_by_status_and_search,
                unsubscribe_secrets_are_made_once,
                client_addresses_are_kept_only_when_given,
                changes_are_counted_per_day,
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
