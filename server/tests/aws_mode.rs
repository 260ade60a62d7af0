//! Black-box, AWS mode: the real binary against DynamoDB and a Cognito user pool as moto
//! emulates them (`scripts/test` starts moto and sets `STORIES_TEST_MOTO_ENDPOINT`). Each test
//! makes its own table, user pool and users.

mod common;

use common::{
    aws::{Deployment, PASSWORD, REGION},
    data_dir, moto_endpoint, run_cli,
    sigv4_client::signed_get,
    unique_name,
};
use serde_json::Value;

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON answer")
}

#[tokio::test]
async fn two_instances_share_subscribers_and_accept_each_others_credentials() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let (_a_dir, a) = deployment.spawn().await;
    let (_b_dir, b) = deployment.spawn().await;

    let first = a.subscribe("Reader.One@Example.com").await;
    assert_eq!(first.status(), 200);
    assert_eq!(json(first).await, "subscribed");
    // The same address, another case, through the other instance: one table decides.
    let again = b.subscribe("reader.one@example.com").await;
    assert_eq!(again.status(), 200);
    assert_eq!(json(again).await, "already_subscribed");
    assert_eq!(b.subscribe("second@example.com").await.status(), 200);

    // Credentials minted by A are accepted by B, and the other way round.
    let (_token, from_a) = a.admin_credentials("ada", PASSWORD).await;
    let (_token, from_b) = b.admin_credentials("ada", PASSWORD).await;
    for (creds, app) in [(&from_a, &b), (&from_b, &a)] {
        let listed = signed_get(app, creds, "/api/subscribers?limit=10").await;
        assert_eq!(listed.status(), 200);
        let page = json(listed).await;
        assert_eq!(page["total"], 2);
        let mut emails: Vec<&str> = page["subscribers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["email"].as_str().unwrap())
            .collect();
        emails.sort();
        assert_eq!(emails, ["Reader.One@Example.com", "second@example.com"]);
    }
}

#[tokio::test]
async fn the_admin_list_pages_through_the_table_with_opaque_cursors() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let (_dir, app) = deployment.spawn().await;
    for i in 0..12 {
        assert_eq!(
            app.subscribe(&format!("r{i:02}@example.com"))
                .await
                .status(),
            200
        );
    }
    let (_token, creds) = app.admin_credentials("ada", PASSWORD).await;
    let mut seen = Vec::new();
    let mut path = "/api/subscribers?limit=5".to_owned();
    let mut pages = 0;
    loop {
        let page = json(signed_get(&app, &creds, &path).await).await;
        assert_eq!(page["total"], 12);
        pages += 1;
        for s in page["subscribers"].as_array().unwrap() {
            seen.push(s["email"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/subscribers?limit=5&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    let expected: Vec<String> = (0..12).map(|i| format!("r{i:02}@example.com")).collect();
    assert_eq!(seen, expected);
    let foreign = signed_get(&app, &creds, "/api/subscribers?cursor=bm90LW91cnM").await;
    assert_eq!(foreign.status(), 400);
}

#[tokio::test]
async fn a_temporary_password_must_be_replaced_before_signing_in() {
    let deployment = Deployment::new().await;
    deployment
        .add_user_with_temporary_password("grace", "Temporary-Pass-1", &["admin"])
        .await;
    let (_dir, app) = deployment.spawn().await;

    let login = app.login("grace", "Temporary-Pass-1").await;
    assert_eq!(login.status(), 200);
    let challenge = json(login).await;
    assert_eq!(challenge["ChallengeName"], "NEW_PASSWORD_REQUIRED");
    assert_eq!(challenge["Username"], "grace");
    assert!(challenge.get("IdToken").is_none());
    let session = challenge["Session"].as_str().unwrap().to_owned();

    let answer = |new: &'static str, confirm: &'static str, session: String| {
        let app = &app;
        async move {
            app.post_form(
                "/api/new-password",
                &[
                    ("username", "grace"),
                    ("session", &session),
                    ("new_password", new),
                    ("confirm_password", confirm),
                ],
            )
            .await
        }
    };
    let mismatch = answer("Brand-New-Pass-2", "Brand-New-Pass-3", session.clone()).await;
    assert_eq!(mismatch.status(), 400);
    assert_eq!(
        json(mismatch).await["message"],
        "The passwords do not match."
    );
    // The pool's policy decides; its reason is shown.
    let weak = answer("short", "short", session.clone()).await;
    assert_eq!(weak.status(), 400);
    assert!(
        json(weak).await["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("password"),
        "the policy message names the password"
    );
    let bad_session = answer("Brand-New-Pass-2", "Brand-New-Pass-2", "made-up".into()).await;
    assert_eq!(bad_session.status(), 401);
    assert_eq!(
        json(bad_session).await["message"],
        "Your sign-in session expired. Please log in again."
    );

    let done = answer("Brand-New-Pass-2", "Brand-New-Pass-2", session).await;
    assert_eq!(done.status(), 200);
    let token = json(done).await["IdToken"].as_str().unwrap().to_owned();
    assert_eq!(app.credentials(&token).await.status(), 200);
    // From now on the new password signs in directly.
    let (_token, creds) = app.admin_credentials("grace", "Brand-New-Pass-2").await;
    assert_eq!(
        signed_get(&app, &creds, "/api/subscribers").await.status(),
        200
    );
    // A pool's sessions can't be ended by this server: logging out says so (docs/security.md).
    let out = app.post_form("/api/logout", &[("token", &token)]).await;
    assert_eq!(json(out).await, "not_revocable");
}

#[tokio::test]
async fn pool_sign_in_failures_and_groups() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    deployment.add_user("reader", PASSWORD, &[]).await;
    let (_dir, app) = deployment.spawn().await;

    for (user, password) in [("ada", "Wrong-Password-1"), ("nobody", PASSWORD)] {
        let refused = app.login(user, password).await;
        assert_eq!(refused.status(), 401, "{user}");
        assert_eq!(
            json(refused).await["message"],
            "Incorrect username or password."
        );
    }
    // A pool user outside `admin` gets credentials but not the list.
    let (_token, creds) = app.admin_credentials("reader", PASSWORD).await;
    let forbidden = signed_get(&app, &creds, "/api/subscribers").await;
    assert_eq!(forbidden.status(), 403);
    // Tokens of the embedded provider (or any other issuer) are refused.
    let foreign = app
        .credentials("eyJhbGciOiJSUzI1NiIsImtpZCI6ImR1bW15In0.e30.c2ln")
        .await;
    assert_eq!(foreign.status(), 401);
    // The embedded provider's key endpoint is not served: the pool publishes its own.
    assert_eq!(app.get("/.well-known/jwks.json").await.status(), 404);
}

#[tokio::test]
async fn a_store_outage_is_a_generic_error_never_already_subscribed() {
    let deployment = Deployment::new().await;
    let (_dir, app) = deployment.spawn().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Ready: the table answers and the pool's keys are loaded.
    assert_eq!(app.get("/readyz").await.status(), 200);
    let endpoint = moto_endpoint();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&endpoint)
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
            .build(),
    );
    dynamodb
        .delete_table()
        .table_name(&deployment.table)
        .send()
        .await
        .expect("delete table");
    let failed = app.subscribe("during-outage@example.com").await;
    assert_eq!(failed.status(), 503);
    let body = json(failed).await;
    assert_eq!(body["message"], "Something went wrong. Please try again.");
    assert_eq!(app.get("/healthz").await.status(), 503);
    assert_eq!(app.get("/readyz").await.status(), 503);
}

#[tokio::test]
async fn starting_without_the_table_or_pool_settings_says_what_to_do() {
    let deployment = Deployment::new().await;
    let mut env = deployment.env();
    env.retain(|(k, _)| k != "STORIES_TABLE");
    env.push(("STORIES_TABLE".into(), unique_name("Missing")));
    let dir = data_dir();
    env.push(("STORIES_DATA_DIR".into(), dir.path().display().to_string()));
    env.push(("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()));
    let missing = run_cli(&["serve"], &env);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("serverless-stories init-table"), "{stderr}");

    let mut env = deployment.env();
    env.retain(|(k, _)| k != "STORIES_COGNITO_CLIENT_ID");
    env.push(("STORIES_DATA_DIR".into(), dir.path().display().to_string()));
    env.push(("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()));
    let no_client = run_cli(&["serve"], &env);
    assert!(!no_client.status.success());
    let stderr = String::from_utf8_lossy(&no_client.stderr);
    assert!(stderr.contains("STORIES_COGNITO_CLIENT_ID"), "{stderr}");

    // init-table on an existing table says so and succeeds.
    let again = run_cli(&["init-table"], &deployment.env());
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already exists"));
}
