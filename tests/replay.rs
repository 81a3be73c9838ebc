//! `replay` on the real emulators: a mixed set is dead-lettered, replayed with and
//! without repairs, and the views' totals are checked exactly; a second replay
//! republishes nothing.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::*;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;
use rust_decimal::Decimal;

fn event(qty: &str, price: &str, ts: &str) -> String {
    format!(
        r#"{{"event_id":"{}","order_id":"SR-{}","customer_id":"C00001","product_id":"P0001","qty":{qty},"unit_price":{price},"event_ts":"{ts}"}}"#,
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4().simple()
    )
}

async fn number(gcp: &Gcp, sql: &str) -> String {
    query(gcp, sql).await[0][0].clone().unwrap_or_default()
}

fn emulators(_: &mut Command) {}

async fn publish(gcp: &Gcp, names: &Names, payloads: &[String]) {
    let source = HashMap::from([("source".to_string(), "replay-test".to_string())]);
    publish_payloads(gcp, names, payloads, &source).await;
}

/// Streams until `v_fact_sales_streaming` holds `n` events; returns their exact total.
async fn stream_sales(names: &Names, gcp: &Gcp, n: u64) -> Decimal {
    let (p, d) = (&gcp.project, &names.dataset);
    let sales = format!("SELECT COUNT(*) AS n FROM `{p}.{d}.v_fact_sales_streaming`");
    stream_until(names, gcp, &emulators, &sales, n).await;
    let sum = number(
        gcp,
        &format!("SELECT CAST(SUM(gross_amount) AS STRING) AS s FROM `{p}.{d}.v_fact_sales_streaming`"),
    )
    .await;
    Decimal::from_str(&sum).unwrap()
}

fn replay(names: &Names, args: &[&str]) -> String {
    let out = run(bin("replay", names).args(args));
    assert!(out.status.success(), "replay {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[tokio::test]
async fn replay_brings_back_what_todays_rules_accept_exactly_once() {
    let (names, gcp) = provision_fresh("replay");
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let ts = "2026-11-20 10:00:00";
    let mut payloads = Vec::new();
    let mut want = Decimal::ZERO;
    for q in 1..=5 {
        payloads.push(event(&q.to_string(), "10.25", ts));
        want += Decimal::from(q) * Decimal::from_str("10.25").unwrap();
    }
    for _ in 0..4 {
        payloads.push(event("\"2\"", "3.10", ts)); // wrong_type, fixed by numeric-strings
        want += Decimal::from_str("6.20").unwrap();
    }
    for _ in 0..3 {
        payloads.push(event("1", "\"7,05\"", "20/11/2026 10:05")); // both repairs needed
        want += Decimal::from_str("7.05").unwrap();
    }
    payloads.push("{not json".into());
    payloads.push("[1, 2]".into());
    publish(&gcp, &names, &payloads).await;
    let total = format!(
        "SELECT (SELECT COUNT(*) FROM `{p}.{d}.v_fact_sales_streaming`) + (SELECT COUNT(*) FROM `{p}.{d}.v_dead_letters`) AS n"
    );
    stream_until(&names, &gcp, &emulators, &total, 14).await;

    // Today's rules alone accept none of them.
    assert_eq!(
        replay(&names, &[]),
        "0 replayed (0 repaired), 9 still invalid (bad_unit_price 3, invalid_json 1, not_object 1, wrong_type 4), 0 already replayed"
    );
    let repairs = ["--repair", "numeric-strings", "--repair", "day-first-ts"];
    let mut dry = repairs.to_vec();
    dry.push("--dry-run");
    assert_eq!(
        replay(&names, &dry),
        "dry run, nothing published: 7 would be replayed (7 repaired), 2 still invalid (invalid_json 1, not_object 1), 0 already replayed"
    );
    assert_eq!(
        replay(&names, &repairs),
        "7 replayed (7 repaired), 2 still invalid (invalid_json 1, not_object 1), 0 already replayed"
    );
    let sum = stream_sales(&names, &gcp, 12).await;
    assert_eq!(sum, want, "the replayed sales count, to the cent");

    // A second replay of the same selection republishes nothing.
    assert_eq!(
        replay(&names, &repairs),
        "0 replayed (0 repaired), 2 still invalid (invalid_json 1, not_object 1), 7 already replayed"
    );
    let outcomes = query(
        &gcp,
        &format!(
            "SELECT outcome, COUNT(*) AS n, COUNT(DISTINCT dead_letter_message_id) AS ids, COUNTIF(new_message_id IS NOT NULL) AS published \
             FROM `{p}.{d}.fact_sales_replay` GROUP BY outcome ORDER BY outcome"
        ),
    )
    .await;
    let as_text: Vec<Vec<String>> = outcomes
        .into_iter()
        .map(|r| r.into_iter().map(|c| c.unwrap_or_default()).collect())
        .collect();
    assert_eq!(
        as_text,
        [["replayed", "7", "7", "7"], ["still_invalid", "13", "9", "0"]],
        "one publish per replayed dead letter, ever; every still-invalid verdict recorded"
    );
    let sales = format!("SELECT COUNT(*) AS n FROM `{p}.{d}.v_fact_sales_streaming`");
    assert_eq!(number(&gcp, &sales).await, "12", "nothing doubled");
    cleanup(&gcp, &names).await;
}

/// A replay killed midway (SIGKILL, after some outcomes were recorded and before the
/// last) and run again loses nothing and counts nothing twice.
#[tokio::test]
async fn a_replay_killed_midway_and_run_again_loses_and_doubles_nothing() {
    let (names, gcp) = provision_fresh("replaykill");
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    const N: u64 = 300;
    let payloads: Vec<String> = (0..N).map(|_| event("\"2\"", "1.50", "2026-11-20 10:00:00")).collect();
    publish(&gcp, &names, &payloads).await;
    let dead = format!("SELECT COUNT(*) AS n FROM `{p}.{d}.v_dead_letters`");
    stream_until(&names, &gcp, &emulators, &dead, N).await;

    let recorded = format!("SELECT COUNT(DISTINCT dead_letter_message_id) AS n FROM `{p}.{d}.fact_sales_replay`");
    let mut first = bin("replay", &names)
        .args(["--repair", "numeric-strings"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("replay starts");
    let started = Instant::now();
    let at_kill = loop {
        let n: u64 = number(&gcp, &recorded).await.parse().unwrap();
        if n > 0 {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay recorded nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    signal(&first, "-KILL");
    let status = wait(&mut first, Duration::from_secs(10));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the replay died of the SIGKILL while it ran: {status}"
    );
    let after_kill: u64 = number(&gcp, &recorded).await.parse().unwrap();
    assert!(
        at_kill < N && after_kill < N,
        "killed midway: {at_kill} then {after_kill} of {N} recorded"
    );

    let out = replay(&names, &["--repair", "numeric-strings"]);
    let again: u64 = out.split(' ').next().unwrap().parse().unwrap();
    assert!(out.contains(&format!("{} already replayed", N - again)), "{out}");
    assert!(again >= N - after_kill, "the rest was replayed: {out}");
    let sum = stream_sales(&names, &gcp, N).await;
    assert_eq!(sum, Decimal::from(N) * Decimal::from(3), "every sale once, to the cent");
    assert_eq!(
        number(&gcp, &recorded).await,
        N.to_string(),
        "every dead letter recorded"
    );
    cleanup(&gcp, &names).await;
}

/// `--from-topic`: what Pub/Sub itself moved to the dead-letter topic (delivery failures,
/// here published there directly, as Pub/Sub would) is replayed from the
/// keep-subscription; what still fails stays there for a later run.
#[tokio::test]
async fn replay_from_the_dead_letter_topic_acks_what_it_republished_and_keeps_the_rest() {
    let (names, gcp) = provision_fresh("replaytopic");
    let moved = Names {
        topic: names.dead_letter_topic(),
        ..names.clone()
    };
    let attributes = HashMap::from([("CloudPubSubDeadLetterSourceDeliveryCount".to_string(), "10".to_string())]);
    let mut messages: Vec<(Vec<u8>, HashMap<String, String>)> = (1..=3)
        .map(|q| {
            (
                event(&q.to_string(), "2.25", "2026-11-20 10:00:00").into_bytes(),
                attributes.clone(),
            )
        })
        .collect();
    messages.push((b"{oops".to_vec(), attributes.clone()));
    publish_raw(&gcp, &moved, messages).await;

    assert_eq!(
        replay(&names, &["--from-topic"]),
        "3 replayed (0 repaired), 1 still invalid (invalid_json 1), 0 already replayed"
    );
    let sum = stream_sales(&names, &gcp, 3).await;
    assert_eq!(sum, Decimal::from_str("13.50").unwrap());
    // The three were acked; the invalid one is still in the keep-subscription.
    assert_eq!(
        replay(&names, &["--from-topic"]),
        "0 replayed (0 repaired), 1 still invalid (invalid_json 1), 0 already replayed"
    );
    cleanup(&gcp, &names).await;
}
