//! Password checks off the request path, bounded: argon2id takes 19 MiB and tens of milliseconds
//! of CPU per check, so sign-ins run them one at a time on a worker thread of their own, with a
//! short queue, and what does not fit in the queue is refused at once instead of piling up
//! (120 concurrent sign-ins used to grow the process by more than a gigabyte). The 19 MiB go
//! back to the system after each check (see `keep_large_allocations_out_of_the_heap` in main).

use super::users::verify_password;
use std::sync::{mpsc, Arc};

/// Checked when the user doesn't exist, so that both failures take the same time: a hash of a
/// random password nobody knows, with the same parameters as every stored hash
/// (`Argon2::default()`, as `users::hash_password` makes them).
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$GEsoeELg836NwkU8ql6wXw$LzI/2vVC68de32vTHB6UJINn0tva1xbEsIMARA7UrQE";

/// How many checks may wait while one runs. A check takes ~20–60 ms, so a queued sign-in waits
/// at most a few hundred milliseconds; anything beyond is answered "try again" at once.
pub const DEFAULT_QUEUE: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum PasswordWorkError {
    #[error("too many password checks are already waiting")]
    Busy,
    #[error("the password worker stopped")]
    Stopped,
}

struct Check {
    password: String,
    hash: Arc<str>,
    done: tokio::sync::oneshot::Sender<bool>,
}

pub struct PasswordWorker {
    queue: mpsc::SyncSender<Check>,
}

impl PasswordWorker {
    /// Starts the worker thread; it ends when the worker is dropped.
    pub fn start(queue: usize) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::sync_channel::<Check>(queue);
        std::thread::Builder::new()
            .name("password-checks".into())
            .spawn(move || {
                while let Ok(check) = receiver.recv() {
                    let matches = verify_password(&check.password, &check.hash);
                    // A caller that went away no longer needs its answer.
                    let _ = check.done.send(matches);
                }
            })?;
        Ok(Self { queue: sender })
    }

    /// Whether `password` matches the PHC string `hash`; `Busy` at once when the queue is full.
    pub async fn verify(&self, password: &str, hash: Arc<str>) -> Result<bool, PasswordWorkError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let check = Check {
            password: password.to_owned(),
            hash,
            done,
        };
        self.queue.try_send(check).map_err(|err| match err {
            mpsc::TrySendError::Full(_) => PasswordWorkError::Busy,
            mpsc::TrySendError::Disconnected(_) => PasswordWorkError::Stopped,
        })?;
        answer.await.map_err(|_| PasswordWorkError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::users::hash_password;
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real = hash_password("anything at all").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify_password(
            "not a real password, never matches",
            DUMMY_HASH
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn checks_beyond_the_queue_are_refused_at_once_and_the_rest_answered() {
        let worker = Arc::new(PasswordWorker::start(2).unwrap());
        let hash: Arc<str> = Arc::from(hash_password("right password").unwrap());
        assert!(worker.verify("right password", hash.clone()).await.unwrap());
        assert!(!worker.verify("wrong password", hash.clone()).await.unwrap());
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (worker, hash) = (worker.clone(), hash.clone());
                tokio::spawn(async move { worker.verify("wrong password", hash).await })
            })
            .collect();
        let (mut answered, mut busy) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(false) => answered += 1,
                Err(PasswordWorkError::Busy) => busy += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        // One running and two queued at the most while the rest arrive.
        assert!((1..=10).contains(&answered), "answered {answered}");
        assert_eq!(answered + busy, 20);
        assert!(busy >= 10, "busy {busy}");
    }
}
