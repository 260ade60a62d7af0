//! A moto-backed AWS deployment for the black-box tests (`scripts/test` starts moto and sets
//! `STORIES_TEST_MOTO_ENDPOINT`): its own table, user pool and users per test.

use super::{data_dir, moto_endpoint, run_cli, spawn_app_with, unique_name, TestApp};
use aws_sdk_cognitoidentityprovider::{
    config::{Credentials, Region},
    types::{ExplicitAuthFlowsType, MessageActionType},
    Client as CognitoClient,
};

pub const REGION: &str = "us-east-1";
pub const PASSWORD: &str = "Correct-Horse-9";
/// Shared by the instances of one deployment, so each accepts the others' credentials.
pub const SIGNING_KEY: &str = "5f0c1c9e3a7b4d2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e";

/// A moto-backed deployment: its table and user pool, and the environment an instance needs.
pub struct Deployment {
    pub table: String,
    pub pool_id: String,
    pub client_id: String,
    pub cognito: CognitoClient,
}

impl Deployment {
    pub async fn new() -> Self {
        let endpoint = moto_endpoint();
        let config = aws_sdk_cognitoidentityprovider::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::for_tests())
            .build();
        let cognito = CognitoClient::from_conf(config);
        let pool = cognito
            .create_user_pool()
            .pool_name(unique_name("stories"))
            .send()
            .await
            .expect("create user pool");
        let pool_id = pool.user_pool().and_then(|p| p.id()).unwrap().to_owned();
        let client = cognito
            .create_user_pool_client()
            .user_pool_id(&pool_id)
            .client_name("web")
            .generate_secret(false)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .send()
            .await
            .expect("create app client");
        let client_id = client
            .user_pool_client()
            .and_then(|c| c.client_id())
            .unwrap()
            .to_owned();
        cognito
            .create_group()
            .user_pool_id(&pool_id)
            .group_name("admin")
            .send()
            .await
            .expect("create admin group");
        let deployment = Self {
            table: unique_name("Emails"),
            pool_id,
            client_id,
            cognito,
        };
        let init = run_cli(&["init-table"], &deployment.env());
        assert!(
            init.status.success(),
            "init-table: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        deployment
    }

    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", moto_endpoint().as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("STORIES_STORE", "dynamodb"),
            ("STORIES_TABLE", &self.table),
            ("STORIES_IDENTITY", "cognito"),
            ("STORIES_COGNITO_USER_POOL_ID", &self.pool_id),
            ("STORIES_COGNITO_CLIENT_ID", &self.client_id),
            ("STORIES_SIGNING_KEY", SIGNING_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// A user with a temporary password (Cognito's FORCE_CHANGE_PASSWORD), in `groups`.
    pub async fn add_user_with_temporary_password(
        &self,
        username: &str,
        password: &str,
        groups: &[&str],
    ) {
        self.cognito
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(username)
            .temporary_password(password)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .expect("create user");
        for group in groups {
            self.cognito
                .admin_add_user_to_group()
                .user_pool_id(&self.pool_id)
                .username(username)
                .group_name(*group)
                .send()
                .await
                .expect("add to group");
        }
    }

    /// A confirmed user with a permanent password, in `groups`.
    pub async fn add_user(&self, username: &str, password: &str, groups: &[&str]) {
        self.add_user_with_temporary_password(username, "Temporary-Pass-1", groups)
            .await;
        self.cognito
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(username)
            .password(password)
            .permanent(true)
            .send()
            .await
            .expect("set permanent password");
    }

    /// A Secrets Manager secret holding the deployment's credential key; its name.
    pub async fn key_secret(&self) -> String {
        let config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version_latest()
            .endpoint_url(moto_endpoint())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::for_tests())
            .build();
        let name = unique_name("stories-signing-key");
        aws_sdk_secretsmanager::Client::from_conf(config)
            .create_secret()
            .name(&name)
            .secret_string(format!("{SIGNING_KEY}\n"))
            .send()
            .await
            .expect("create the key's secret");
        name
    }

    pub async fn spawn(&self) -> (tempfile::TempDir, TestApp) {
        let dir = data_dir();
        let app = spawn_app_with(dir.path(), &self.env()).await;
        (dir, app)
    }
}
