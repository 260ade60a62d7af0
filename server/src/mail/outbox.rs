//! The embedded default transport: each message written as an `.eml` file into the outbox
//! directory (owner-only: messages carry addresses), named so that `ls` lists them in order.

use super::{Delivered, MailError, Transport};
use lettre::address::Envelope;
use std::path::PathBuf;

pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn write(&self, message: &[u8]) -> std::io::Result<PathBuf> {
        use std::{io::Write, os::unix::fs::DirBuilderExt, os::unix::fs::OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).map_err(std::io::Error::other)?;
        let now = time::OffsetDateTime::now_utc();
        let name = format!(
            "{}-{:09}-{}",
            now.unix_timestamp(),
            now.nanosecond(),
            hex::encode(suffix)
        );
        // Written whole under a temporary name, then renamed: a reader never sees half a file.
        let partial = self.dir.join(format!(".{name}.partial"));
        let path = self.dir.join(format!("{name}.eml"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)?;
        file.write_all(message)?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }
}

#[async_trait::async_trait]
impl Transport for Outbox {
    async fn deliver(&self, _envelope: &Envelope, message: &[u8]) -> Result<Delivered, MailError> {
        let message = message.to_vec();
        let outbox = Outbox::new(self.dir.clone());
        let path = tokio::task::spawn_blocking(move || outbox.write(&message))
            .await
            .map_err(|err| MailError::Unavailable(err.into()))?
            .map_err(|err| {
                MailError::Unavailable(
                    format!("writing to the outbox {}: {err}", self.dir.display()).into(),
                )
            })?;
        Ok(Delivered::Written(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn each_message_is_one_owner_only_file_with_exactly_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path().join("outbox"));
        let envelope = Envelope::new(None, vec!["a@example.com".parse().unwrap()]).unwrap();
        let first = outbox
            .deliver(&envelope, b"Subject: one\r\n\r\n1")
            .await
            .unwrap();
        let second = outbox
            .deliver(&envelope, b"Subject: two\r\n\r\n2")
            .await
            .unwrap();
        let (Delivered::Written(first), Delivered::Written(second)) = (first, second) else {
            panic!("not written");
        };
        assert_ne!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"Subject: one\r\n\r\n1");
        let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode(&first) & 0o777, 0o600);
        assert_eq!(mode(&dir.path().join("outbox")) & 0o777, 0o700);
        let mut names: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "no partial files left");
        assert_eq!(std::path::Path::new(&names[0]), first.file_name().unwrap());
    }
}
