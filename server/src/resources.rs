//! What several adapters may share, each opened on first use and only if a backend needs it: the
//! AWS SDK configuration (DynamoDB and Cognito) and the embedded database (the embedded store and
//! the embedded identity provider's users).

use crate::{aws, embedded_db::EmbeddedDb};
use aws_config::SdkConfig;
use std::path::{Path, PathBuf};
use tokio::sync::OnceCell;

pub struct Resources {
    data_dir: PathBuf,
    aws: OnceCell<SdkConfig>,
    db: OnceCell<EmbeddedDb>,
    checks_at_start: bool,
}

impl Resources {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            aws: OnceCell::new(),
            db: OnceCell::new(),
            checks_at_start: true,
        }
    }

    /// Backends skip the round trips that only check them at start (the table's status, the
    /// user pool's keys): a Lambda cold start waits for nothing it can do on first use.
    pub fn deferring_checks(mut self) -> Self {
        self.checks_at_start = false;
        self
    }

    /// Whether backends check themselves at start (see `deferring_checks`).
    pub fn checks_at_start(&self) -> bool {
        self.checks_at_start
    }

    /// The data directory (embedded database, generated keys).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub async fn aws_config(&self) -> Result<&SdkConfig, aws::AwsConfigError> {
        self.aws.get_or_try_init(aws::load).await
    }

    pub async fn embedded_db(&self) -> Result<&EmbeddedDb, crate::embedded_db::OpenError> {
        self.db
            .get_or_try_init(|| async { EmbeddedDb::open(&self.data_dir) })
            .await
    }
}
