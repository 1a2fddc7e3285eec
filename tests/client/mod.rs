//! The Krayin client against the sandbox, in both modes: auth and single-flight re-login,
//! throttling survived, retries, ambiguous writes surfaced, 422s parsed, look-ups cached,
//! secrets never logged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use krayin_etl::krayin::{Class, Client, ClientConfig, Credentials, PageQuery, Rate, Secret};
use krayin_etl::sandbox::{self, Config, Faults, Mode};
use serde_json::json;

use crate::util::{self, lead};

fn login() -> Credentials {
    Credentials::Login {
        email: "admin@example.com".into(),
        password: Secret::new("admin123"),
        device_name: "tests".into(),
    }
}

/// A client for `handle`, unpaced unless `rate` is given, with short waits for tests.
fn client(handle: &sandbox::Handle, credentials: Credentials, rate: Option<Rate>) -> Client {
    let mut c = ClientConfig::new(handle.api_base().parse().unwrap(), credentials);
    c.rate = rate;
    c.retry.base = Duration::from_millis(20);
    c.retry.cap = Duration::from_millis(200);
    c.retry.throttle_floor = Duration::from_secs(1);
    c.retry.max_attempts = 8;
    Client::new(c).unwrap()
}

fn per_second(max: u32) -> Option<sandbox::RateLimit> {
    Some(sandbox::RateLimit {
        max,
        per: Duration::from_secs(1),
    })
}

async fn login_count(api: &util::Api) -> u64 {
    api.stats().await["requests"]["by_route"]["POST /api/v1/login"]["200"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn logs_in_lazily_and_once_for_many_tasks() {
    let (h, api) = util::start(util::config()).await;
    let c = client(&h, login(), None);
    let calls = (0..10).map(|_| {
        let c = c.clone();
        async move { c.me().await }
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().email, "admin@example.com");
    }
    assert_eq!(
        login_count(&api).await,
        1,
        "concurrent first calls share one login"
    );
}

#[tokio::test]
async fn revoked_token_triggers_one_shared_relogin() {
    for mode in [Mode::Debug, Mode::Production] {
        let (h, mut other) = util::start(Config {
            mode,
            ..util::config()
        })
        .await;
        let c = client(&h, login(), None);
        c.me().await.unwrap();
        // Another integration logs in with the same account: our token is revoked (§3).
        other.login().await;
        let calls = (0..8).map(|_| {
            let c = c.clone();
            async move { c.me().await }
        });
        for r in futures::future::join_all(calls).await {
            r.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        }
        assert_eq!(
            login_count(&other).await,
            3,
            "{mode:?}: ours, theirs, one re-login"
        );
    }
}

#[tokio::test]
async fn a_refused_token_without_login_is_an_auth_error() {
    let (h, _api) = util::start(util::config()).await;
    let c = client(&h, Credentials::Token(Secret::new("1|wrong")), None);
    let e = c.me().await.unwrap_err();
    assert_eq!(e.class(), Class::Auth);
    assert!(e.to_string().contains("KRAYIN_API_TOKEN"), "{e}");
    let bad = client(
        &h,
        Credentials::Login {
            email: "admin@example.com".into(),
            password: Secret::new("nope"),
            device_name: "t".into(),
        },
        None,
    );
    let e = bad.me().await.unwrap_err();
    assert_eq!(e.class(), Class::Auth);
    assert!(e.to_string().contains("credentials are incorrect"), "{e}");
}

#[tokio::test]
async fn a_token_is_used_as_is() {
    let (h, mut api) = util::start(util::config()).await;
    let token = api.login().await;
    let c = client(&h, Credentials::Token(Secret::new(token)), None);
    assert_eq!(c.me().await.unwrap().id, 1);
    assert_eq!(login_count(&api).await, 1, "no login with a token");
}

/// Fires creates four at a time with client pacing off against a server allowing 10/s: some
/// are refused and must come back through the retry rules, none lost and none doubled.
async fn survive_throttling(mode: Mode) {
    let (h, api) = util::start(Config {
        mode,
        rate_limit: per_second(10),
        ..Config::default()
    })
    .await;
    let c = client(&h, login(), None);
    let n = 25;
    use futures::StreamExt;
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let c = c.clone();
            async move {
                (
                    i,
                    c.create_lead(&lead(&format!("T{i}"), &format!("t{i}@x.test")))
                        .await,
                )
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut ambiguous = Vec::new();
    for (i, r) in results {
        match r {
            Ok(l) => assert_eq!(l.title.as_deref(), Some(format!("T{i}").as_str())),
            // Production can't always tell a throttled write from a failed one: the client
            // hands it back as ambiguous, never re-sends it blindly.
            Err(e) if e.is_ambiguous() && mode == Mode::Production => ambiguous.push(i),
            Err(e) => panic!("{mode:?} lead {i}: {e}"),
        }
    }
    let stats = api.stats().await;
    assert!(
        stats["requests"]["throttled"].as_u64().unwrap() > 0,
        "{mode:?}: the test must provoke throttling"
    );
    let leads = stats["counts"]["leads"].as_u64().unwrap();
    assert_eq!(
        leads + ambiguous.len() as u64,
        n as u64,
        "{mode:?}: {stats}"
    );
    assert!(stats["duplicates"]["leads"].as_array().unwrap().is_empty());
    let throttled: u64 = c.metrics().report().values().map(|e| e.throttled).sum();
    if mode == Mode::Debug {
        assert!(throttled > 0, "429s are counted in the metrics");
        assert!(ambiguous.is_empty());
    }
}

#[tokio::test]
async fn throttling_is_survived_in_debug_mode() {
    survive_throttling(Mode::Debug).await;
}

#[tokio::test]
async fn throttling_is_survived_in_production_mode() {
    survive_throttling(Mode::Production).await;
}

#[tokio::test]
async fn pacing_at_the_quota_is_never_throttled() {
    let (h, api) = util::start(Config {
        rate_limit: per_second(20),
        ..Config::default()
    })
    .await;
    // The client learns 20 from X-RateLimit-Limit after its first answer.
    let c = client(
        &h,
        login(),
        Some(Rate {
            max: 25,
            per: Duration::from_secs(1),
        }),
    );
    let calls = (0..40).map(|_| {
        let c = c.clone();
        async move { c.me().await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(c.rate().unwrap().max, 20, "learned from the server");
    let stats = api.stats().await;
    assert!(
        stats["requests"]["throttled"].as_u64().unwrap() <= 1,
        "{stats}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried() {
    for mode in [Mode::Debug, Mode::Production] {
        let (h, _api) = util::start(Config {
            mode,
            faults: Faults {
                fail_before: 0.3,
                seed: 11,
                ..Faults::default()
            },
            ..util::config()
        })
        .await;
        let c = client(&h, login(), None);
        for _ in 0..20 {
            c.leads_page(&PageQuery::default())
                .await
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        }
        let retries: u64 = c.metrics().report().values().map(|e| e.retries).sum();
        assert!(retries > 0, "{mode:?}");
    }
}

#[tokio::test]
async fn an_ambiguous_write_is_surfaced_not_retried() {
    let (h, api) = util::start(Config {
        faults: Faults {
            fail_after_commit: 1.0,
            ..Faults::default()
        },
        ..util::config()
    })
    .await;
    let c = client(&h, login(), None);
    let e = c
        .create_lead(&lead("once", "once@x.test"))
        .await
        .unwrap_err();
    assert!(e.is_ambiguous(), "{e}");
    let stats = api.stats().await;
    assert_eq!(
        stats["requests"]["by_route"]["POST /api/v1/leads"]["500"], 1,
        "sent once"
    );
    assert_eq!(stats["counts"]["leads"], 1, "and it was applied");
    // The caller resolves it by looking the person up.
    let found = c.find_persons_by_email("ONCE@x.test").await.unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_dropped_write_is_ambiguous_and_a_dropped_read_is_retried() {
    let (h, _api) = util::start(Config {
        faults: Faults {
            drop_connection: 0.5,
            seed: 5,
            ..Faults::default()
        },
        ..util::config()
    })
    .await;
    let c = client(&h, login(), None);
    for _ in 0..10 {
        c.leads_page(&PageQuery::default()).await.unwrap();
    }
    let mut ambiguous = 0;
    for i in 0..10 {
        match c.create_lead(&lead("d", &format!("drop{i}@x.test"))).await {
            Ok(_) => {}
            Err(e) if e.is_ambiguous() => ambiguous += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        ambiguous > 0,
        "with half the connections dropped some writes are ambiguous"
    );
}

#[tokio::test]
async fn validation_errors_are_parsed() {
    let (h, _api) = util::start(util::config()).await;
    let c = client(&h, login(), None);
    let e = c
        .create_lead(&json!({"title": "", "lead_value": "-1", "lead_pipeline_stage_id": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.class(), Class::Permanent);
    assert_eq!(e.status().unwrap(), 422);
    let f = e.field_errors().unwrap();
    assert_eq!(f["title"], ["The title field is required."]);
    assert!(f.contains_key("lead_value"));
}

#[tokio::test]
async fn lookups_are_fetched_once_per_run() {
    let (h, api) = util::start(util::config()).await;
    let c = client(&h, login(), None);
    let a = c.lookups().await.unwrap();
    let b = c.lookups().await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.pipelines[0].stages.len(), 6);
    assert_eq!(a.sources[0].name, "Email", "sorted by id");
    let stats = api.stats().await;
    for route in ["sources", "types", "pipelines", "users", "attributes"] {
        assert_eq!(
            stats["requests"]["by_route"][format!("GET /api/v1/settings/{route}")]["200"],
            1,
            "{route}"
        );
    }
}

#[tokio::test]
async fn the_person_index_loads_in_pages() {
    let (h, api) = util::start_logged_in(util::config()).await;
    for i in 0..7 {
        let mut body = lead("p", &format!("P{i}@X.test"));
        body["person"]["contact_numbers"] =
            json!([{"value": format!("+55 11 9999-000{i}"), "label": "work"}]);
        assert_eq!(api.post("/leads", body).await.status, 200);
    }
    let c = client(&h, login(), None);
    let idx = c.person_index(3).await.unwrap();
    assert_eq!(idx.len(), 7);
    assert!(idx.by_email("p3@x.test").is_some(), "case-insensitive");
    assert_eq!(idx.by_phone("+551199990005"), idx.by_email("p5@x.test"));
    let stats = api.stats().await;
    assert_eq!(
        stats["requests"]["by_route"]["GET /api/v1/contacts/persons"]["200"],
        3
    );
}

/// Collects every log line of the calls made inside it.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_or_an_error() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let password = "admin123";
    let (h, mut other) = util::start(Config {
        mode: Mode::Production,
        faults: Faults {
            fail_before: 0.2,
            seed: 2,
            ..Faults::default()
        },
        ..util::config()
    })
    .await;
    let c = client(&h, login(), None);
    c.me().await.unwrap();
    other.login().await;
    c.me().await.unwrap();
    let e = c.create_lead(&json!({"title": ""})).await.unwrap_err();
    let bad = client(
        &h,
        Credentials::Token(Secret::new("1|topsecret-token-value")),
        None,
    );
    let e2 = bad.me().await.unwrap_err();
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty(), "something was logged");
    for text in [
        logs.as_str(),
        &e.to_string(),
        &e2.to_string(),
        &format!("{c:?} {e:?} {e2:?}"),
    ] {
        assert!(!text.contains(password), "password leaked: {text}");
        assert!(!text.contains("topsecret"), "token leaked: {text}");
        let token = other.token.as_deref().unwrap();
        assert!(
            !text.contains(token.split('|').nth(1).unwrap()),
            "token leaked"
        );
        assert!(!looks_like_a_token(text), "a Sanctum token leaked: {text}");
    }
}

/// Any `id|<40 alphanumerics>` (Sanctum's format) in the text?
fn looks_like_a_token(text: &str) -> bool {
    text.match_indices('|').any(|(i, _)| {
        let rest = &text[i + 1..];
        rest.len() >= 40 && rest[..40].chars().all(|c| c.is_ascii_alphanumeric())
    })
}
