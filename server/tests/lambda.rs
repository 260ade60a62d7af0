//! Black-box, Lambda mode: the real binary under a Lambda Runtime API emulator (cargo-lambda),
//! with DynamoDB, a Cognito pool and Secrets Manager as moto emulates them. Events come as the
//! Lambda service sends them from an API Gateway HTTP API, and as function URL requests.

mod common;

use common::{
    aws::{Deployment, PASSWORD, REGION},
    lambda::{
        body_of, http_api_event, http_api_stage_event, rest_api_event, LambdaFunction, API_HOST,
    },
    run_cli,
    sigv4_client::{identity, sign_get},
};
use serde_json::{json, Value};
use std::time::SystemTime;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("accept", "application/json");

/// The deployment's settings for a function: its key from a secret, not the environment.
async fn function_env(deployment: &Deployment) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = deployment
        .env()
        .into_iter()
        .filter(|(name, _)| name != "STORIES_SIGNING_KEY")
        .collect();
    env.push((
        "STORIES_SIGNING_KEY_SECRET".into(),
        deployment.key_secret().await,
    ));
    env
}

/// A header of an answer (HTTP API answers have `headers`; REST ones may use `multiValueHeaders`).
fn header<'a>(answer: &'a Value, name: &str) -> &'a str {
    answer["headers"][name]
        .as_str()
        .or_else(|| answer["multiValueHeaders"][name][0].as_str())
        .unwrap_or_default()
}

fn json_body(answer: &Value) -> Value {
    serde_json::from_slice(&body_of(answer)).expect("a JSON body")
}

/// Builds an event of one API's shape: method, path, query, headers, body.
type EventOf<'a> = &'a dyn Fn(&str, &str, &[(&str, &str)], &[(&str, &str)], Option<&str>) -> Value;

/// As the admin page does, through events made by `event`: signs ada in, gets credentials
/// (never cached), and lists the subscribers with a call signed for the execute-api host and the
/// path as the client calls it (`prefix`, e.g. a REST API's stage, then `/api/subscribers`). The
/// list's answer, checked to be 200.
async fn signed_list(function: &LambdaFunction, event: EventOf<'_>, prefix: &str) -> Value {
    let login_form = format!("username=ada&password={PASSWORD}");
    let login = function
        .invoke(&event(
            "POST",
            "/api/login",
            &[],
            &[FORM, JSON],
            Some(&login_form),
        ))
        .await;
    assert_eq!(login["statusCode"], 200, "{login}");
    let token = json_body(&login)["IdToken"].as_str().unwrap().to_owned();
    let token_form = format!("token={token}");
    let minted = function
        .invoke(&event(
            "POST",
            "/api/credentials",
            &[],
            &[FORM, JSON],
            Some(&token_form),
        ))
        .await;
    assert_eq!(minted["statusCode"], 200);
    assert_eq!(header(&minted, "cache-control"), "no-store");
    let creds = json_body(&minted);
    let target = format!("https://{API_HOST}{prefix}/api/subscribers?limit=50");
    let signed = sign_get(
        &identity(&creds),
        REGION,
        Default::default(),
        SystemTime::now(),
        &target,
        &[],
    );
    let mut headers: Vec<(&str, &str)> = vec![JSON];
    headers.extend(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let list = function
        .invoke(&event(
            "GET",
            "/api/subscribers",
            &[("limit", "50")],
            &headers,
            None,
        ))
        .await;
    assert_eq!(list["statusCode"], 200, "{list}");
    list
}

#[test]
fn without_stateless_backends_and_a_shared_key_lambda_mode_says_what_to_set() {
    // Nothing listens there: the settings are refused before the runtime is asked for events.
    let lambda = |extra: &[(&str, &str)]| {
        let mut env = vec![
            (
                "AWS_LAMBDA_RUNTIME_API".to_owned(),
                "127.0.0.1:9".to_owned(),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "_".to_owned()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                "128".to_owned(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_owned(), "1".to_owned()),
        ];
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let output = run_cli(&[], &env);
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(lambda(&[]).contains("set STORIES_STORE=dynamodb"));
    assert!(lambda(&[("STORIES_STORE", "dynamodb")]).contains("set STORIES_IDENTITY=cognito"));
    let no_public_url = lambda(&[("STORIES_STORE", "dynamodb"), ("STORIES_IDENTITY", "oidc")]);
    assert!(
        no_public_url.contains("<site>/login/callback: set STORIES_PUBLIC_URL"),
        "{no_public_url}"
    );
    let no_key = lambda(&[
        ("STORIES_STORE", "dynamodb"),
        ("STORIES_IDENTITY", "cognito"),
    ]);
    assert!(
        no_key.contains("set STORIES_SIGNING_KEY_SECRET"),
        "{no_key}"
    );
}

#[tokio::test]
async fn http_api_events_serve_pages_assets_subscribes_and_the_signed_admin_list() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let function = LambdaFunction::start(&function_env(&deployment).await).await;
    let get = |path: &str| http_api_event("GET", path, "", &[("accept", "text/html")], None);

    let home = function.invoke(&get("/")).await;
    assert_eq!(home["statusCode"], 200);
    assert!(header(&home, "content-type").starts_with("text/html"));
    assert!(String::from_utf8_lossy(&body_of(&home)).contains("Newsletter"));
    let story = function.invoke(&get("/post/function-as-a-service/")).await;
    assert_eq!(story["statusCode"], 200);
    assert_eq!(
        function.invoke(&get("/post/nope/")).await["statusCode"],
        404
    );
    // A static file, byte for byte (binary answers travel base64-encoded).
    let icon = function.invoke(&get("/favicon.svg")).await;
    assert_eq!(icon["statusCode"], 200);
    let on_disk = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../public/favicon.svg"
    ));
    assert_eq!(body_of(&icon), on_disk.unwrap());

    // Subscribes: with JavaScript (JSON) and without (a redirect back to the form).
    let subscribe = |email: &str, accept: (&str, &str)| {
        let body = format!("email={}", email.replace('@', "%40"));
        http_api_event("POST", "/api/subscribe", "", &[FORM, accept], Some(&body))
    };
    let new = function
        .invoke(&subscribe("lambda@example.com", JSON))
        .await;
    assert_eq!(
        (new["statusCode"].clone(), json_body(&new)),
        (200.into(), "subscribed".into())
    );
    let again = function
        .invoke(&subscribe("Lambda@Example.com", JSON))
        .await;
    assert_eq!(json_body(&again), "already_subscribed");
    let invalid = function.invoke(&subscribe("not-an-address", JSON)).await;
    assert_eq!(invalid["statusCode"], 400);
    assert_eq!(json_body(&invalid)["error"], "bad_request");
    let no_js = function
        .invoke(&subscribe("no-js@example.com", ("accept", "text/html")))
        .await;
    assert_eq!(no_js["statusCode"], 302);
    assert_eq!(
        header(&no_js, "location"),
        "/?subscribe=subscribed#newsletter"
    );

    // The admin: sign in, get credentials, sign the list call for the API's host name.
    let list = signed_list(
        &function,
        &|method, path, query, headers, body| {
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            http_api_event(method, path, &query.join("&"), headers, body)
        },
        "",
    )
    .await;
    let emails: Vec<String> = json_body(&list)["subscribers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["email"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        emails.contains(&"lambda@example.com".to_owned()),
        "{emails:?}"
    );
    // Unsigned: API Gateway's refusal.
    let unsigned = function
        .invoke(&http_api_event(
            "GET",
            "/api/subscribers",
            "",
            &[JSON],
            None,
        ))
        .await;
    assert_eq!(unsigned["statusCode"], 403);
}

#[tokio::test]
async fn function_url_requests_work_like_a_browsers() {
    let deployment = Deployment::new().await;
    let function = LambdaFunction::start(&function_env(&deployment).await).await;
    let home = function.client.get(function.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("Newsletter"));
    let posted = function
        .client
        .post(function.url("/api/subscribe"))
        .header("accept", "text/html")
        .form(&[("email", "url@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 302);
    assert_eq!(
        posted.headers()["location"],
        "/?subscribe=subscribed#newsletter"
    );
    let answer = function
        .client
        .get(function.url("/?subscribe=subscribed"))
        .send()
        .await
        .unwrap();
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("You have successfully subscribed to the newsletter!"));
}

/// The per-client limit counts the address API Gateway saw (`sourceIp`): there is no socket.
#[tokio::test]
async fn the_client_is_the_events_source_ip() {
    let deployment = Deployment::new().await;
    let mut env = function_env(&deployment).await;
    env.push(("STORIES_SUBSCRIBE_LIMIT".into(), "2".into()));
    let function = LambdaFunction::start(&env).await;
    let subscribe = |n: usize, ip: &str| {
        let mut event = http_api_event(
            "POST",
            "/api/subscribe",
            "",
            &[FORM, JSON],
            Some(&format!("email=ip-{n}%40example.com")),
        );
        event["requestContext"]["http"]["sourceIp"] = ip.into();
        event
    };
    for n in 0..2 {
        let answer = function.invoke(&subscribe(n, "198.51.100.1")).await;
        assert_eq!(answer["statusCode"], 200);
    }
    let limited = function.invoke(&subscribe(2, "198.51.100.1")).await;
    assert_eq!(limited["statusCode"], 429);
    let other = function.invoke(&subscribe(3, "198.51.100.2")).await;
    assert_eq!(other["statusCode"], 200);
}

/// A REST API on its execute-api host: paths carry the stage. Routes match without it; the
/// redirect back to the form and the admin call's signature keep it.
#[tokio::test]
async fn rest_api_events_under_a_stage_are_routed_redirected_and_verified() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let mut env = function_env(&deployment).await;
    env.push((
        "STORIES_CORS_ORIGINS".into(),
        "https://site.example.com".into(),
    ));
    let function = LambdaFunction::start(&env).await;
    let html = ("accept", "text/html");

    let home = function
        .invoke(&rest_api_event("prod", "GET", "/", &[], &[html], None))
        .await;
    assert_eq!(home["statusCode"], 200);
    assert!(String::from_utf8_lossy(&body_of(&home)).contains("Newsletter"));
    let story = rest_api_event(
        "prod",
        "GET",
        "/post/function-as-a-service/",
        &[],
        &[html],
        None,
    );
    assert_eq!(function.invoke(&story).await["statusCode"], 200);

    let subscribe = |accept: (&str, &str)| {
        rest_api_event(
            "prod",
            "POST",
            "/api/subscribe",
            &[],
            &[FORM, accept],
            Some("email=rest%40example.com"),
        )
    };
    let json = function.invoke(&subscribe(JSON)).await;
    assert_eq!(json_body(&json), "subscribed");
    let no_js = function.invoke(&subscribe(html)).await;
    assert_eq!(no_js["statusCode"], 302);
    assert_eq!(
        header(&no_js, "location"),
        "/prod/?subscribe=already-subscribed#newsletter"
    );

    // The original sample's shape: a page elsewhere calling the API across origins.
    let preflight = function
        .invoke(&rest_api_event(
            "prod",
            "OPTIONS",
            "/api/subscribers",
            &[],
            &[
                ("Origin", "https://site.example.com"),
                ("Access-Control-Request-Method", "GET"),
                (
                    "Access-Control-Request-Headers",
                    "authorization,x-amz-date,x-amz-security-token",
                ),
            ],
            None,
        ))
        .await;
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        "https://site.example.com"
    );

    let list = signed_list(
        &function,
        &|method, path, query, headers, body| {
            rest_api_event("prod", method, path, query, headers, body)
        },
        "/prod",
    )
    .await;
    assert_eq!(
        json_body(&list)["subscribers"][0]["email"],
        "rest@example.com"
    );
}

/// The site's own paths a page names: its links, files, forms and preloads.
fn own_paths(html: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for attribute in ["href=\"", "src=\"", "action=\""] {
        for (at, _) in html.match_indices(attribute) {
            let value = &html[at + attribute.len()..];
            let value = &value[..value.find('"').unwrap_or(value.len())];
            if value.starts_with('/') && !value.starts_with("//") {
                paths.push(value.to_owned());
            }
        }
    }
    paths
}

/// Every path `answer`'s page names (links, forms, files, the hydration script) is under
/// `/prod`, which the page names for its islands; its policy allows its own scripts.
fn assert_page_under_prod(answer: &Value, path: &str) {
    assert_page_under("/prod", answer, path);
}

fn assert_page_under(prefix: &str, answer: &Value, path: &str) {
    let page = String::from_utf8(body_of(answer)).unwrap();
    let paths = own_paths(&page);
    assert!(paths.len() >= 4, "{path}: {paths:?}");
    for own in &paths {
        assert!(own.starts_with(&format!("{prefix}/")), "{path} names {own}");
    }
    assert!(
        page.contains(&format!(r#"<meta name="path-prefix" content="{prefix}">"#)),
        "{path}"
    );
    assert!(
        page.contains(&format!(r#"("{prefix}", "pkg", "#)),
        "{path}: the hydration script"
    );
    let policy = header(answer, "content-security-policy");
    for hash in server::csp::inline_script_hashes(&page) {
        assert!(policy.contains(&hash), "{path}: {hash} not in {policy}");
    }
}

/// Called on the execute-api host, a REST API's pages are under the stage: every link, form,
/// file and the hydration script name `/prod/…`, the islands learn it from a `<meta>`,
/// and the policy still allows the page's own scripts. The same function's pages called
/// without a stage (kept by the page cache too) name none.
#[tokio::test]
async fn pages_under_a_stage_name_everything_under_it() {
    let deployment = Deployment::new().await;
    let function = LambdaFunction::start(&function_env(&deployment).await).await;
    let html = ("accept", "text/html");
    let at_root = |path: &str| http_api_event("GET", path, "", &[html], None);
    let under_stage = |path: &str| rest_api_event("prod", "GET", path, &[], &[html], None);
    // A page at the root first: what leptos keeps from the first page must not stick.
    assert_eq!(function.invoke(&at_root("/login")).await["statusCode"], 200);

    for (path, status) in [
        ("/", 200),
        ("/", 200), // the kept copy
        ("/post/function-as-a-service/", 200),
        ("/login", 200),
        ("/admin", 200),
        ("/post/nope/", 404),
    ] {
        let answer = function.invoke(&under_stage(path)).await;
        assert_eq!(answer["statusCode"], status, "{path}");
        assert_page_under_prod(&answer, path);
    }
    // The files a page names are there, under the stage (public/'s: these tests build no site).
    let home = function.invoke(&under_stage("/")).await;
    let home = String::from_utf8(body_of(&home)).unwrap();
    let files: Vec<String> = own_paths(&home)
        .into_iter()
        .filter(|path| path.ends_with(".svg"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    for file in &files {
        let routed = file.strip_prefix("/prod").unwrap();
        let answer = function.invoke(&under_stage(routed)).await;
        assert_eq!(answer["statusCode"], 200, "{file}");
    }

    for path in ["/", "/login"] {
        let page = String::from_utf8(body_of(&function.invoke(&at_root(path)).await)).unwrap();
        assert!(
            !page.contains("/prod"),
            "{path} at the root names the stage"
        );
        assert!(
            own_paths(&page).iter().any(|own| own.starts_with("/pkg/")),
            "{path}"
        );
    }
}

/// An HTTP API with a named stage (not the template's `$default`) has the stage in its one
/// path: it is taken off for routing and put back where a REST API's is.
#[tokio::test]
async fn an_http_api_under_a_named_stage_serves_pages_redirects_and_the_signed_list() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let function = LambdaFunction::start(&function_env(&deployment).await).await;
    let html = ("accept", "text/html");
    for path in ["/", "/post/function-as-a-service/", "/login"] {
        let answer = function
            .invoke(&http_api_stage_event(
                "prod",
                "GET",
                path,
                "",
                &[html],
                None,
            ))
            .await;
        assert_eq!(answer["statusCode"], 200, "{path}");
        assert_page_under_prod(&answer, path);
    }
    let stage_root = function
        .invoke(&http_api_stage_event("prod", "GET", "", "", &[html], None))
        .await;
    assert_eq!(stage_root["statusCode"], 200);
    let no_js = function
        .invoke(&http_api_stage_event(
            "prod",
            "POST",
            "/api/subscribe",
            "",
            &[FORM, html],
            Some("email=stage%40example.com"),
        ))
        .await;
    assert_eq!(no_js["statusCode"], 302);
    assert_eq!(
        header(&no_js, "location"),
        "/prod/?subscribe=subscribed#newsletter"
    );
    let list = signed_list(
        &function,
        &|method, path, query, headers, body| {
            let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            http_api_stage_event("prod", method, path, &query.join("&"), headers, body)
        },
        "/prod",
    )
    .await;
    assert_eq!(
        json_body(&list)["subscribers"][0]["email"],
        "stage@example.com"
    );
}

/// `event` as it comes from a custom domain (`www.example.com`) whose base path `base` maps to
/// the API (`None`: the API at the domain's root). A REST API's event path then has the base
/// path too; an HTTP API's has no stage.
fn on_custom_domain(mut event: Value, base: Option<&str>) -> Value {
    event["requestContext"]["domainName"] = "www.example.com".into();
    if event.get("version").is_some() {
        event["requestContext"]["domainPrefix"] = "www".into();
        return event;
    }
    let routed = event["path"].as_str().unwrap().to_owned();
    let called = format!("{}{routed}", base.unwrap_or(""));
    event["path"] = called.clone().into();
    event["requestContext"]["path"] = called.into();
    event
}

/// A REST API on a custom domain with a base path (`/stories`): taken off the path to route and
/// put back wherever the browser needs it, as a stage is. An HTTP API on a custom domain has no
/// stage in its paths, even when its stage's name is one of the site's path segments.
#[tokio::test]
async fn custom_domains_base_paths_are_taken_off_and_put_back() {
    let deployment = Deployment::new().await;
    deployment.add_user("ada", PASSWORD, &["admin"]).await;
    let function = LambdaFunction::start(&function_env(&deployment).await).await;
    let html = ("accept", "text/html");
    let rest = |method: &str,
                path: &str,
                query: &[(&str, &str)],
                headers: &[(&str, &str)],
                body: Option<&str>| {
        on_custom_domain(
            rest_api_event("prod", method, path, query, headers, body),
            Some("/stories"),
        )
    };
    for path in ["/", "/post/function-as-a-service/", "/login"] {
        let answer = function
            .invoke(&rest("GET", path, &[], &[html], None))
            .await;
        assert_eq!(answer["statusCode"], 200, "{path}");
        assert_page_under("/stories", &answer, path);
    }
    let no_js = function
        .invoke(&rest(
            "POST",
            "/api/subscribe",
            &[],
            &[FORM, html],
            Some("email=domain%40example.com"),
        ))
        .await;
    assert_eq!(
        header(&no_js, "location"),
        "/stories/?subscribe=subscribed#newsletter"
    );
    let list = signed_list(&function, &rest, "/stories").await;
    assert_eq!(
        json_body(&list)["subscribers"][0]["email"],
        "domain@example.com"
    );

    // The REST API at the domain's root: nothing to take off.
    let at_root = on_custom_domain(
        rest_api_event("prod", "GET", "/login", &[], &[html], None),
        None,
    );
    let page = String::from_utf8(body_of(&function.invoke(&at_root).await)).unwrap();
    assert!(!page.contains("path-prefix"), "{page}");
    // An HTTP API's stage called `api` on a custom domain: `/api/…` is the site's.
    let mut subscribe = http_api_event(
        "POST",
        "/api/subscribe",
        "",
        &[FORM, JSON],
        Some("email=http-domain%40example.com"),
    );
    subscribe["requestContext"]["stage"] = "api".into();
    let subscribed = function.invoke(&on_custom_domain(subscribe, None)).await;
    assert_eq!(json_body(&subscribed), "subscribed");
}

/// The template's schedule: an event that is not an HTTP request sends what is due of the
/// started issues (here through the test SMTP sink) and says where they stand; an HTTP request
/// to the path such events are passed on as is not one.
#[tokio::test]
async fn a_scheduled_event_delivers_started_issues() {
    let deployment = Deployment::new().await;
    let (smtp, maildir) = common::smtp_sink();
    let mut env = function_env(&deployment).await;
    env.push((
        "STORIES_PUBLIC_URL".into(),
        "https://stories.example".into(),
    ));
    env.push(("STORIES_SMTP_URL".into(), smtp));
    let function = LambdaFunction::start(&env).await;
    let tick = json!({ "serverless-stories": "deliver-issues" });
    assert_eq!(function.invoke(&tick).await, json!({ "issues": [] }));

    let readers = [
        format!("{}@example.com", common::unique_name("tick-a")),
        format!("{}@example.com", common::unique_name("tick-b")),
    ];
    for reader in &readers {
        let body = format!("email={}", reader.replace('@', "%40"));
        let answer = function
            .invoke(&http_api_event(
                "POST",
                "/api/subscribe",
                "",
                &[FORM, JSON],
                Some(&body),
            ))
            .await;
        assert_eq!(json_body(&answer), "subscribed");
    }
    // Started from a terminal (the admin page does the same): the function sends it.
    let dir = common::data_dir();
    let mut cli = deployment.env();
    cli.push(("STORIES_DATA_DIR".into(), dir.path().display().to_string()));
    cli.push((
        "STORIES_PUBLIC_URL".into(),
        "https://stories.example".into(),
    ));
    let started = run_cli(&["issue", "start", "function-as-a-service"], &cli);
    assert!(
        String::from_utf8_lossy(&started.stdout).contains("for 2 confirmed subscribers"),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let delivered = function.invoke(&tick).await;
    assert_eq!(
        delivered,
        json!({ "issues": [{ "slug": "function-as-a-service", "sent": 2, "failed": 0,
                             "skipped": 0, "left": 0 }] })
    );
    for reader in &readers {
        let mail = common::received_by_sink(&maildir, reader)
            .unwrap_or_else(|| panic!("no issue for {reader}"));
        assert!(mail.contains("Subject: Function as a Service: The Next Big Thing"));
    }
    // Done: the next tick has nothing to send.
    assert_eq!(function.invoke(&tick).await, json!({ "issues": [] }));
    // An HTTP request is routed as one, whatever its path.
    let http = function
        .invoke(&http_api_event("POST", "/events", "", &[JSON], Some("{}")))
        .await;
    assert_eq!(http["statusCode"], 404, "{http}");
}

/// `--identity oidc` in Lambda mode: init fetches nothing from the provider; the sign-in's
/// redirects and cookies travel through HTTP API events (cookies in their own `cookies` arrays,
/// as API Gateway sends and expects them), and the handed-over token gets credentials.
#[tokio::test]
async fn an_admin_signs_in_at_an_openid_connect_provider_through_http_api_events() {
    let deployment = Deployment::new().await;
    let provider = common::oidc_provider::FakeProvider::start().await;
    let mut env: Vec<(String, String)> = function_env(&deployment)
        .await
        .into_iter()
        .filter(|(name, _)| name != "STORIES_IDENTITY")
        .collect();
    env.extend(provider.settings());
    env.push(("STORIES_PUBLIC_URL".into(), format!("https://{API_HOST}")));
    let function = LambdaFunction::start(&env).await;
    let cookies_of = |answer: &Value| -> Vec<String> {
        answer["cookies"]
            .as_array()
            .map(|cookies| {
                cookies
                    .iter()
                    .filter_map(|c| c.as_str())
                    .map(|c| c.split(';').next().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let login = function
        .invoke(&http_api_event("GET", "/login", "", &[], None))
        .await;
    assert!(String::from_utf8_lossy(&body_of(&login)).contains("Log in with Example ID"));
    let start = function
        .invoke(&http_api_event("GET", "/login/oidc", "", &[], None))
        .await;
    assert_eq!(start["statusCode"], 303);
    let attempt = cookies_of(&start);
    // Over HTTPS, a cookie no other host can plant.
    assert!(
        attempt[0].starts_with("__Host-stories_oidc_"),
        "{attempt:?}"
    );
    let authorize = header(&start, "location").to_owned();
    assert!(
        authorize.contains("redirect_uri=https%3A%2F%2Fa1b2c3d4e5.execute-api"),
        "{authorize}"
    );

    let at_provider = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&authorize)
        .send()
        .await
        .unwrap();
    let back = at_provider.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let query = back
        .strip_prefix(&format!("https://{API_HOST}/login/callback?"))
        .unwrap_or_else(|| panic!("{back}"));
    let mut callback = http_api_event("GET", "/login/callback", query, &[], None);
    callback["cookies"] = json!(attempt);
    let landed = function.invoke(&callback).await;
    assert_eq!(landed["statusCode"], 200, "{landed}");
    let page = String::from_utf8_lossy(&body_of(&landed)).into_owned();
    let token = page
        .split("data-token=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the token in the landing page")
        .to_owned();

    let credentials = function
        .invoke(&http_api_event(
            "POST",
            "/api/credentials",
            "",
            &[FORM, JSON],
            Some(&format!("token={token}")),
        ))
        .await;
    assert_eq!(credentials["statusCode"], 200, "{credentials}");
    assert!(json_body(&credentials)["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .starts_with("ASIA"));
}
