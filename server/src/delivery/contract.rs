//! The behaviours every `DeliveryLedger` must have, and `ledger_contract!`, which runs all of
//! them against an adapter. `fresh` gives `(guard, store, ledger, another ledger)`: an empty
//! store, its ledger, and a second ledger on the same data (another instance, with its own
//! leases).

use super::{Claimed, IssueRecord, Outcome, SharedLedger, Started};
use crate::store::contract::email;
use app::store::{Confirmation, NewSubscription, SharedStore, Unsubscriber};
use std::collections::HashSet;
use time::{Duration, OffsetDateTime};

const LEASE: Duration = Duration::minutes(5);

pub(crate) fn issue(slug: &str, by: &str) -> IssueRecord {
    IssueRecord {
        slug: slug.into(),
        subject: "Cold starts".into(),
        // Whole seconds: stores keep RFC 3339.
        started_at: OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp())
            .unwrap(),
        started_by: by.into(),
    }
}

/// Subscribes the addresses, confirmed at once.
pub async fn subscribe(store: &SharedStore, addresses: impl IntoIterator<Item = String>) {
    for address in addresses {
        let address = email(&address);
        store
            .subscribe(&NewSubscription {
                email: &address,
                at: OffsetDateTime::now_utc(),
                source: "form on /",
                client_ip: None,
                confirmation: None,
            })
            .await
            .unwrap();
    }
}

pub(crate) fn addresses(n: usize) -> impl Iterator<Item = String> {
    (0..n).map(|i| format!("reader{i:03}@x.org"))
}

/// Claims the deliveries of issue `cold` until nothing is due, recording nothing.
pub(crate) async fn claim_everything(ledger: &SharedLedger, at: OffsetDateTime) -> Vec<Claimed> {
    let mut all = Vec::new();
    loop {
        let batch = ledger.claim("cold", 50, at, at + LEASE).await.unwrap();
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

fn keys(claimed: &[Claimed]) -> HashSet<String> {
    claimed.iter().map(|c| c.email_key.clone()).collect()
}

pub async fn an_issue_starts_once_with_the_confirmed_subscribers_queued(
    store: SharedStore,
    ledger: SharedLedger,
    _other: SharedLedger,
) {
    assert_eq!(ledger.progress("cold").await.unwrap(), None);
    assert!(ledger.issues().await.unwrap().is_empty());
    let now = OffsetDateTime::now_utc();
    assert!(ledger
        .claim("cold", 50, now, now + LEASE)
        .await
        .unwrap()
        .is_empty());
    subscribe(&store, addresses(3)).await;
    // Pending and unsubscribed addresses get nothing.
    let pending = email("pending@x.org");
    store
        .subscribe(&NewSubscription {
            email: &pending,
            at: now,
            source: "form on /",
            client_ip: None,
            confirmation: Some(Confirmation {
                token_hash: "hash".into(),
                expires_at: OffsetDateTime::from_unix_timestamp(
                    (now.unix_timestamp() / 3600 + 49) * 3600,
                )
                .unwrap(),
            }),
        })
        .await
        .unwrap();
    subscribe(&store, ["left@x.org".to_owned()]).await;
    store
        .unsubscribe(
            Unsubscriber::Address(&email("left@x.org")),
            now,
            "test",
            None,
        )
        .await
        .unwrap();

    let first = issue("cold", "ada");
    assert_eq!(
        ledger.start(&first).await.unwrap(),
        Started::New { queued: 3 }
    );
    assert_eq!(
        ledger.start(&issue("cold", "grace")).await.unwrap(),
        Started::Already(first.clone())
    );
    let progress = ledger.progress("cold").await.unwrap().unwrap();
    assert_eq!((progress.queued, progress.total()), (3, 3));
    assert!(!progress.done());
    let listed = ledger.issues().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, first);
    let claimed = claim_everything(&ledger, now).await;
    assert_eq!(
        keys(&claimed),
        addresses(3).collect::<HashSet<_>>(),
        "exactly the confirmed subscribers"
    );
    assert!(claimed.iter().all(|c| c.email.ends_with("@x.org")));
}

pub async fn every_delivery_is_claimed_once_until_its_lease_lapses(
    store: SharedStore,
    ledger: SharedLedger,
    _other: SharedLedger,
) {
    subscribe(&store, addresses(120)).await;
    ledger.start(&issue("cold", "ada")).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let claimed = claim_everything(&ledger, now).await;
    assert_eq!(claimed.len(), 120, "no delivery claimed twice");
    assert_eq!(keys(&claimed).len(), 120);
    assert!(claimed.iter().all(|c| c.attempts == 1));
    // The worker that holds them died: after the lease, another takes every one over.
    let later = now + LEASE + Duration::seconds(1);
    let retaken = claim_everything(&ledger, later).await;
    assert_eq!(keys(&retaken).len(), 120);
    assert_eq!(retaken.len(), 120);
    // Whether a claim that ended in a crash counts as a try is the adapter's choice (SQLite
    // counts claims, DynamoDB transport tries); never fewer than before.
    assert!(retaken.iter().all(|c| c.attempts >= 1));
}

pub async fn outcomes_are_counted_retries_wait_and_unsubscribes_are_honoured(
    store: SharedStore,
    ledger: SharedLedger,
    _other: SharedLedger,
) {
    subscribe(&store, addresses(4)).await;
    ledger.start(&issue("cold", "ada")).await.unwrap();
    let now = OffsetDateTime::now_utc();
    // One leaves the list after the issue started, before its turn.
    store
        .unsubscribe(
            Unsubscriber::Address(&email("reader003@x.org")),
            now,
            "test",
            None,
        )
        .await
        .unwrap();
    let mut claimed = claim_everything(&ledger, now).await;
    claimed.sort_by(|a, b| a.email_key.cmp(&b.email_key));
    assert_eq!(claimed.len(), 3);
    ledger
        .record("cold", &claimed[0].email_key, &Outcome::Sent)
        .await
        .unwrap();
    ledger
        .record(
            "cold",
            &claimed[1].email_key,
            &Outcome::Failed("550 no such user".into()),
        )
        .await
        .unwrap();
    let retry_at = now + Duration::minutes(1);
    ledger
        .record(
            "cold",
            &claimed[2].email_key,
            &Outcome::Retry {
                after: retry_at,
                reason: "421 busy".into(),
            },
        )
        .await
        .unwrap();
    let progress = ledger.progress("cold").await.unwrap().unwrap();
    assert_eq!(
        (
            progress.sent,
            progress.failed,
            progress.skipped,
            progress.queued
        ),
        (1, 1, 1, 1)
    );
    assert!(!progress.done());
    assert!(
        claim_everything(&ledger, now).await.is_empty(),
        "the retry is not due yet"
    );
    let retried = claim_everything(&ledger, retry_at).await;
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].email_key, claimed[2].email_key);
    assert_eq!(retried[0].attempts, 2);
    ledger
        .record("cold", &retried[0].email_key, &Outcome::Sent)
        .await
        .unwrap();
    let progress = ledger.progress("cold").await.unwrap().unwrap();
    assert!(progress.done());
    assert_eq!(
        (progress.sent, progress.failed, progress.skipped),
        (2, 1, 1)
    );
    assert!(claim_everything(&ledger, retry_at + LEASE * 2)
        .await
        .is_empty());
}

pub async fn two_instances_sending_one_issue_send_each_mail_once(
    store: SharedStore,
    ledger: SharedLedger,
    other: SharedLedger,
) {
    subscribe(&store, addresses(230)).await;
    ledger.start(&issue("cold", "ada")).await.unwrap();
    assert!(matches!(
        other.start(&issue("cold", "grace")).await.unwrap(),
        Started::Already(_)
    ));
    let worker = |ledger: SharedLedger| async move {
        let mut sent = Vec::new();
        loop {
            let now = OffsetDateTime::now_utc();
            let batch = ledger.claim("cold", 50, now, now + LEASE).await.unwrap();
            if batch.is_empty() {
                return sent;
            }
            for delivery in batch {
                ledger
                    .record("cold", &delivery.email_key, &Outcome::Sent)
                    .await
                    .unwrap();
                sent.push(delivery.email_key);
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(worker(ledger.clone())),
        tokio::spawn(worker(other.clone()))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let all: Vec<_> = a.iter().chain(&b).cloned().collect();
    assert_eq!(all.len(), 230, "{} + {}", a.len(), b.len());
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 230);
    let progress = other.progress("cold").await.unwrap().unwrap();
    assert!(progress.done());
    assert_eq!(progress.sent, 230);
}

pub async fn failed_deliveries_are_requeued_and_sent_ones_never(
    store: SharedStore,
    ledger: SharedLedger,
    _other: SharedLedger,
) {
    subscribe(&store, addresses(3)).await;
    ledger.start(&issue("cold", "ada")).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let mut claimed = claim_everything(&ledger, now).await;
    claimed.sort_by(|a, b| a.email_key.cmp(&b.email_key));
    ledger
        .record("cold", &claimed[0].email_key, &Outcome::Sent)
        .await
        .unwrap();
    for delivery in &claimed[1..] {
        ledger
            .record("cold", &delivery.email_key, &Outcome::Failed("550".into()))
            .await
            .unwrap();
    }
    assert!(ledger.progress("cold").await.unwrap().unwrap().done());
    let failures = ledger.failures("cold", 10).await.unwrap();
    assert_eq!(
        failures
            .iter()
            .map(|(key, _)| key.clone())
            .collect::<HashSet<_>>(),
        keys(&claimed[1..])
    );
    assert!(failures.iter().all(|(_, why)| why == "550"));
    assert_eq!(ledger.failures("cold", 1).await.unwrap().len(), 1);
    assert_eq!(ledger.requeue_failed("cold").await.unwrap(), 2);
    let progress = ledger.progress("cold").await.unwrap().unwrap();
    assert_eq!((progress.sent, progress.failed, progress.queued), (1, 0, 2));
    let again = claim_everything(&ledger, now).await;
    assert_eq!(
        keys(&again),
        keys(&claimed[1..]),
        "the failed ones, never the sent one"
    );
    assert!(
        again.iter().all(|c| c.attempts == 1),
        "a fresh count of tries"
    );
    assert_eq!(ledger.requeue_failed("never-started").await.unwrap(), 0);
}

/// Runs every contract test against an adapter, each in its own `#[tokio::test]`. `fresh` is a
/// future giving `(guard, store, ledger, another ledger on the same data)`.
macro_rules! ledger_contract {
    (fresh: $fresh:expr $(,)?) => {
        mod ledger_contract {
            #[allow(unused_imports)]
            use super::*;

            $crate::delivery::contract::ledger_contract!(@each $fresh;
                an_issue_starts_once_with_the_confirmed_subscribers_queued,
                every_delivery_is_claimed_once_until_its_lease_lapses,
                outcomes_are_counted_retries_wait_and_unsubscribes_are_honoured,
                two_instances_sending_one_issue_send_each_mail_once,
                failed_deliveries_are_requeued_and_sent_ones_never,
            );
        }
    };
    (@each $fresh:expr; $($test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                let (_guard, store, ledger, other) = $fresh.await;
                $crate::delivery::contract::$test(store, ledger, other).await;
            }
        )*
    };
}
pub(crate) use ledger_contract;
