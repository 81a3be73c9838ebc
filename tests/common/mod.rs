//! Shared by the emulator tests: the local stack's settings, fresh random resource names
//! per test, running the binaries, and cleaning up.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use instashop::platform::gcp::Gcp;
use instashop::platform::settings::{GcpArgs, Names};
use serde_json::Value;

/// The variables `scripts/emulators.sh env` prints.
pub const EMULATOR_VARS: [&str; 4] = [
    "PUBSUB_EMULATOR_HOST",
    "BIGQUERY_EMULATOR_HOST",
    "BIGQUERY_STORAGE_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
];

/// The emulators' settings from the environment. These tests never talk to Google
/// Cloud: a missing variable fails the test with what to do.
pub fn gcp_args() -> GcpArgs {
    let var = |name: &str| match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: emulator tests need the local stack; run scripts/test.sh, or `scripts/emulators.sh start && eval \"$(scripts/emulators.sh env)\"` first"
        ),
    };
    GcpArgs {
        project: std::env::var("GOOGLE_CLOUD_PROJECT").unwrap_or_else(|_| "data-ecommerce-demo".into()),
        pubsub_emulator_host: Some(var("PUBSUB_EMULATOR_HOST")),
        bigquery_emulator_host: Some(var("BIGQUERY_EMULATOR_HOST")),
        bigquery_storage_emulator_host: Some(var("BIGQUERY_STORAGE_EMULATOR_HOST")),
        storage_emulator_host: Some(var("STORAGE_EMULATOR_HOST")),
    }
}

/// Fresh names for one test, so tests share the emulators without meeting.
pub fn fresh_names(test: &str) -> Names {
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    Names {
        dataset: format!("t_{test}_{id}"),
        bucket: format!("t-{}-{id}", test.replace('_', "-")),
        topic: format!("t-{test}-{id}"),
        subscription: format!("t-{test}-{id}-worker"),
    }
}

/// The repository's data model folder.
pub fn model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")
}

/// The path of a binary of this crate.
pub fn exe(name: &str) -> &'static str {
    match name {
        "provision" => env!("CARGO_BIN_EXE_provision"),
        "publisher" => env!("CARGO_BIN_EXE_publisher"),
        "stream-worker" => env!("CARGO_BIN_EXE_stream-worker"),
        "datagen" => env!("CARGO_BIN_EXE_datagen"),
        "batch-loader" => env!("CARGO_BIN_EXE_batch-loader"),
        "dashboard" => env!("CARGO_BIN_EXE_dashboard"),
        "replay" => env!("CARGO_BIN_EXE_replay"),
        "alerts" => env!("CARGO_BIN_EXE_alerts"),
        "refresh" => env!("CARGO_BIN_EXE_refresh"),
        "forecast" => env!("CARGO_BIN_EXE_forecast"),
        other => panic!("unknown binary {other}"),
    }
}

/// A binary of this crate, with the emulator environment and `names` as flags.
pub fn bin(name: &str, names: &Names) -> Command {
    let args = gcp_args();
    let mut cmd = Command::new(exe(name));
    cmd.env("GOOGLE_CLOUD_PROJECT", &args.project)
        .env("RUST_LOG", "warn")
        .env("INSTASHOP_DATASET", &names.dataset)
        .env("INSTASHOP_BUCKET", &names.bucket)
        .env("INSTASHOP_TOPIC", &names.topic)
        .env("INSTASHOP_SUBSCRIPTION", &names.subscription);
    cmd
}

/// Provisions fresh resources for one test; the worker's subscription gets the shortest
/// ack deadline (10 s), so redeliveries after a killed worker come quickly.
pub fn provision_fresh(test: &str) -> (Names, Gcp) {
    let names = fresh_names(test);
    let out = run(bin("provision", &names).args(["--ack-deadline-secs", "10"]));
    assert!(out.status.success(), "provision failed");
    (names, Gcp::new(&gcp_args()).unwrap())
}

/// Runs a command, returns its output; prints it so a failing test shows it.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the binary runs");
    eprintln!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The BigQuery client of the shared emulator. Its reachability probe gives up after 3 s
/// (what a user wants); tests running side by side keep that one-query-at-a-time
/// emulator busy for longer, so a test asks again for up to a minute before failing.
pub async fn bigquery(gcp: &Gcp) -> instashop::platform::gcp::BigQuery {
    let started = Instant::now();
    loop {
        match gcp.bigquery().await {
            Ok(bq) => return bq,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("BigQuery emulator busy, asking again: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("BigQuery emulator: {e}"),
        }
    }
}

/// Runs a query on the emulator (the library's `BigQuery::query`); returns rows as lists
/// of strings (NULL → None). A failed query fails the test with BigQuery's message.
pub async fn query(gcp: &Gcp, sql: &str) -> Vec<Vec<Option<String>>> {
    let bq = bigquery(gcp).await;
    bq.query(&gcp.project, sql, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("query failed: {e}\n{sql}"))
        .rows
}

/// Runs a stream worker (`point` adjusts its command: another emulator, say) until `sql`
/// (one number) reaches `want`, then stops it with SIGTERM. Waiting for the rows, not for
/// an idle timeout: the emulator may hold messages back for seconds, and a message cut
/// off in an abandoned pull comes back only after its ack deadline.
pub async fn stream_until(names: &Names, gcp: &Gcp, point: &dyn Fn(&mut Command), sql: &str, want: u64) {
    let mut worker = bin("stream-worker", names);
    point(&mut worker);
    let mut child = worker
        .args(["--flush-interval-ms", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the worker starts");
    let started = Instant::now();
    loop {
        let have: u64 = query(gcp, sql).await[0][0].as_deref().unwrap().parse().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the worker exited ({status}) with {have} of {want} rows: {sql}");
        }
        if have == want {
            break;
        }
        if have > want || started.elapsed() > Duration::from_secs(120) {
            // Stopped before the test fails, so that a failure leaves no worker running.
            signal(&child, "-KILL");
            let _ = child.wait();
            panic!("{have} of {want} rows: {sql}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    signal(&child, "-TERM");
    assert!(wait(&mut child, Duration::from_secs(20)).success());
}

/// Sends `sig` (`-TERM`, `-KILL`) to a child of this test; fails the test if `kill` fails.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} failed");
}

/// Publishes each payload with the same attributes to the test's topic.
pub async fn publish_payloads(
    gcp: &Gcp,
    names: &Names,
    payloads: &[String],
    attributes: &std::collections::HashMap<String, String>,
) {
    let messages = payloads
        .iter()
        .map(|p| (p.clone().into_bytes(), attributes.clone()))
        .collect();
    publish_raw(gcp, names, messages).await;
}

/// Publishes raw payloads, each with its attributes, to the test's topic; their message
/// ids, in order.
pub async fn publish_raw(
    gcp: &Gcp,
    names: &Names,
    messages: Vec<(Vec<u8>, std::collections::HashMap<String, String>)>,
) -> Vec<String> {
    let (endpoint, creds) = gcp.pubsub_credentials().await.unwrap();
    let publisher =
        google_cloud_pubsub::client::Publisher::builder(format!("projects/{}/topics/{}", gcp.project, names.topic))
            .with_endpoint(endpoint)
            .with_credentials(creds)
            .build()
            .await
            .unwrap();
    let pending: Vec<_> = messages
        .into_iter()
        .map(|(data, attributes)| {
            publisher.publish(
                google_cloud_pubsub::model::Message::new()
                    .set_data(bytes::Bytes::from(data))
                    .set_attributes(attributes),
            )
        })
        .collect();
    let mut ids = Vec::with_capacity(pending.len());
    for p in pending {
        ids.push(p.await.expect("published"));
    }
    ids
}

/// Rows in `table` of the test's dataset.
pub async fn count(gcp: &Gcp, names: &Names, table: &str) -> u64 {
    let rows = query(
        gcp,
        &format!("SELECT COUNT(*) AS n FROM `{}.{}.{table}`", gcp.project, names.dataset),
    )
    .await;
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

/// Deletes everything a test created under `names` (best effort: names are unique).
pub async fn cleanup(gcp: &Gcp, names: &Names) {
    if let Ok(bq) = gcp.bigquery().await {
        let path = format!(
            "/projects/{}/datasets/{}?deleteContents=true",
            gcp.project, names.dataset
        );
        let _ = bq.rest.delete("delete dataset", &path).await;
    }
    if let Ok(ps) = gcp.pubsub_admin().await {
        let p = &gcp.project;
        for s in [&names.subscription, &names.dead_letter_subscription()] {
            let _ = ps
                .subscriptions
                .delete_subscription()
                .set_subscription(format!("projects/{p}/subscriptions/{s}"))
                .send()
                .await;
        }
        for t in [&names.topic, &names.dead_letter_topic()] {
            let _ = ps
                .topics
                .delete_topic()
                .set_topic(format!("projects/{p}/topics/{t}"))
                .send()
                .await;
        }
    }
    if let Ok(gcs) = gcp.storage().await {
        let b = &names.bucket;
        if let Ok(Some(list)) = gcs.rest.get("list", &format!("/b/{b}/o")).await {
            for o in list["items"].as_array().cloned().unwrap_or_default() {
                let name = o["name"].as_str().unwrap_or_default().replace('/', "%2F");
                let _ = gcs.rest.delete("delete object", &format!("/b/{b}/o/{name}")).await;
            }
        }
        let _ = gcs.rest.delete("delete bucket", &format!("/b/{b}")).await;
    }
}

/// A JSON value's string form, for comparing API answers.
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Waits for a child to exit within `limit` (kills it and fails otherwise).
pub fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP relay on a loopback port of its own in front of one upstream port, to cut a
/// service off mid-run and bring it back. Cut off, its port is closed (a connect is
/// refused) and every open connection is shut, as when a service goes away; what the
/// upstream acknowledged before stays acknowledged. Bytes pass through unchanged.
pub struct Relay {
    /// The port clients connect to.
    pub port: u16,
    upstream: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    pub fn new(upstream: u16) -> Relay {
        let mut relay = Relay {
            port: free_port(),
            upstream,
            open: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        relay.up();
        relay
    }

    /// Opens the port (again) and relays every connection to the upstream.
    pub fn up(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        // Rust's listener sets SO_REUSEADDR, so the port binds again at once.
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the relay's port binds again");
        listener.set_nonblocking(true).unwrap();
        self.open.store(true, SeqCst);
        let (open, conns, upstream) = (self.open.clone(), self.conns.clone(), self.upstream);
        self.acceptor = Some(std::thread::spawn(move || {
            while open.load(SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue; // the client sees its connection closed
                        };
                        let mut held = conns.lock().unwrap();
                        held.push(client.try_clone().unwrap());
                        held.push(server.try_clone().unwrap());
                        drop(held);
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    // Nothing to accept yet (non-blocking), or a failed accept: look again.
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    /// Closes the port and shuts every open connection: the service is gone.
    pub fn down(&mut self) {
        self.open.store(false, SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.join().unwrap(); // the listener is dropped: connects are refused
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` on a thread of its own until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.down();
    }
}

/// A BigQuery emulator of this test's own, behind relays, to cut off and bring back
/// mid-run. The emulator itself keeps running: an outage is its ports closing and its
/// connections cut, and nothing it acknowledged is lost, as with BigQuery. (Stopping
/// and restarting the emulator instead put the emulator's own shutdown under test: a
/// run lost 85 acknowledged events across such a restart, cause not pinned.)
pub struct PrivateBigQuery {
    child: Child,
    /// Its REST port (the relay's).
    pub rest: u16,
    /// Its Storage Write API (gRPC) port (the relay's).
    pub grpc: u16,
    relays: [Relay; 2],
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateBigQuery {
    pub fn start() -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (rest, grpc) = (free_port(), free_port());
        let child = Command::new(root.join(".emulators/venv/bin/python"))
            .arg(root.join("scripts/bqemulator_serialized.py"))
            .args([
                "start",
                "--rest-host",
                "127.0.0.1",
                "--grpc-host",
                "127.0.0.1",
                "--log-level",
                "warning",
            ])
            .args(["--rest-port", &rest.to_string(), "--grpc-port", &grpc.to_string()])
            .args(["--project", &gcp_args().project])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the BigQuery emulator starts (scripts/emulators.sh install)");
        // Ready when its REST API answers a request, not when its port accepts: on a
        // busy machine the port opens seconds before the first answer, and a binary's
        // 3 s reachability probe would fail in between.
        let started = Instant::now();
        let answers = || -> std::io::Result<bool> {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(("127.0.0.1", rest))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(
                c,
                "GET /bigquery/v2/projects/{}/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                gcp_args().project
            )?;
            let mut head = [0u8; 12];
            c.read_exact(&mut head)?;
            Ok(head.starts_with(b"HTTP/1.1 200"))
        };
        while !answers().unwrap_or(false) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "private BigQuery emulator did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let relays = [Relay::new(rest), Relay::new(grpc)];
        PrivateBigQuery {
            child,
            rest: relays[0].port,
            grpc: relays[1].port,
            relays,
        }
    }

    /// BigQuery is back: its ports answer again.
    pub fn up(&mut self) {
        self.relays.iter_mut().for_each(Relay::up);
    }

    /// BigQuery is gone: its ports refuse connections and open ones are cut.
    pub fn down(&mut self) {
        self.relays.iter_mut().for_each(Relay::down);
    }

    pub fn args(&self) -> instashop::platform::settings::GcpArgs {
        instashop::platform::settings::GcpArgs {
            bigquery_emulator_host: Some(format!("127.0.0.1:{}", self.rest)),
            bigquery_storage_emulator_host: Some(format!("127.0.0.1:{}", self.grpc)),
            ..gcp_args()
        }
    }

    pub fn point(&self, cmd: &mut Command) {
        cmd.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", self.rest))
            .env("BIGQUERY_STORAGE_EMULATOR_HOST", format!("127.0.0.1:{}", self.grpc));
    }
}

impl Drop for PrivateBigQuery {
    fn drop(&mut self) {
        self.down();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait(&mut self.child, Duration::from_secs(20));
    }
}

/// The dashboard binary on a free loopback port, once it answers.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Served {
    pub fn start(names: &Names, extra_env: &[(&str, String)]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = bin("dashboard", names);
        cmd.args(["--addr", &format!("127.0.0.1:{port}"), "--query-timeout-secs", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("dashboard starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the dashboard exited at start ({status}); its error is above");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the dashboard did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Served {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP proxy on a loopback port of its own in front of the BigQuery emulator's REST
/// API that imposes contracts of BigQuery's the emulator lets pass. A query billed on
/// demand is billed at least 10 MiB for each table it references, so a query job whose
/// `maximumBytesBilled` is under that fails, billing nothing, with BigQuery's own answer
/// (400, reason `bytesBilledLimitExceeded`, "Query exceeded limit for bytes billed: CAP.
/// 10485760 or higher required."); the emulator bills 0 bytes and ignores the cap. A
/// request over 10 MB is refused (400, "Request payload size exceeds the limit"); the
/// emulator takes any size. On demand ([`StrictBigQuery::refuse_writes`]) it answers
/// insertAll with the 403 of a revoked role, or holds each insertAll a while
/// ([`StrictBigQuery::stall_writes`]). Every other request passes through
/// unchanged. `refused` counts the queries and requests it refused, so a test proves its
/// fault happened.
pub struct StrictBigQuery {
    /// The port clients connect to (`BIGQUERY_EMULATOR_HOST=127.0.0.1:PORT`).
    pub port: u16,
    refused: Arc<std::sync::atomic::AtomicU64>,
    writes: Arc<WriteGate>,
    region: Arc<Mutex<Option<String>>>,
}

/// Whether the proxy refuses `tabledata.insertAll` as BigQuery does a caller whose role
/// was revoked (403 `accessDenied`), and how many it refused.
#[derive(Default)]
struct WriteGate {
    closed: std::sync::atomic::AtomicBool,
    refused: std::sync::atomic::AtomicU64,
    /// Milliseconds each insertAll is held before it is forwarded (0: none).
    stall_ms: std::sync::atomic::AtomicU64,
    stalled: std::sync::atomic::AtomicU64,
    /// Rows holding these bytes are refused as rows BigQuery cannot store.
    rows: RowGate,
    /// The insertAll path (`/tables/T/insertAll`) whose rows `rows` judges.
    rows_of: Mutex<Option<String>>,
}

/// Which rows a strict proxy refuses as BigQuery refuses a row it cannot store (the
/// emulator stores anything that parses): those whose bytes hold a marker. Shared by the
/// insertAll proxy and the Storage Write one.
#[derive(Default)]
pub struct RowGate {
    marker: Mutex<Option<Vec<u8>>>,
    refused: std::sync::atomic::AtomicU64,
}

impl RowGate {
    /// The indexes of `rows` to refuse, counted as refused.
    fn at_fault<'a>(&self, rows: impl Iterator<Item = &'a [u8]>) -> Vec<usize> {
        let marker = self.marker.lock().unwrap().clone();
        let Some(m) = marker else { return Vec::new() };
        let found: Vec<usize> = rows
            .enumerate()
            .filter(|(_, r)| r.windows(m.len()).any(|w| w == m.as_slice()))
            .map(|(i, _)| i)
            .collect();
        self.refused.fetch_add(found.len() as u64, SeqCst);
        found
    }

    /// What BigQuery says of such a row.
    fn reason(&self) -> String {
        let m = self.marker.lock().unwrap().clone().unwrap_or_default();
        format!(
            "Cannot store the value {} in field product_id",
            String::from_utf8_lossy(&m)
        )
    }
}

/// BigQuery's limit on an HTTP request's size (the emulator takes any size).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// BigQuery's on-demand minimum per table referenced.
pub const MIN_BILLED_PER_TABLE: u64 = 10 * 1024 * 1024;

impl StrictBigQuery {
    /// In front of the shared emulator (`BIGQUERY_EMULATOR_HOST`), on a thread of its own.
    pub fn start() -> StrictBigQuery {
        let upstream = format!("http://{}", gcp_args().bigquery_emulator_host.unwrap());
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let counter = refused.clone();
        let writes = Arc::new(WriteGate::default());
        let gate = writes.clone();
        let region = Arc::new(Mutex::new(None));
        let in_region = region.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let http = reqwest::Client::new();
                let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                    strict_forward(
                        http.clone(),
                        upstream.clone(),
                        counter.clone(),
                        gate.clone(),
                        in_region.clone(),
                        req,
                    )
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        StrictBigQuery {
            port,
            refused,
            writes,
            region,
        }
    }

    /// From now on acts as BigQuery does for datasets in `region` (a single region such
    /// as `southamerica-west1`): every job it answers names that location, and a call on
    /// a job (`jobs.get`, `jobs.getQueryResults`, `jobs.cancel`) without
    /// `location=<region>` is answered 404 "Not found: Job", counted in `refused`.
    pub fn in_region(&self, region: &str) {
        *self.region.lock().unwrap() = Some(region.to_string());
    }

    /// How many queries (and over-size requests) it refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(SeqCst)
    }

    /// From now on answers every insertAll with BigQuery's 403 for a revoked role
    /// (`true`), or forwards them again (`false`).
    pub fn refuse_writes(&self, refuse: bool) {
        self.writes.closed.store(refuse, SeqCst);
    }

    /// From now on holds every insertAll for `by` before forwarding it, as a slow
    /// BigQuery would (`Duration::ZERO`: forwards them at once again).
    pub fn stall_writes(&self, by: Duration) {
        self.writes.stall_ms.store(by.as_millis() as u64, SeqCst);
    }

    /// How many insertAll calls it held so far.
    pub fn stalled_writes(&self) -> u64 {
        self.writes.stalled.load(SeqCst)
    }

    /// How many insertAll calls it refused so far.
    pub fn refused_writes(&self) -> u64 {
        self.writes.refused.load(SeqCst)
    }

    /// From now on refuses every insertAll row into `table` whose JSON holds `marker`, as
    /// BigQuery refuses a row it cannot store: 200 with `insertErrors` (`invalid` for
    /// those rows, `stopped` for the rest of the request), and none of the request's rows
    /// written.
    pub fn refuse_rows_holding(&self, table: &str, marker: &str) {
        *self.writes.rows.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
        *self.writes.rows_of.lock().unwrap() = Some(format!("/tables/{table}/insertAll"));
    }

    /// How many rows it refused so far.
    pub fn refused_rows(&self) -> u64 {
        self.writes.rows.refused.load(SeqCst)
    }
}

/// BigQuery's error answer: `status` (its HTTP code), `reason`, the gRPC-style status
/// name, and the message, as the REST API shapes it.
fn bigquery_error(status: http::StatusCode, reason: &str, grpc: &str, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let answer = serde_json::json!({"error": {
        "code": status.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": grpc,
    }});
    (status, axum::Json(answer)).into_response()
}

/// The job a call on one job names (`.../jobs/ID`, `.../jobs/ID/cancel`,
/// `.../queries/ID`), if it is one.
fn job_called(path: &str) -> Option<&str> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let at = parts.iter().rposition(|p| *p == "jobs" || *p == "queries")?;
    match &parts[at + 1..] {
        [id] | [id, "cancel"] => Some(id),
        _ => None,
    }
}

/// The cap a query job asks for, from a `jobs.query` or `jobs.insert` body; `None` when it
/// sets none or is not a query.
fn query_cap(path: &str, body: &Value) -> Option<u64> {
    let cap = if path.ends_with("/queries") {
        &body["maximumBytesBilled"]
    } else if path.ends_with("/jobs") {
        &body["configuration"]["query"]["maximumBytesBilled"]
    } else {
        return None;
    };
    cap.as_str().and_then(|s| s.parse().ok()).or_else(|| cap.as_u64())
}

/// The tables and views a query's text names (`project.dataset.table` in backticks).
fn tables_named(body: &Value) -> usize {
    let sql = body["query"]
        .as_str()
        .or_else(|| body["configuration"]["query"]["query"].as_str())
        .unwrap_or_default();
    let re = regex::Regex::new(r"`[A-Za-z0-9_-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+`").unwrap();
    re.find_iter(sql)
        .map(|m| m.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

async fn strict_forward(
    http: reqwest::Client,
    upstream: String,
    refused: Arc<std::sync::atomic::AtomicU64>,
    writes: Arc<WriteGate>,
    region: Arc<Mutex<Option<String>>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap();
    let path = parts.uri.path().to_string();
    let region = region.lock().unwrap().clone();
    if let Some(region) = &region
        && let Some(job) = job_called(&path)
    {
        let named = parts
            .uri
            .query()
            .unwrap_or_default()
            .split('&')
            .any(|pair| pair == format!("location={region}"));
        if !named {
            refused.fetch_add(1, SeqCst);
            let project = path
                .split('/')
                .skip_while(|s| *s != "projects")
                .nth(1)
                .unwrap_or_default();
            let message = format!("Not found: Job {project}:{job}");
            return bigquery_error(http::StatusCode::NOT_FOUND, "notFound", "NOT_FOUND", &message);
        }
    }
    // The limit is on the request as BigQuery reads it: a gzipped body (insertAll's) counts
    // by what it holds, which is also what bounds a row (10 MB).
    let gzipped = parts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let size = if gzipped {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_or(body.len(), |n| n)
    } else {
        body.len()
    };
    if parts.method == http::Method::POST && size > MAX_REQUEST_BYTES {
        refused.fetch_add(1, SeqCst);
        let message = format!("Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.");
        return bigquery_error(
            http::StatusCode::BAD_REQUEST,
            "badRequest",
            "INVALID_ARGUMENT",
            &message,
        );
    }
    if path.ends_with("/insertAll") && writes.closed.load(SeqCst) {
        writes.refused.fetch_add(1, SeqCst);
        let table = path.split('/').rev().nth(1).unwrap_or_default();
        let message = format!(
            "Access Denied: Table {table}: Permission bigquery.tables.updateData denied on table {table} (or it may not exist)."
        );
        return bigquery_error(
            http::StatusCode::FORBIDDEN,
            "accessDenied",
            "PERMISSION_DENIED",
            &message,
        );
    }
    let stall = writes.stall_ms.load(SeqCst);
    if path.ends_with("/insertAll") && stall > 0 {
        writes.stalled.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(stall)).await;
    }
    let judged = writes.rows_of.lock().unwrap().clone();
    if judged.is_some_and(|t| path.ends_with(&t)) {
        let text: Vec<u8> = if gzipped {
            use std::io::Read;
            let mut out = Vec::new();
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out);
            out
        } else {
            body.to_vec()
        };
        let request: Value = serde_json::from_slice(&text).unwrap_or_default();
        let rows: Vec<Vec<u8>> = request["rows"]
            .as_array()
            .map(|rows| rows.iter().map(|r| serde_json::to_vec(&r["json"]).unwrap()).collect())
            .unwrap_or_default();
        let at_fault = writes.rows.at_fault(rows.iter().map(Vec::as_slice));
        if !at_fault.is_empty() {
            let reason = writes.rows.reason();
            let errors: Vec<Value> = (0..rows.len())
                .map(|i| {
                    let error = if at_fault.contains(&i) {
                        serde_json::json!({"reason": "invalid", "location": "product_id", "debugInfo": "", "message": reason})
                    } else {
                        serde_json::json!({"reason": "stopped", "location": "", "debugInfo": "", "message": ""})
                    };
                    serde_json::json!({"index": i, "errors": [error]})
                })
                .collect();
            let answer = serde_json::json!({"kind": "bigquery#tableDataInsertAllResponse", "insertErrors": errors});
            return (http::StatusCode::OK, axum::Json(answer)).into_response();
        }
    }
    if parts.method == http::Method::POST {
        let json: Value = serde_json::from_slice(&body).unwrap_or_default();
        if let Some(cap) = query_cap(&path, &json) {
            let required = MIN_BILLED_PER_TABLE * tables_named(&json) as u64;
            if cap < required {
                refused.fetch_add(1, SeqCst);
                let message = format!("Query exceeded limit for bytes billed: {cap}. {required} or higher required.");
                return bigquery_error(
                    http::StatusCode::BAD_REQUEST,
                    "bytesBilledLimitExceeded",
                    "INVALID_ARGUMENT",
                    &message,
                );
            }
        }
    }
    let url = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut forward = http.request(parts.method, url).body(body);
    for (k, v) in &parts.headers {
        if k != http::header::HOST && k != http::header::CONTENT_LENGTH {
            forward = forward.header(k, v);
        }
    }
    match forward.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers().clone();
            let mut bytes = resp.bytes().await.unwrap_or_default();
            // BigQuery names the job's location in every answer about a job.
            if let Some(region) = &region
                && let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes)
                && answer["jobReference"].is_object()
            {
                answer["jobReference"]["location"] = region.clone().into();
                bytes = serde_json::to_vec(&answer).unwrap().into();
            }
            let mut out = (status, bytes).into_response();
            for (k, v) in &headers {
                if k != http::header::CONTENT_LENGTH && k != http::header::TRANSFER_ENCODING {
                    out.headers_mut().insert(k, v.clone());
                }
            }
            out
        }
        Err(e) => (http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// A strict proxy in front of the BigQuery emulator's Storage Write API (gRPC), on a
/// thread of its own: it forwards `AppendRows` streams and refuses, on demand
/// ([`StrictStorageWrite::refuse_rows_holding`]), the rows BigQuery would not store,
/// which the emulator never does: such a request is answered with `row_errors` naming
/// them, and none of its rows reach the emulator. A stream's first forwarded request
/// carries the writer schema, even when the client's first request (which had it) was
/// refused. Requests are forwarded one at a time, each answered before the next.
pub struct StrictStorageWrite {
    /// The port clients connect to (`BIGQUERY_STORAGE_EMULATOR_HOST=127.0.0.1:PORT`).
    pub port: u16,
    rows: Arc<RowGate>,
}

impl StrictStorageWrite {
    /// In front of the shared emulator (`BIGQUERY_STORAGE_EMULATOR_HOST`).
    pub fn start() -> StrictStorageWrite {
        let upstream = format!("http://{}", gcp_args().bigquery_storage_emulator_host.unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let rows = Arc::new(RowGate::default());
        let gate = rows.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let channel = tonic::transport::Endpoint::from_shared(upstream)
                    .unwrap()
                    .connect_lazy();
                let proxy = WriteProxy {
                    upstream: WriteClient::new(channel).max_decoding_message_size(64 << 20),
                    rows: gate,
                };
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tonic::transport::Server::builder()
                    .add_service(proxy)
                    .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                    .await
                    .unwrap();
            });
        });
        StrictStorageWrite { port, rows }
    }

    /// From now on refuses every appended row whose bytes hold `marker`.
    pub fn refuse_rows_holding(&self, marker: &str) {
        *self.rows.marker.lock().unwrap() = Some(marker.as_bytes().to_vec());
    }

    /// How many rows it refused so far.
    pub fn refused_rows(&self) -> u64 {
        self.rows.refused.load(SeqCst)
    }
}

use gcp_bigquery_client::google::cloud::bigquery::storage::v1 as write_api;
type WriteClient = write_api::big_query_write_client::BigQueryWriteClient<tonic::transport::Channel>;

#[derive(Clone)]
struct WriteProxy {
    upstream: WriteClient,
    rows: Arc<RowGate>,
}

impl tonic::server::NamedService for WriteProxy {
    const NAME: &'static str = "google.cloud.bigquery.storage.v1.BigQueryWrite";
}

impl tower::Service<http::Request<tonic::body::Body>> for WriteProxy {
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let proxy = self.clone();
        Box::pin(async move {
            if req.uri().path() == "/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows" {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.streaming(AppendRows(proxy), req).await)
            } else {
                Ok(tonic::Status::unimplemented("the strict proxy forwards AppendRows only").into_http())
            }
        })
    }
}

struct AppendRows(WriteProxy);

type AppendAnswers =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<write_api::AppendRowsResponse, tonic::Status>> + Send>>;

impl tonic::server::StreamingService<write_api::AppendRowsRequest> for AppendRows {
    type Response = write_api::AppendRowsResponse;
    type ResponseStream = AppendAnswers;
    type Future = futures::future::BoxFuture<'static, Result<tonic::Response<AppendAnswers>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<write_api::AppendRowsRequest>>) -> Self::Future {
        use futures::SinkExt;
        use write_api::append_rows_request::Rows;
        let WriteProxy { mut upstream, rows } = self.0.clone();
        Box::pin(async move {
            let mut incoming = request.into_inner();
            let (mut answers, answered) = futures::channel::mpsc::channel(16);
            tokio::spawn(async move {
                let (mut stream, mut schema) = (String::new(), None);
                let mut forwarded: Option<(
                    futures::channel::mpsc::Sender<write_api::AppendRowsRequest>,
                    tonic::Streaming<write_api::AppendRowsResponse>,
                )> = None;
                loop {
                    let mut req = match incoming.message().await {
                        Ok(Some(req)) => req,
                        Ok(None) => break,
                        Err(e) => {
                            let _ = answers.send(Err(e)).await;
                            break;
                        }
                    };
                    if !req.write_stream.is_empty() {
                        stream = req.write_stream.clone();
                    }
                    let Some(Rows::ProtoRows(data)) = &mut req.rows else {
                        let _ = answers
                            .send(Err(tonic::Status::invalid_argument("no proto rows")))
                            .await;
                        break;
                    };
                    if data.writer_schema.is_some() {
                        schema = data.writer_schema.clone();
                    }
                    let serialized = data
                        .rows
                        .as_ref()
                        .map(|r| r.serialized_rows.clone())
                        .unwrap_or_default();
                    let at_fault = rows.at_fault(serialized.iter().map(Vec::as_slice));
                    if !at_fault.is_empty() {
                        let reason = rows.reason();
                        let refused = write_api::AppendRowsResponse {
                            write_stream: stream.clone(),
                            row_errors: at_fault
                                .iter()
                                .map(|&i| write_api::RowError {
                                    index: i as i64,
                                    code: write_api::row_error::RowErrorCode::FieldsError as i32,
                                    message: reason.clone(),
                                })
                                .collect(),
                            ..Default::default()
                        };
                        if answers.send(Ok(refused)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    let answer = match &mut forwarded {
                        Some((tx, rx)) => {
                            let _ = tx.send(req).await;
                            rx.message().await
                        }
                        None => {
                            // The first request upstream opens the stream with the schema.
                            data.writer_schema = data.writer_schema.take().or_else(|| schema.clone());
                            req.write_stream = stream.clone();
                            let (mut tx, rx) = futures::channel::mpsc::channel(16);
                            let _ = tx.send(req).await;
                            match upstream.append_rows(rx).await {
                                Ok(resp) => {
                                    let (_, rx) = forwarded.insert((tx, resp.into_inner()));
                                    rx.message().await
                                }
                                Err(e) => Err(e),
                            }
                        }
                    };
                    let answer = match answer {
                        Ok(Some(a)) => Ok(a),
                        Ok(None) => Err(tonic::Status::unavailable("the emulator closed the stream")),
                        Err(e) => Err(e),
                    };
                    let failed = answer.is_err();
                    if answers.send(answer).await.is_err() || failed {
                        break;
                    }
                }
            });
            Ok(tonic::Response::new(Box::pin(answered) as AppendAnswers))
        })
    }
}
