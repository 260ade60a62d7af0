//! The AWS SDK configuration shared by the DynamoDB store and the Cognito identity provider.
//!
//! Everything comes from the SDK's standard chain: `AWS_REGION`, `AWS_PROFILE`, credentials
//! (environment, profile files, `credential_process`, container and instance roles), and
//! endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`,
//! `AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`), which is how the tests point at moto.

use aws_config::{timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    #[error(
        "no AWS region is configured: set AWS_REGION (or a region in your AWS profile) \
         to use DynamoDB or Cognito"
    )]
    NoRegion,
}

/// Loads the standard configuration. A request that cannot finish (after the SDK's retries)
/// within the operation timeout fails instead of holding a visitor's request open.
pub async fn load() -> Result<SdkConfig, AwsConfigError> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        )
        .load()
        .await;
    if config.region().is_none() {
        return Err(AwsConfigError::NoRegion);
    }
    Ok(config)
}
