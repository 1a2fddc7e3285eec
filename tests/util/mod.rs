//! Shared helpers for the integration tests: a sandbox on `127.0.0.1:0` and a thin HTTP
//! helper that sends what a well-behaved Krayin client sends. Tests reach no other address.

#![allow(dead_code)]

use std::time::Duration;

use krayin_etl::sandbox::{self, Config, Handle};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A sandbox with no rate limit and an in-memory store, unless the test says otherwise.
pub fn config() -> Config {
    Config {
        rate_limit: None,
        ..Config::default()
    }
}

pub async fn start(config: Config) -> (Handle, Api) {
    let handle = sandbox::spawn(config).await.expect("sandbox starts");
    let api = Api::new(&handle.api_base());
    (handle, api)
}

/// Starts a sandbox and logs in as the seeded admin.
pub async fn start_logged_in(config: Config) -> (Handle, Api) {
    let (handle, mut api) = start(config).await;
    api.login().await;
    (handle, api)
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub http: reqwest::Client,
    /// Send `Accept: application/json` (Krayin requires it, §2).
    pub accept_json: bool,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            token: None,
            http: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            accept_json: true,
        }
    }

    /// The request as this client sends it (base, Accept, token, JSON body).
    fn request(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if self.accept_json {
            req = req.header("Accept", "application/json");
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let res = self
            .request(method, path, body.as_ref())
            .send()
            .await
            .expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// Logs in as the seeded admin and keeps the token.
    pub async fn login(&mut self) -> String {
        let a = self
            .post(
                "/login",
                json!({"email": "admin@example.com", "password": "admin123", "device_name": "tests"}),
            )
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        let token = a.json()["token"]
            .as_str()
            .expect("top-level token")
            .to_string();
        self.token = Some(token.clone());
        token
    }

    /// Every lead in the CRM, by id, through the API as a user would see them: logs in as the
    /// seeded admin and reads `/leads` a page at a time. Retries what a faulty sandbox fails
    /// or drops (bounded), so it also works against one injecting faults.
    pub async fn all_leads(&mut self) -> Vec<Value> {
        async fn attempt(api: &Api, method: Method, path: &str, body: Option<Value>) -> Value {
            for _ in 0..100 {
                if let Ok(res) = api
                    .request(method.clone(), path, body.as_ref())
                    .send()
                    .await
                    && res.status() == 200
                    && let Ok(v) = res.json::<Value>().await
                {
                    return v;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{path} kept failing");
        }
        let login =
            json!({"email": "admin@example.com", "password": "admin123", "device_name": "tests"});
        let token = attempt(self, Method::POST, "/login", Some(login)).await;
        self.token = Some(token["token"].as_str().expect("a token").to_string());
        let mut leads = Vec::new();
        for page in 1.. {
            let path = format!("/leads?sort=id&order=asc&limit=200&page={page}");
            let v = attempt(self, Method::GET, &path, None).await;
            let data = v["data"].as_array().expect("a page of leads").clone();
            let last = data.len() < 200;
            leads.extend(data);
            if last {
                break;
            }
        }
        leads
    }

    /// `/_sandbox/stats`, outside `/api/v1`.
    pub async fn stats(&self) -> Value {
        let root = self.base.trim_end_matches("/api/v1");
        self.http
            .get(format!("{root}/_sandbox/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A valid lead body with a new person whose e-mail is `email`.
pub fn lead(title: &str, email: &str) -> Value {
    json!({
        "title": title,
        "lead_value": "1000.00",
        "lead_source_id": 1,
        "lead_type_id": 1,
        "lead_pipeline_stage_id": 1,
        "person": {
            "name": format!("Person {email}"),
            "emails": [{"value": email, "label": "work"}]
        }
    })
}

/// A date `days` from today in the sandbox's default zone (Asia/Kolkata).
pub fn date_in_days(days: i64) -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Kolkata").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(tz).date();
    today
        .checked_add(jiff::Span::new().days(days))
        .unwrap()
        .to_string()
}

/// A folder of its own for one test, with the samples and mappings copied in, and a way to
/// run the real binary there. Prints the whole output when an expectation fails.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["samples", "mappings"] {
            let to = dir.path().join(sub);
            std::fs::create_dir_all(&to).unwrap();
            for e in std::fs::read_dir(root.join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
                }
            }
        }
        Workdir { dir }
    }

    pub fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_krayin-etl"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("KRAYIN_API_BASE")
            .env_remove("KRAYIN_API_TOKEN")
            .env_remove("KRAYIN_LOGIN_EMAIL")
            .env_remove("KRAYIN_LOGIN_PASSWORD")
            .env("NO_COLOR", "1");
        c
    }

    /// Runs the binary to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args))
    }

    pub fn run_with(&self, mut c: std::process::Command) -> Run {
        let out = c.output().expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A command aimed at an in-process sandbox, logging in as the seeded admin.
    pub fn against(&self, sandbox: &Handle, args: &[&str]) -> std::process::Command {
        let mut c = self.command(args);
        c.env("KRAYIN_API_BASE", sandbox.api_base())
            .env("KRAYIN_LOGIN_EMAIL", "admin@example.com")
            .env("KRAYIN_LOGIN_PASSWORD", "admin123");
        c
    }

    /// A command aimed at an in-process sandbox with an API token (no login, so the test's
    /// own session is not revoked).
    pub fn with_token(
        &self,
        sandbox: &Handle,
        token: &str,
        args: &[&str],
    ) -> std::process::Command {
        let mut c = self.command(args);
        c.env("KRAYIN_API_BASE", sandbox.api_base())
            .env("KRAYIN_API_TOKEN", token);
        c
    }

    /// The rows of a CSV file as header-keyed maps.
    pub fn csv(&self, rel: &str) -> Vec<std::collections::HashMap<String, String>> {
        let mut r = csv::Reader::from_path(self.path(rel)).unwrap();
        let h = r.headers().unwrap().clone();
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                h.iter()
                    .zip(rec.iter())
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect()
            })
            .collect()
    }
}

/// (lead id, person id) of every lead the CRM holds, read through the API.
pub fn crm_leads(
    rt: &tokio::runtime::Runtime,
    api: &mut Api,
) -> std::collections::HashSet<(String, String)> {
    rt.block_on(api.all_leads())
        .iter()
        .map(|l| (l["id"].to_string(), l["person"]["id"].to_string()))
        .collect()
}

/// (lead id, person id) of every row of a success file.
pub fn success_ids(
    rows: &[std::collections::HashMap<String, String>],
) -> std::collections::HashSet<(String, String)> {
    rows.iter()
        .map(|l| (l["lead_id"].clone(), l["person_id"].clone()))
        .collect()
}

/// Opens an embedded-sandbox database file (what `--sandbox` wrote) for inspection.
pub fn sandbox_db(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

pub fn count(db: &rusqlite::Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}
