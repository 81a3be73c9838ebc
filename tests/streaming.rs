//! The streaming pipeline on the real emulators: `publisher` → Pub/Sub → `stream-worker`
//! → BigQuery, checked through the views the dashboards read. Fresh names per test.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;
use instashop::streaming::publisher::{DEFECT_ATTRIBUTE, Defect};
use rust_decimal::Decimal;
use serde_json::Value;

/// Publishes `count` events with 5% malformed and 2% duplicated; returns the summary.
/// The publisher with 5% malformed and 2% duplicated events, writing its summary.
fn publisher(names: &Names, count: u64, seed: u64, rate: u32) -> (Command, PathBuf) {
    let summary = std::env::temp_dir().join(format!("summary-{}.json", names.topic));
    let mut cmd = bin("publisher", names);
    cmd.args([
        "--count",
        &count.to_string(),
        "--rate",
        &rate.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .args(["--invalid-ratio", "0.05", "--duplicate-ratio", "0.02", "--summary-json"])
    .arg(&summary);
    (cmd, summary)
}

fn read_summary(path: &Path, count: u64) -> Value {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    std::fs::remove_file(path).unwrap();
    assert_eq!(v["published"], count);
    assert_eq!(v["failed"], 0);
    v
}

/// Publishes `count` events (see [`publisher`]) and returns the summary.
fn publish(names: &Names, count: u64, seed: u64, rate: u32) -> Value {
    let (mut cmd, path) = publisher(names, count, seed, rate);
    assert!(run(&mut cmd).status.success(), "publisher failed");
    read_summary(&path, count)
}

/// Starts publishing `count` events at `rate`/s in the background, so that a worker is
/// still busy when the test interrupts it.
fn publish_in_background(names: &Names, count: u64, seed: u64, rate: u32) -> (Child, PathBuf) {
    let (mut cmd, path) = publisher(names, count, seed, rate);
    (cmd.stdout(Stdio::null()).spawn().expect("publisher starts"), path)
}

fn worker(names: &Names, method: &str, idle: u32) -> Command {
    let mut cmd = bin("stream-worker", names);
    cmd.args([
        "--write-method",
        method,
        "--idle-timeout",
        &idle.to_string(),
        "--flush-interval-ms",
        "300",
    ]);
    cmd
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("worker starts")
}

/// Starts a worker whose log goes to a file, to read its own counters after it exits.
fn spawn_logged(cmd: &mut Command, label: &str) -> (Child, PathBuf) {
    let path = std::env::temp_dir().join(format!("worker-{label}-{}.log", uuid::Uuid::new_v4().simple()));
    let file = std::fs::File::create(&path).unwrap();
    // The final stats line is logged at info.
    let child = cmd
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("worker starts");
    (child, path)
}

/// The counters of the worker's last stats line ("worker stopped"), by name.
fn final_stats(log: &Path) -> HashMap<String, u64> {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("worker stopped"))
        .unwrap_or_else(|| panic!("no final stats line in the worker's log:\n{text}"));
    line.split_whitespace()
        .filter_map(|token| {
            let parts: Vec<&str> = token.split('=').collect();
            let n = parts.len();
            (n >= 2).then(|| parts[n - 1].parse::<u64>().ok().map(|v| (parts[n - 2].to_string(), v)))?
        })
        .collect()
}

/// Waits until `table` has at least `n` rows.
async fn wait_rows(gcp: &Gcp, names: &Names, table: &str, n: u64, limit: Duration) {
    let started = Instant::now();
    while count(gcp, names, table).await < n {
        assert!(
            started.elapsed() < limit,
            "{table} did not reach {n} rows within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The views hold exactly the unique valid events with the publisher's exact total, and
/// every malformed event is dead-lettered once (at least) with the reason its defect deserves.
async fn assert_exactly_once(gcp: &Gcp, names: &Names, summary: &Value) {
    let (p, d) = (&gcp.project, &names.dataset);
    let rows = query(gcp, &format!(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT order_id) AS o, CAST(SUM(gross_amount) AS STRING) AS total FROM `{p}.{d}.v_fact_sales_all` WHERE source = 'streaming'"
    )).await;
    let valid = summary["valid_events"].as_u64().unwrap();
    assert_eq!(
        rows[0][0].as_deref(),
        Some(valid.to_string().as_str()),
        "unique valid events in v_fact_sales_all"
    );
    let total = Decimal::from_str(rows[0][2].as_deref().unwrap()).unwrap();
    let want = Decimal::from_str(summary["gross_total"].as_str().unwrap()).unwrap();
    assert_eq!(total, want, "SUM(gross_amount) equals the publisher's exact total");
    let distinct = query(
        gcp,
        &format!("SELECT COUNT(DISTINCT event_id) AS n FROM `{p}.{d}.fact_sales_streaming`"),
    )
    .await;
    assert_eq!(
        distinct[0][0].as_deref(),
        Some(valid.to_string().as_str()),
        "no valid event lost"
    );

    let dead = query(gcp, &format!(
        "SELECT TO_JSON_STRING(attributes) AS a, error_kind, error_reason, raw_payload IS NOT NULL AS kept, message_id FROM `{p}.{d}.v_dead_letters`"
    )).await;
    let ids: HashSet<&str> = dead.iter().filter_map(|r| r[4].as_deref()).collect();
    assert_eq!(ids.len(), dead.len(), "v_dead_letters: one row per rejected message");
    let mut by_defect: BTreeMap<String, u64> = BTreeMap::new();
    for row in &dead {
        let attrs: HashMap<String, String> = serde_json::from_str(row[0].as_deref().unwrap()).unwrap();
        let defect = Defect::parse(&attrs[DEFECT_ATTRIBUTE]).expect("a known defect");
        assert_eq!(
            row[1].as_deref(),
            Some(defect.expected().as_str()),
            "{defect:?}: {row:?}"
        );
        assert!(
            row[2].as_deref().is_some_and(|r| r.len() > 10),
            "a readable reason: {row:?}"
        );
        assert_eq!(row[3].as_deref(), Some("true"), "raw payload kept");
        if !attrs.contains_key("synthetic_duplicate") {
            *by_defect.entry(defect.as_str().to_string()).or_default() += 1;
        }
    }
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in summary["defects"].as_object().unwrap() {
        published.insert(k.clone(), v.as_u64().unwrap());
    }
    // Redelivery may write a dead letter twice into the table; the view the analytics
    // and replay read holds each malformed event exactly once.
    assert_eq!(by_defect, published, "dead letters by defect in v_dead_letters");
    assert!(published.len() >= 10, "many kinds of defect: {published:?}");
}

async fn five_thousand_events(method: &str) {
    let (names, gcp) = provision_fresh(&format!("s5k{}", &method[..3]));
    let summary = publish(&names, 5000, 5, 0);
    let out = run(&mut worker(&names, method, 6));
    assert!(out.status.success(), "worker exits 0 after the idle timeout");
    assert_exactly_once(&gcp, &names, &summary).await;

    // The streaming dashboard's views agree with the publisher, to the cent: revenue is
    // net (completed payments), events count every sale.
    let (p, d) = (&gcp.project, &names.dataset);
    let want = Decimal::from_str(summary["completed_total"].as_str().unwrap()).unwrap();
    assert!(
        want < Decimal::from_str(summary["gross_total"].as_str().unwrap()).unwrap(),
        "some payments failed, so net and gross differ"
    );
    let per_minute = query(
        &gcp,
        &format!("SELECT CAST(SUM(revenue) AS STRING) AS r, SUM(events) AS e FROM `{p}.{d}.v_streaming_per_minute`"),
    )
    .await;
    assert_eq!(
        Decimal::from_str(per_minute[0][0].as_deref().unwrap()).unwrap(),
        want,
        "revenue per minute over the last hour"
    );
    assert_eq!(
        per_minute[0][1].as_deref(),
        Some(summary["valid_events"].to_string().as_str())
    );
    let by_source = query(
        &gcp,
        &format!("SELECT source, CAST(revenue AS STRING) AS r, orders FROM `{p}.{d}.v_kpi_by_source`"),
    )
    .await;
    assert_eq!(by_source.len(), 1, "only streaming rows: {by_source:?}");
    assert_eq!(by_source[0][0].as_deref(), Some("streaming"));
    assert_eq!(Decimal::from_str(by_source[0][1].as_deref().unwrap()).unwrap(), want);
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn five_thousand_events_storage_write_api() {
    five_thousand_events("storage-write").await;
}

#[tokio::test]
async fn five_thousand_events_insert_all() {
    five_thousand_events("insert-all").await;
}

#[tokio::test]
async fn a_killed_worker_loses_nothing_and_doubles_nothing() {
    let (names, gcp) = provision_fresh("kill9");
    let (mut publishing, summary_path) = publish_in_background(&names, 3000, 9, 500);
    let mut first = spawn(worker(&names, "storage-write", 60).args(["--batch-rows", "200"]));
    wait_rows(&gcp, &names, "fact_sales_streaming", 200, Duration::from_secs(60)).await;
    signal(&first, "-9");
    let status = wait(&mut first, Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the worker died of the SIGKILL, not of its own accord: {status}"
    );
    let at_kill = count(&gcp, &names, "fact_sales_streaming").await;
    assert!(wait(&mut publishing, Duration::from_secs(60)).success());
    let summary = read_summary(&summary_path, 3000);
    assert!(
        at_kill < summary["valid_events"].as_u64().unwrap(),
        "the worker was killed mid-run ({at_kill} rows)"
    );
    // Messages the killed worker held come back after the 10 s ack deadline.
    let out = run(&mut worker(&names, "storage-write", 25));
    assert!(out.status.success());
    assert_exactly_once(&gcp, &names, &summary).await;
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn two_workers_on_one_subscription_give_the_same_exact_result() {
    let (names, gcp) = provision_fresh("two");
    let summary = publish(&names, 4000, 2, 0);
    // Each worker holds at most 400 messages until they are written, so neither can take
    // the whole backlog before the other starts.
    let small = ["--batch-rows", "200", "--max-outstanding-messages", "400"];
    let (mut a, log_a) = spawn_logged(worker(&names, "storage-write", 8).args(small), "a");
    let (mut b, log_b) = spawn_logged(worker(&names, "insert-all", 8).args(small), "b");
    assert!(wait(&mut a, Duration::from_secs(120)).success());
    assert!(wait(&mut b, Duration::from_secs(120)).success());
    let (sa, sb) = (final_stats(&log_a), final_stats(&log_b));
    assert!(
        sa["received"] > 0 && sb["received"] > 0,
        "both workers received messages: {sa:?} {sb:?}"
    );
    assert!(sa["received"] + sb["received"] >= 4000, "{sa:?} {sb:?}");
    assert_exactly_once(&gcp, &names, &summary).await;
    let _ = std::fs::remove_file(log_a);
    let _ = std::fs::remove_file(log_b);
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero_without_losing_a_message() {
    let (names, gcp) = provision_fresh("term");
    let (mut publishing, summary_path) = publish_in_background(&names, 3000, 3, 500);
    let mut w = spawn(worker(&names, "storage-write", 60).args(["--batch-rows", "200"]));
    wait_rows(&gcp, &names, "fact_sales_streaming", 200, Duration::from_secs(60)).await;
    signal(&w, "-TERM");
    let started = Instant::now();
    let status = wait(&mut w, Duration::from_secs(45));
    assert!(status.success(), "SIGTERM exits 0, got {status}");
    eprintln!("SIGTERM to exit: {:?}", started.elapsed());
    let at_stop = count(&gcp, &names, "fact_sales_streaming").await;
    assert!(wait(&mut publishing, Duration::from_secs(60)).success());
    let summary = read_summary(&summary_path, 3000);
    assert!(
        at_stop < summary["valid_events"].as_u64().unwrap(),
        "the worker was stopped mid-run ({at_stop} rows)"
    );
    let out = run(&mut worker(&names, "storage-write", 25));
    assert!(out.status.success());
    assert_exactly_once(&gcp, &names, &summary).await;
    cleanup(&gcp, &names).await;
}

/// A payload, the reason it must get, and a name for messages.
struct Case(&'static str, Vec<u8>, &'static str);

fn corpus() -> Vec<Case> {
    let good = |f: &str, v: &str| -> Vec<u8> {
        let mut fields = vec![
            ("event_id", "\"3f2a1c4e-8b7d-4e6f-9a1b-2c3d4e5f6a7b\"".to_string()),
            ("order_id", "\"O1234\"".into()),
            ("customer_id", "\"C00054\"".into()),
            ("product_id", "\"P0002\"".into()),
            ("qty", "2".into()),
            ("unit_price", "120.50".into()),
            ("event_ts", "\"2025-09-15 14:23:55\"".into()),
        ];
        match fields.iter_mut().find(|x| x.0 == f) {
            Some(x) if v == "<absent>" => x.0 = "",
            Some(x) => x.1 = v.to_string(),
            None => fields.push((Box::leak(f.to_string().into_boxed_str()), v.to_string())),
        }
        let body: Vec<String> = fields
            .iter()
            .filter(|x| !x.0.is_empty())
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    };
    vec![
        Case("empty", b"".to_vec(), "invalid_json"),
        Case("plain text", b"hello".to_vec(), "invalid_json"),
        Case("truncated", b"{\"event_id\":\"3f2a".to_vec(), "invalid_json"),
        Case("trailing comma", b"{\"qty\":1,}".to_vec(), "invalid_json"),
        Case("array", b"[1,2,3]".to_vec(), "not_object"),
        Case("string", b"\"order\"".to_vec(), "not_object"),
        Case("number", b"42".to_vec(), "not_object"),
        Case("null", b"null".to_vec(), "not_object"),
        Case("invalid utf-8", b"{\"order_id\":\"O\xff\"}".to_vec(), "not_utf8"),
        Case("latin-1", b"{\"order_id\":\"Pe\xf1a\"}".to_vec(), "not_utf8"),
        Case("1 MB", vec![b' '; 1024 * 1024], "payload_too_large"),
        Case(
            "oversized field",
            good("notes", &format!("\"{}\"", "x".repeat(70_000))),
            "payload_too_large",
        ),
        Case("missing event_id", good("event_id", "<absent>"), "missing_field"),
        Case("missing qty", good("qty", "<absent>"), "missing_field"),
        Case("null unit_price", good("unit_price", "null"), "missing_field"),
        Case("qty as string", good("qty", "\"2\""), "wrong_type"),
        Case("order_id as number", good("order_id", "1234"), "wrong_type"),
        Case("event_ts as epoch", good("event_ts", "1757946235"), "wrong_type"),
        Case("price as bool", good("unit_price", "true"), "wrong_type"),
        Case("event_id not uuid", good("event_id", "\"evt-1\""), "bad_event_id"),
        Case("empty order_id", good("order_id", "\"\""), "bad_id"),
        Case(
            "oversized product_id",
            good("product_id", &format!("\"{}\"", "P".repeat(65))),
            "bad_id",
        ),
        Case("control char in id", good("customer_id", "\"C\\u0007\""), "bad_id"),
        Case("negative qty", good("qty", "-1"), "bad_qty"),
        Case("zero qty", good("qty", "0"), "bad_qty"),
        Case("fractional qty", good("qty", "1.5"), "bad_qty"),
        Case("huge qty", good("qty", "1000000"), "bad_qty"),
        Case("negative price", good("unit_price", "-0.01"), "bad_unit_price"),
        Case("NaN price", good("unit_price", "\"NaN\""), "bad_unit_price"),
        Case("infinite price", good("unit_price", "1e400"), "bad_unit_price"),
        Case("huge price", good("unit_price", "99999999999"), "bad_unit_price"),
        Case("ten decimals", good("unit_price", "1.0000000001"), "bad_unit_price"),
        Case("comma decimal", good("unit_price", "\"1,50\""), "bad_unit_price"),
        Case("date only", good("event_ts", "\"2025-09-15\""), "bad_event_ts"),
        Case("no offset", good("event_ts", "\"2025-09-15T14:23:55\""), "bad_event_ts"),
        Case(
            "impossible date",
            good("event_ts", "\"2025-02-30 10:00:00\""),
            "bad_event_ts",
        ),
        Case(
            "far future",
            good("event_ts", "\"2999-01-01 00:00:00\""),
            "bad_event_ts",
        ),
        Case(
            "before 2000",
            good("event_ts", "\"1970-01-01 00:00:00\""),
            "bad_event_ts",
        ),
        Case("duplicate field", good("qty", "2,\"qty\":3"), "duplicate_field"),
    ]
}

#[tokio::test]
async fn a_corpus_of_malformed_payloads_is_dead_lettered_each_with_its_own_reason() {
    let (names, gcp) = provision_fresh("corpus");
    let cases = corpus();
    assert!(cases.len() >= 30);
    let messages = cases
        .iter()
        .map(|c| (c.1.clone(), HashMap::from([("case".to_string(), c.0.to_string())])))
        .collect();
    publish_raw(&gcp, &names, messages).await;
    for method in ["storage-write", "insert-all"] {
        let out = run(&mut worker(&names, method, 4));
        assert!(out.status.success(), "the worker never panics and exits 0 ({method})");
    }
    let dead = query(&gcp, &format!(
        "SELECT TO_JSON_STRING(attributes) AS a, error_kind, error_reason, LENGTH(raw_payload) AS len, payload_bytes FROM `{}.{}.fact_sales_deadletter`",
        gcp.project, names.dataset
    )).await;
    let mut got: HashMap<String, (String, String, usize, usize)> = HashMap::new();
    for row in dead {
        let attrs: HashMap<String, String> = serde_json::from_str(row[0].as_deref().unwrap()).unwrap();
        got.insert(
            attrs["case"].clone(),
            (
                row[1].clone().unwrap(),
                row[2].clone().unwrap(),
                row[3].as_deref().unwrap().parse().unwrap(),
                row[4].as_deref().unwrap().parse().unwrap(),
            ),
        );
    }
    for c in &cases {
        let (kind, reason, len, size) = got
            .get(c.0)
            .unwrap_or_else(|| panic!("case {:?} was not dead-lettered", c.0));
        assert_eq!(kind, c.2, "case {:?}: {reason}", c.0);
        assert!(!reason.is_empty());
        // Whole up to 64 KiB; of a larger payload the first 64 KiB (the bucket has the rest).
        assert_eq!(
            (*len, *size),
            (c.1.len().min(64 * 1024), c.1.len()),
            "case {:?}: the raw payload is kept, and its size",
            c.0
        );
    }
    assert_eq!(
        count(&gcp, &names, "fact_sales_streaming").await,
        0,
        "no malformed event became a sale"
    );
    cleanup(&gcp, &names).await;
}

/// The setup of the outage tests: a private BigQuery emulator (so stopping it touches no
/// other test), fresh resources provisioned in it, 3000 events published, and a logged
/// worker that has written its first 200 rows.
async fn worker_on_a_private_bigquery(
    label: &str,
    seed: u64,
    idle: u32,
) -> (PrivateBigQuery, Names, Gcp, Value, Child, PathBuf) {
    let bq = PrivateBigQuery::start();
    let names = fresh_names(label);
    let mut prov = bin("provision", &names);
    bq.point(prov.args(["--ack-deadline-secs", "10"]));
    assert!(run(&mut prov).status.success());
    let gcp = Gcp::new(&bq.args()).unwrap();
    let summary = publish(&names, 3000, seed, 0);
    let mut cmd = worker(&names, "storage-write", idle);
    bq.point(cmd.args(["--batch-rows", "200"]));
    let (w, log) = spawn_logged(&mut cmd, label);
    wait_rows(&gcp, &names, "fact_sales_streaming", 200, Duration::from_secs(60)).await;
    (bq, names, gcp, summary, w, log)
}

#[tokio::test]
async fn the_worker_rides_out_a_bigquery_outage_and_loses_nothing() {
    let (mut bq, names, gcp, summary, mut w, log) = worker_on_a_private_bigquery("outage", 11, 30).await;
    bq.down();
    let down_for = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        w.try_wait().unwrap().is_none(),
        "the worker keeps retrying while BigQuery is down"
    );
    bq.up();
    assert!(wait(&mut w, Duration::from_secs(180)).success());
    let stats = final_stats(&log);
    // The outage hit writes (the worker's own counters say so), they were retried, and
    // nothing was given up on: every row landed after BigQuery came back.
    assert!(
        stats["write_errors"] > 0 && stats["retried"] > 0,
        "writes failed and were retried during the {:?} outage: {stats:?}",
        down_for.elapsed()
    );
    assert_eq!(stats["nacked"], 0, "{stats:?}");
    assert!(stats["written"] > 0 && stats["received"] >= 3000, "{stats:?}");
    assert_exactly_once(&gcp, &names, &summary).await;
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn a_missing_topic_or_subscription_is_one_clear_sentence_and_exit_1() {
    let names = fresh_names("missing"); // never provisioned
    let out = run(bin("publisher", &names).args(["--count", "10"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("does not exist: run `provision` first"), "{err}");
    assert!(stdout(&out).is_empty(), "nothing counted as published");
    let out = run(bin("stream-worker", &names).args(["--idle-timeout", "2"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("does not exist: run `provision` first"),
        "{}",
        stderr(&out)
    );
}

/// Issue 9: an idle worker long-polls (no `returnImmediately`), so it sends a handful of
/// pull requests a minute, counted by its own metric, and still sees a new message at once.
#[tokio::test]
async fn an_idle_worker_long_polls_and_still_sees_new_sales_at_once() {
    let (names, gcp) = provision_fresh("idle");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut w = spawn(worker(&names, "storage-write", 60).args(["--metrics-addr", &addr]));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .unwrap();
    let pulls: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("instashop_worker_pulls_total "))
        .expect("a pulls counter")
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1..=3).contains(&pulls),
        "an idle worker pulled (long polls) {pulls} times in 10 s"
    );
    // What Cloud Run probes: alive, and ready once Pub/Sub and BigQuery answered.
    for probe in ["healthz", "readyz"] {
        let r = reqwest::get(format!("http://{addr}/{probe}")).await.unwrap();
        assert_eq!(r.status(), 200, "/{probe}: {}", r.text().await.unwrap());
    }
    assert!(metrics.contains("instashop_worker_ready 1"), "{metrics}");
    let started = Instant::now();
    publish(&names, 20, 5, 0);
    wait_rows(&gcp, &names, "fact_sales_streaming", 15, Duration::from_secs(10)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    signal(&w, "-TERM");
    assert!(wait(&mut w, Duration::from_secs(10)).success());
    cleanup(&gcp, &names).await;
}

/// Issue 9: a worker whose tables are missing never becomes ready: it says so in one
/// sentence and exits 1 before taking any message.
#[tokio::test]
async fn a_missing_table_is_one_clear_sentence_before_any_message_is_taken() {
    let (names, gcp) = provision_fresh("notable");
    publish(&names, 5, 3, 0);
    let mut elsewhere = names.clone();
    elsewhere.dataset = format!("{}_missing", names.dataset);
    let out = run(&mut worker(&elsewhere, "storage-write", 2));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}.fact_sales_streaming", elsewhere.dataset)) && err.contains("run `provision` first"),
        "{err}"
    );
    // Nothing is lost: the right worker then receives all five.
    let mut w = spawn(&mut worker(&names, "storage-write", 120));
    let sql = format!(
        "SELECT (SELECT COUNT(*) FROM `{p}.{d}.fact_sales_streaming`) + (SELECT COUNT(*) FROM `{p}.{d}.fact_sales_deadletter`) AS n",
        p = gcp.project,
        d = names.dataset
    );
    let started = Instant::now();
    let total = loop {
        let n: u64 = query(&gcp, &sql).await[0][0].as_deref().unwrap().parse().unwrap();
        if n >= 5 || started.elapsed() > Duration::from_secs(60) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    signal(&w, "-TERM");
    assert!(wait(&mut w, Duration::from_secs(20)).success());
    assert_eq!(total, 5, "all five messages reached the right worker, once");
    cleanup(&gcp, &names).await;
}

/// Issue 9: SIGTERM while writes are retrying through a BigQuery outage ends the worker
/// within its shutdown grace (under Cloud Run's 10 s), and what it could not write is
/// redelivered and lands once BigQuery is back: nothing lost, nothing doubled.
#[tokio::test]
async fn sigterm_during_a_bigquery_outage_exits_within_the_grace_and_loses_nothing() {
    let (mut bq, names, gcp, summary, mut w, log) = worker_on_a_private_bigquery("termout", 13, 60).await;
    bq.down();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let termed = Instant::now();
    signal(&w, "-TERM");
    assert!(wait(&mut w, Duration::from_secs(15)).success());
    let took = termed.elapsed();
    let stats = final_stats(&log);
    assert!(
        stats["write_errors"] > 0,
        "writes were failing when SIGTERM came: {stats:?}"
    );
    assert!(took < Duration::from_secs(10), "exited {took:?} after SIGTERM");
    let valid = summary["valid_events"].as_u64().unwrap();
    assert!(
        stats["written"] < valid,
        "SIGTERM cut the run short: {} of {valid} rows were written, the rest left to redelivery",
        stats["written"]
    );
    bq.up();
    let mut again = worker(&names, "storage-write", 25);
    bq.point(&mut again);
    assert!(run(&mut again).status.success());
    assert_exactly_once(&gcp, &names, &summary).await;
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// The raw tables (not the views, which hide redeliveries) hold every published message
/// exactly once: a sale or a dead letter, no message id twice.
async fn assert_each_message_once_in_the_raw_tables(gcp: &Gcp, names: &Names, published: u64) {
    let (p, d) = (&gcp.project, &names.dataset);
    let rows = query(
        gcp,
        &format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT message_id) AS ids FROM (
               SELECT message_id FROM `{p}.{d}.fact_sales_streaming`
               UNION ALL SELECT message_id FROM `{p}.{d}.fact_sales_deadletter`)"
        ),
    )
    .await;
    let (n, ids) = (rows[0][0].as_deref().unwrap(), rows[0][1].as_deref().unwrap());
    assert_eq!(
        (n, ids),
        (published.to_string().as_str(), published.to_string().as_str()),
        "raw rows and distinct message ids, against the {published} messages published"
    );
}

/// `/readyz`'s status and body at `addr`.
async fn readyz(addr: &str) -> (u16, String) {
    let r = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .expect("readyz answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// One counter or gauge of the worker's `/metrics`, by its full name.
async fn metric(addr: &str, name: &str) -> u64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until `/readyz` answers `code` (the worker's metrics server may still be binding).
async fn wait_ready_state(addr: &str, code: u16, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(format!("http://{addr}/readyz")).await
            && r.status().as_u16() == code
        {
            return r.text().await.unwrap();
        }
        assert!(
            started.elapsed() < limit,
            "/readyz did not answer {code} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Messages waiting in the dead-letter topic's keep-subscription (pulled and left there).
async fn on_the_dead_letter_topic(gcp: &Gcp, names: &Names) -> usize {
    let rest = gcp.pubsub_rest().await.unwrap();
    let path = format!(
        "/projects/{}/subscriptions/{}:pull",
        gcp.project,
        names.dead_letter_subscription()
    );
    let resp = rest
        .post(
            "pull",
            &path,
            &serde_json::json!({"maxMessages": 1000, "returnImmediately": true}),
        )
        .await
        .expect("the keep-subscription answers");
    resp["receivedMessages"].as_array().map_or(0, Vec::len)
}

/// Issue 18 §3: insertAll answering 403 (the worker's role revoked), through the strict
/// proxy. The worker tells it from a bad row: it stops pulling, turns `/readyz` to 503
/// and its ready gauge to 0, says once what is wrong and what to do, nacks nothing, and
/// exits 1 after `--sink-down-exit-secs`. Nothing reaches the dead-letter topic (the
/// subscription's 10 delivery attempts would have been spent in seconds by nacks), and
/// once the role is back the next worker lands every message exactly once, raw tables
/// included.
#[tokio::test]
async fn a_revoked_role_stops_the_pulls_and_nothing_reaches_the_dead_letter_topic() {
    let (names, gcp) = provision_fresh("revoked");
    let strict = StrictBigQuery::start();
    strict.refuse_writes(true);
    let summary = publish(&names, 600, 21, 0);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = worker(&names, "insert-all", 120);
    cmd.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port))
        .args([
            "--batch-rows",
            "100",
            "--sink-down-exit-secs",
            "25",
            "--metrics-addr",
            &addr,
        ]);
    let (mut w, log) = spawn_logged(&mut cmd, "revoked");
    let body = wait_ready_state(&addr, 503, Duration::from_secs(30)).await;
    // Not the start-up 503: the worker is down because BigQuery refuses its writes.
    let started = Instant::now();
    while !readyz(&addr).await.1.contains("BigQuery refuses every write") {
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(strict.refused_writes() > 0, "the proxy refused the writes");
    assert_eq!(metric(&addr, "instashop_worker_ready").await, 0);
    // It stopped pulling: no pull is sent while BigQuery refuses every write.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pulls = metric(&addr, "instashop_worker_pulls_total").await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        metric(&addr, "instashop_worker_pulls_total").await,
        pulls,
        "pulled while down"
    );
    assert!(
        metric(&addr, "instashop_worker_sink_probes_total").await > 0,
        "it kept trying its batches"
    );
    let status = wait(&mut w, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "exits non-zero after --sink-down-exit-secs");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("BigQuery refuses every write to").count(),
        1,
        "said once: {text}"
    );
    assert!(text.contains("roles/bigquery.dataEditor"), "what to do: {text}");
    assert!(
        text.contains("BigQuery refused every write to fact_sales_"),
        "why it exits: {text}"
    );
    let stats = final_stats(&log);
    assert_eq!(
        (stats["nacked"], stats["written"], stats["acked"]),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(on_the_dead_letter_topic(&gcp, &names).await, 0);

    strict.refuse_writes(false);
    // Idle for 45 s before it stops: a message whose lease ran out when the first worker
    // exited can be handed by the emulator to that worker's abandoned long poll, and then
    // comes back one more ack deadline (and backoff) later.
    let mut again = worker(&names, "insert-all", 45);
    again.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port));
    assert!(run(&mut again).status.success());
    assert_exactly_once(&gcp, &names, &summary).await;
    assert_each_message_once_in_the_raw_tables(&gcp, &names, 600).await;
    assert_eq!(on_the_dead_letter_topic(&gcp, &names).await, 0);
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// Issue 18 §3: `fact_sales_streaming` dropped while the worker runs (Storage Write API).
/// The worker holds what it pulled, not ready, past the ack deadline, without nacking;
/// once `provision` creates the table again it writes everything and pulls again, and
/// nothing went to the dead-letter topic.
#[tokio::test]
async fn a_table_dropped_mid_run_holds_the_messages_until_it_is_back() {
    let (names, gcp) = provision_fresh("dropped");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut cmd = worker(&names, "storage-write", 20);
    cmd.args(["--batch-rows", "100", "--metrics-addr", &addr]);
    let (mut w, log) = spawn_logged(&mut cmd, "dropped");
    wait_ready_state(&addr, 200, Duration::from_secs(30)).await;
    let (p, d) = (&gcp.project, &names.dataset);
    query(&gcp, &format!("DROP TABLE `{p}.{d}.fact_sales_streaming`")).await;
    let summary = publish(&names, 600, 23, 0);
    let body = wait_ready_state(&addr, 503, Duration::from_secs(30)).await;
    assert!(body.contains("BigQuery refuses every write"), "{body}");
    // Longer than the 10 s ack deadline: nacked or expired messages would be redelivered.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(w.try_wait().unwrap().is_none(), "the worker waits for the table");
    assert!(metric(&addr, "instashop_worker_sink_probes_total").await > 0);
    assert!(
        run(bin("provision", &names).args(["--ack-deadline-secs", "10"]))
            .status
            .success(),
        "provision creates the table again"
    );
    wait_ready_state(&addr, 200, Duration::from_secs(60)).await;
    assert!(wait(&mut w, Duration::from_secs(120)).success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("BigQuery takes writes again"), "{text}");
    assert!(text.contains("create it again with `provision`"), "what to do: {text}");
    let stats = final_stats(&log);
    assert_eq!(stats["nacked"], 0, "{stats:?}");
    assert_eq!(stats["received"], 600, "nothing was redelivered: {stats:?}");
    assert_exactly_once(&gcp, &names, &summary).await;
    assert_each_message_once_in_the_raw_tables(&gcp, &names, 600).await;
    assert_eq!(on_the_dead_letter_topic(&gcp, &names).await, 0);
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// Issue 18 §3: a worker ending on its idle timeout lets its in-flight long-poll pull
/// finish and hands back what it brings (modifyAckDeadline 0), and five messages
/// published at that moment reach the next run at once (60 s ack deadline, the next run
/// gives up after 5 idle seconds). Pub/Sub may hand messages to a pull whose client has
/// gone, and they come back only after the ack deadline; this emulator notices the
/// closed connection and does not, so what fails here without the fix is the count of
/// handed-back messages (0 when the pull is abandoned), not the next run's rows.
#[tokio::test]
async fn what_the_last_pull_of_a_stopping_worker_brings_goes_to_the_next_at_once() {
    let names = fresh_names("handback");
    assert!(
        run(bin("provision", &names).args(["--ack-deadline-secs", "60"]))
            .status
            .success()
    );
    let gcp = Gcp::new(&gcp_args()).unwrap();
    let mut first = worker(&names, "storage-write", 2);
    first.args(["--shutdown-grace-secs", "9"]);
    let (mut w, log) = spawn_logged(&mut first, "handback");
    let started = Instant::now();
    while !std::fs::read_to_string(&log).unwrap().contains("idle timeout") {
        assert!(started.elapsed() < Duration::from_secs(30), "no idle timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Published within milliseconds of the idle timeout, while the worker's last long
    // poll is still open.
    let sale = |i: u32| {
        let event = format!(
            r#"{{"event_id":"{}","order_id":"o-hb-{i}","customer_id":"c1","product_id":"p1","qty":1,"unit_price":"2.50","event_ts":"{}"}}"#,
            uuid::Uuid::new_v4(),
            chrono::Utc::now().to_rfc3339()
        );
        (event.into_bytes(), HashMap::new())
    };
    publish_raw(&gcp, &names, (0..5).map(sale).collect()).await;
    assert!(wait(&mut w, Duration::from_secs(20)).success());
    let mut next = worker(&names, "storage-write", 5);
    assert!(run(&mut next).status.success());
    assert_each_message_once_in_the_raw_tables(&gcp, &names, 5).await;
    assert_eq!(count(&gcp, &names, "fact_sales_streaming").await, 5);
    // The case at stake happened: the first worker's last pull brought some of them.
    let stats = final_stats(&log);
    assert!(
        stats["handed_back"] >= 1,
        "the last pull brought messages after shutdown began: {stats:?}"
    );
    assert_eq!(stats["received"], 0, "{stats:?}");
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// Issue 18 §2: a 6 MB rejected event (a valid sale padded past the 64 KiB an event may
/// have) and a 100 KiB one among 600 ordinary events, every write through the strict
/// proxy, which refuses a request over BigQuery's 10 MB as BigQuery does. Each dead
/// letter holds its first 64 KiB, its size and SHA-256, and the URI of the whole payload,
/// which the bucket holds byte for byte; their neighbours (sales and other dead letters)
/// land, nothing is nacked, every message is once in the raw tables, and `replay` does
/// not take the valid start of the cut payload for the event.
#[tokio::test]
async fn a_six_megabyte_event_is_kept_whole_in_the_bucket_and_takes_no_neighbour_with_it() {
    let (names, gcp) = provision_fresh("huge");
    let strict = StrictBigQuery::start();
    let summary = publish(&names, 600, 31, 0);
    let padded = |size: usize| {
        let mut event = format!(
            r#"{{"event_id":"{}","order_id":"o-huge","customer_id":"c1","product_id":"p1","qty":1,"unit_price":2.5,"event_ts":"2026-11-01 10:00:00"}}"#,
            uuid::Uuid::new_v4()
        )
        .into_bytes();
        event.resize(size, b' ');
        event
    };
    let payloads = [padded(6_000_000), padded(100 * 1024)];
    let ids = publish_raw(
        &gcp,
        &names,
        payloads.iter().map(|p| (p.clone(), HashMap::new())).collect(),
    )
    .await;
    let mut cmd = worker(&names, "insert-all", 15);
    cmd.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port));
    let (mut w, log) = spawn_logged(&mut cmd, "huge");
    assert!(wait(&mut w, Duration::from_secs(120)).success());
    let stats = final_stats(&log);
    assert_eq!(stats["nacked"], 0, "{stats:?}");
    assert_eq!(strict.refused(), 0, "no request over BigQuery's limit was sent");
    assert_each_message_once_in_the_raw_tables(&gcp, &names, 602).await;
    let valid = summary["valid_events"].as_u64().unwrap();
    let (p, d) = (&gcp.project, &names.dataset);
    let landed = query(
        &gcp,
        &format!("SELECT COUNT(DISTINCT event_id) AS n FROM `{p}.{d}.fact_sales_streaming`"),
    )
    .await;
    assert_eq!(landed[0][0].as_deref(), Some(valid.to_string().as_str()));
    let gcs = gcp.storage().await.unwrap();
    for (payload, id) in payloads.iter().zip(&ids) {
        let rows = query(
            &gcp,
            &format!(
                "SELECT error_kind, LENGTH(raw_payload) AS kept, payload_bytes, payload_sha256, payload_uri \
                 FROM `{p}.{d}.v_dead_letters` WHERE message_id = '{id}'"
            ),
        )
        .await;
        assert_eq!(rows.len(), 1, "one dead letter for {id}");
        let r = &rows[0];
        use sha2::Digest;
        let object = format!("pipelines/dead-letters/{id}");
        assert_eq!(
            (
                r[0].as_deref(),
                r[1].as_deref(),
                r[2].as_deref(),
                r[3].as_deref(),
                r[4].as_deref()
            ),
            (
                Some("payload_too_large"),
                Some("65536"),
                Some(payload.len().to_string().as_str()),
                Some(format!("{:x}", sha2::Sha256::digest(payload)).as_str()),
                Some(format!("gs://{}/{object}", names.bucket).as_str()),
            )
        );
        let whole = gcs
            .rest
            .get_bytes(
                "download",
                &format!("/b/{}/o/{}?alt=media", names.bucket, object.replace('/', "%2F")),
            )
            .await
            .unwrap()
            .expect("the whole payload is in the bucket");
        assert!(whole == *payload, "the bucket holds the payload byte for byte");
    }
    // Replay judges the cut payloads by their size: nothing republished.
    let out = run(bin("replay", &names).args(["--kind", "payload_too_large"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 replayed"), "{}", stdout(&out));
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// Issue 18 §4: writes that take longer than the subscription's ack deadline (10 s) keep
/// their messages leased. Every insertAll is held 16 s by the strict proxy: without the
/// lease keeper Pub/Sub would hand each held message out again after 10 s. The raw tables
/// hold each message once, the worker received exactly what was published, and its own
/// counter shows the leases were extended.
#[tokio::test]
async fn writes_slower_than_the_ack_deadline_keep_their_leases_and_nothing_is_redelivered() {
    let (names, gcp) = provision_fresh("stall");
    let strict = StrictBigQuery::start();
    strict.stall_writes(Duration::from_secs(16));
    let summary = publish(&names, 400, 31, 0);
    let mut cmd = worker(&names, "insert-all", 8);
    cmd.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port))
        .args(["--batch-rows", "100"]);
    let (mut w, log) = spawn_logged(&mut cmd, "stall");
    assert!(wait(&mut w, Duration::from_secs(240)).success());
    assert!(strict.stalled_writes() >= 4, "the proxy held the writes");
    let stats = final_stats(&log);
    assert_eq!(stats["received"], 400, "nothing was redelivered: {stats:?}");
    assert_eq!(stats["nacked"], 0, "{stats:?}");
    assert!(
        stats["lease_extensions"] >= 400,
        "each held message's lease was extended: {stats:?}"
    );
    assert_each_message_once_in_the_raw_tables(&gcp, &names, 400).await;
    assert_exactly_once(&gcp, &names, &summary).await;
    let _ = std::fs::remove_file(log);
    cleanup(&gcp, &names).await;
}

/// Issue 18 §2: rows BigQuery refuses to store, through the strict proxies, which refuse
/// the rows of one product as BigQuery refuses a row it cannot store (the emulator stores
/// anything that parses): AppendRows answers `row_errors`, insertAll `insertErrors`, and
/// none of the refused request's rows is written. The worker dead-letters the rows named,
/// with BigQuery's reason and the payload as published, writes the rest of the request
/// again, and acks everything: nothing is nacked or redelivered, and the raw tables hold
/// each message once.
#[tokio::test]
async fn rows_bigquery_refuses_are_dead_lettered_with_its_reason_and_their_neighbours_land() {
    const MARKER: &str = "P9REFUSED";
    for method in ["storage-write", "insert-all"] {
        let (names, gcp) = provision_fresh(&format!("rowerr_{}", &method[..6]));
        let (rest, grpc) = (StrictBigQuery::start(), StrictStorageWrite::start());
        rest.refuse_rows_holding("fact_sales_streaming", MARKER);
        grpc.refuse_rows_holding(MARKER);
        let mut refused_ids = HashSet::new();
        let mut payloads = Vec::new();
        for i in 0..400 {
            let event_id = uuid::Uuid::new_v4().to_string();
            let product = if i % 25 == 7 {
                refused_ids.insert(event_id.clone());
                MARKER
            } else {
                "P0002"
            };
            payloads.push(format!(
                r#"{{"event_id":"{event_id}","order_id":"O{i}","customer_id":"C00054","product_id":"{product}","qty":2,"unit_price":120.50,"event_ts":"2025-09-15 14:23:55"}}"#
            ));
        }
        assert_eq!(refused_ids.len(), 16);
        publish_payloads(&gcp, &names, &payloads, &HashMap::new()).await;
        let mut cmd = worker(&names, method, 6);
        cmd.env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", rest.port))
            .env("BIGQUERY_STORAGE_EMULATOR_HOST", format!("127.0.0.1:{}", grpc.port))
            .args(["--batch-rows", "100"]);
        let (mut w, log) = spawn_logged(&mut cmd, &format!("rowerr-{method}"));
        let status = wait(&mut w, Duration::from_secs(120));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(status.success(), "{method}: {text}");
        // The fault happened, on the path of this write method.
        let refused = match method {
            "storage-write" => (grpc.refused_rows(), rest.refused_rows()),
            _ => (rest.refused_rows(), grpc.refused_rows()),
        };
        assert!(refused.0 >= 16 && refused.1 == 0, "{method}: refused {refused:?}");
        let stats = final_stats(&log);
        assert_eq!(
            (
                stats["received"],
                stats["nacked"],
                stats["written"],
                stats["dead_lettered"]
            ),
            (400, 0, 384, 16),
            "{method}: {stats:?}"
        );
        let (p, d) = (&gcp.project, &names.dataset);
        let dead = query(
            &gcp,
            &format!("SELECT error_kind, error_reason, raw_payload_text FROM `{p}.{d}.fact_sales_deadletter`"),
        )
        .await;
        assert_eq!(dead.len(), 16, "{method}: {dead:?}");
        let published: HashSet<&str> = payloads.iter().map(String::as_str).collect();
        for row in &dead {
            assert_eq!(row[0].as_deref(), Some("refused_by_bigquery"), "{method}");
            let reason = row[1].as_deref().unwrap();
            assert!(
                reason.contains("BigQuery refused the row")
                    && reason.contains(&format!("value {MARKER} in field product_id")),
                "{method}: BigQuery's reason: {reason}"
            );
            let payload = row[2].as_deref().unwrap();
            assert!(
                published.contains(payload) && payload.contains(MARKER),
                "{method}: {payload}"
            );
        }
        let landed: HashSet<String> = query(&gcp, &format!("SELECT event_id FROM `{p}.{d}.fact_sales_streaming`"))
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect();
        assert_eq!(landed.len(), 384, "{method}");
        assert!(landed.is_disjoint(&refused_ids), "{method}: a refused row was written");
        assert_each_message_once_in_the_raw_tables(&gcp, &names, 400).await;
        assert_eq!(on_the_dead_letter_topic(&gcp, &names).await, 0, "{method}");
        let _ = std::fs::remove_file(log);
        cleanup(&gcp, &names).await;
    }
}
