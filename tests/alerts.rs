//! `alerts` on the real emulators. A datagen history (64 days) is loaded; the test
//! computes from its CSVs and from the events it publishes what each alert view must
//! say, and checks what `alerts` fires, publishes on the alerts topic and logs:
//! the snapshot's critical stock at first; nothing new on a normal hour of sales; then,
//! after a burst of failed payments and a sale that drains one product (at a price that
//! makes the day's revenue an outlier), each of the three alerts exactly once with its
//! exact value; nothing on a second run; a resolution when a threshold is raised; and
//! the same evaluation from the scheduled query's SQL.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use common::*;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

const ORDERS: u32 = 19_200;
const DAYS_BACK: i64 = 62;

struct History {
    /// product → (stock, reorder point), summed over warehouses.
    stock: BTreeMap<String, (i64, i64)>,
    /// order_date → net revenue: the lines of its completed orders.
    revenue_by_day: BTreeMap<NaiveDate, Decimal>,
    /// order_date → (orders, failed) among orders with a status.
    payments_by_day: BTreeMap<NaiveDate, (u64, u64)>,
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

/// Writes and loads the history: 64 days of orders through tomorrow (so that the last
/// 24 hours always hold one batch day, whatever the hour), and reads back its figures.
fn load_history(names: &Names) -> History {
    let today = Utc::now().date_naive();
    let dir = std::env::temp_dir().join(format!("alerts-{}", names.dataset));
    let start = (today - chrono::Duration::days(DAYS_BACK)).to_string();
    let end = (today + chrono::Duration::days(1)).to_string();
    let out = run(Command::new(exe("datagen")).arg("--out").arg(&dir).args([
        "--seed",
        "5",
        "--orders",
        &ORDERS.to_string(),
        "--start",
        &start,
        "--end",
        &end,
    ]));
    assert!(out.status.success());
    assert!(
        run(bin("batch-loader", names).arg("--source").arg(&dir))
            .status
            .success()
    );
    let mut stock: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in csv_rows(&dir.join("inventory.csv")) {
        let e = stock.entry(r[0].to_string()).or_default();
        e.0 += r[2].parse::<i64>().unwrap();
        e.1 += r[3].parse::<i64>().unwrap();
    }
    let mut day_of = HashMap::new();
    let mut payments_by_day: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for r in csv_rows(&dir.join("orders.csv")) {
        let day = NaiveDate::from_str(&r[2]).unwrap();
        if &r[4] == "completed" {
            day_of.insert(r[0].to_string(), day);
        }
        let e = payments_by_day.entry(day).or_default();
        e.0 += 1;
        e.1 += u64::from(&r[4] == "failed");
    }
    let mut revenue_by_day: BTreeMap<NaiveDate, Decimal> = BTreeMap::new();
    for r in csv_rows(&dir.join("order_items.csv")) {
        let Some(day) = day_of.get(&r[0]) else { continue };
        let gross = Decimal::from_str(&r[3]).unwrap() * Decimal::from_str(&r[2]).unwrap();
        *revenue_by_day.entry(*day).or_default() += gross;
    }
    std::fs::remove_dir_all(&dir).unwrap();
    History {
        stock,
        revenue_by_day,
        payments_by_day,
    }
}

fn critical(stock: i64, reorder: i64) -> bool {
    stock <= reorder
}

/// One sale event of a one-line order, now.
fn sale(order: &str, product: &str, qty: i64, price: &str, status: &str) -> String {
    format!(
        r#"{{"event_id":"{}","order_id":"{order}","customer_id":"C00001","product_id":"{product}","qty":{qty},"unit_price":{price},"event_ts":"{}","payment_method":"credit_card","payment_status":"{status}"}}"#,
        uuid::Uuid::new_v4(),
        Utc::now().format("%Y-%m-%d %H:%M:%S")
    )
}

async fn publish(gcp: &Gcp, names: &Names, payloads: &[String]) {
    publish_payloads(gcp, names, payloads, &HashMap::new()).await;
}

fn emulators(_: &mut Command) {}

async fn stream_total(names: &Names, gcp: &Gcp, events: u64) {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM `{}.{}.v_fact_sales_streaming`",
        gcp.project, names.dataset
    );
    stream_until(names, gcp, &emulators, &sql, events).await;
}

fn alerts(names: &Names, args: &[&str]) -> String {
    let out = run(bin("alerts", names).args(args));
    assert!(out.status.success(), "alerts {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// The alerts topic's messages, pulled from a subscription made before any alert, until
/// `want` have come (the emulator may hold some back) and a little longer (to see extras).
async fn pull_alerts(gcp: &Gcp, sub: &str, want: usize) -> Vec<Value> {
    let rest = gcp.pubsub_rest().await.unwrap();
    let path = format!("/projects/{}/subscriptions/{sub}:pull", gcp.project);
    let ack = format!("/projects/{}/subscriptions/{sub}:acknowledge", gcp.project);
    let mut got = Vec::new();
    let started = Instant::now();
    let mut enough_at: Option<Instant> = None;
    while started.elapsed() < Duration::from_secs(60) {
        if enough_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
            break;
        }
        let resp = rest
            .post("pull", &path, &json!({"maxMessages": 100, "returnImmediately": true}))
            .await
            .unwrap();
        let msgs = resp["receivedMessages"].as_array().cloned().unwrap_or_default();
        let ids: Vec<Value> = msgs.iter().map(|m| m["ackId"].clone()).collect();
        for m in &msgs {
            use base64::Engine;
            let data = base64::engine::general_purpose::STANDARD
                .decode(m["message"]["data"].as_str().unwrap())
                .unwrap();
            let mut n: Value = serde_json::from_slice(&data).unwrap();
            n["attributes"] = m["message"]["attributes"].clone();
            got.push(n);
        }
        if !ids.is_empty() {
            rest.post("ack", &ack, &json!({"ackIds": ids})).await.unwrap();
        }
        if got.len() >= want && enough_at.is_none() {
            enough_at = Some(Instant::now());
        }
        if msgs.is_empty() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    got
}

fn pct(num: u64, den: u64) -> Decimal {
    (Decimal::from(100 * num) / Decimal::from(den)).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

async fn log_rows(gcp: &Gcp, names: &Names, source: &str) -> Vec<(String, String, Option<Decimal>)> {
    query(
        gcp,
        &format!(
            "SELECT alert_key, state, CAST(value AS STRING) AS v FROM `{}.{}.alert_log` WHERE source = '{source}' ORDER BY evaluated_at, alert_key",
            gcp.project, names.dataset
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap(),
            r[1].clone().unwrap(),
            r[2].as_deref().map(|v| Decimal::from_str(v).unwrap().normalize()),
        )
    })
    .collect()
}

#[tokio::test]
async fn each_alert_fires_once_with_its_value_and_a_normal_hour_fires_nothing() {
    let (names, gcp) = provision_fresh("alerts");
    let history = load_history(&names);
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let today = Utc::now().date_naive();

    // A subscription on the alerts topic, as a notification tool would make.
    let sub = format!("{}-alerts-test", names.topic);
    let rest = gcp.pubsub_rest().await.unwrap();
    rest.call(
        reqwest::Method::PUT,
        "create subscription",
        &format!("/projects/{p}/subscriptions/{sub}"),
        Some(&json!({"topic": format!("projects/{p}/topics/{}", names.alerts_topic())})),
    )
    .await
    .unwrap();

    // 1. The history alone: the products critical in the snapshot, nothing else.
    let snapshot_critical: BTreeSet<String> = history
        .stock
        .iter()
        .filter(|(_, (s, r))| critical(*s, *r))
        .map(|(p, _)| format!("critical_stock/{p}"))
        .collect();
    assert!(!snapshot_critical.is_empty(), "datagen leaves some stock critical");
    let first = alerts(&names, &["--once"]);
    assert_eq!(
        first,
        format!(
            "{} new alerts ({}), 0 resolved, 0 still open",
            snapshot_critical.len(),
            snapshot_critical.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    );

    // 2. A normal hour: 30 one-line orders, 2 of them failed (the history's share is about
    //    6%), of products with stock to spare. Nothing new fires.
    let roomy: Vec<&String> = history
        .stock
        .iter()
        .filter(|(_, (s, r))| *s > *r + 10)
        .map(|(p, _)| p)
        .collect();
    let mut normal = Vec::new();
    for i in 0..30 {
        let status = if i < 2 { "failed" } else { "completed" };
        normal.push(sale(&format!("SN-{i}"), roomy[i % roomy.len()], 1, "10.00", status));
    }
    publish(&gcp, &names, &normal).await;
    stream_total(&names, &gcp, 30).await;
    assert_eq!(
        alerts(&names, &[]),
        format!("0 new alerts, 0 resolved, {} still open", snapshot_critical.len()),
        "a normal hour fires nothing new"
    );

    // 3. The burst: 30 more orders, 28 of them failed (30 of 60 in the hour: 50%), and
    //    one completed sale that takes the roomiest-but-one product exactly down to its
    //    reorder point, at a price that makes the last 24 hours an outlier.
    let mut burst = Vec::new();
    for i in 0..30 {
        let status = if i < 28 { "failed" } else { "completed" };
        burst.push(sale(&format!("SB-{i}"), roomy[0], 1, "10.00", status));
    }
    let mut live_sold: HashMap<String, i64> = HashMap::new();
    for (i, p) in (0..30).map(|i| (i, roomy[i % roomy.len()])) {
        if i >= 2 {
            *live_sold.entry(p.clone()).or_default() += 1;
        }
    }
    live_sold.entry(roomy[0].clone()).and_modify(|n| *n += 2).or_insert(2); // SB-28, SB-29
    let (drained, (snap, reorder)) = history
        .stock
        .iter()
        .filter(|(p, (s, r))| !critical(*s - live_sold.get(*p).unwrap_or(&0), *r))
        .filter(|(p, _)| !live_sold.contains_key(*p))
        .map(|(p, v)| (p.clone(), *v))
        .next()
        .expect("a product untouched by the live sales");
    let units = snap - reorder;
    assert!((1..=10_000).contains(&units), "{drained}: {units} units to drain");
    let big_price = "25000.00";
    burst.push(sale("SB-drain", &drained, units, big_price, "completed"));
    publish(&gcp, &names, &burst).await;
    stream_total(&names, &gcp, 61).await;

    // What each alert view must say, computed from the CSVs and the events.
    let (hour_orders, hour_failed) = (30 + 30 + 1, 2 + 28); // the drain is an order of the hour too
    let share = pct(hour_failed, hour_orders);
    let trailing = history
        .payments_by_day
        .iter()
        .filter(|(day, _)| **day > today - chrono::Duration::days(28) && **day <= today)
        .fold((0, 0), |acc, (_, (n, f))| (acc.0 + n, acc.1 + f));
    let trailing_pct = pct(trailing.1, trailing.0);
    let share_threshold = Decimal::from(20).max((Decimal::from(2) * trailing_pct).round_dp(2));
    assert!(
        share > share_threshold,
        "the burst is meant to fire: {share} against {share_threshold}"
    );
    // Net revenue: the completed live lines (28 of the normal hour, 2 of the burst, the
    // drain), as batch counts its completed orders only.
    let live_revenue = Decimal::from((28 + 2) * 10) + Decimal::from(units) * Decimal::from_str(big_price).unwrap();
    let revenue = history.revenue_by_day.get(&today).copied().unwrap_or_default() + live_revenue;

    let third = alerts(&names, &[]);
    let new_keys = [
        "critical_stock/".to_string() + &drained,
        "failed_payments/all".into(),
        "revenue_anomaly/high".into(),
    ];
    assert_eq!(
        third,
        format!(
            "3 new alerts ({}), 0 resolved, {} still open",
            new_keys.join(", "),
            snapshot_critical.len()
        )
    );

    // 4. A second run fires nothing new.
    assert_eq!(
        alerts(&names, &[]),
        format!("0 new alerts, 0 resolved, {} still open", snapshot_critical.len() + 3)
    );

    // Every alert reached the topic exactly once, with its exact value.
    let want_total = snapshot_critical.len() + 3;
    let got = pull_alerts(&gcp, &sub, want_total).await;
    let mut by_key: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for n in &got {
        assert_eq!(n["schema"], "instashop.alert.v1");
        assert_eq!(n["state"], "firing");
        assert_eq!(n["attributes"]["alert_key"], n["alert_key"]);
        by_key
            .entry(n["alert_key"].as_str().unwrap().to_string())
            .or_default()
            .push(n);
    }
    let want_keys: BTreeSet<String> = snapshot_critical
        .iter()
        .cloned()
        .chain(new_keys.iter().cloned())
        .collect();
    assert_eq!(by_key.keys().cloned().collect::<BTreeSet<_>>(), want_keys);
    assert!(
        by_key.values().all(|v| v.len() == 1),
        "one message per alert: {by_key:?}"
    );
    let dec = |v: &Value| Decimal::from_str(v.as_str().unwrap()).unwrap().normalize();
    let drain = by_key[&new_keys[0]][0];
    assert_eq!(dec(&drain["value"]), Decimal::from(reorder), "stock after the drain");
    assert_eq!(dec(&drain["threshold"]), Decimal::from(reorder));
    let fp = by_key["failed_payments/all"][0];
    assert_eq!(dec(&fp["value"]), share.normalize(), "{}", fp["detail"]);
    assert_eq!(dec(&fp["threshold"]), share_threshold.normalize(), "{}", fp["detail"]);
    let rev = by_key["revenue_anomaly/high"][0];
    assert_eq!(dec(&rev["value"]), revenue.normalize(), "{}", rev["detail"]);
    assert!(dec(&rev["threshold"]) < revenue, "{}", rev["detail"]);
    for key in &snapshot_critical {
        let product = key.trim_start_matches("critical_stock/");
        let (s, r) = history.stock[product];
        let n = by_key[key][0];
        assert_eq!(
            dec(&n["value"]),
            Decimal::from(s - live_sold.get(product).unwrap_or(&0))
        );
        assert_eq!(dec(&n["threshold"]), Decimal::from(r));
    }
    let logged = log_rows(&gcp, &names, "alerts").await;
    assert_eq!(logged.len(), want_total, "one log entry per notification");

    // 5. A raised threshold ends the failed-payment alert: resolved, published and logged.
    assert_eq!(
        alerts(&names, &["--failed-payment-pct", "99"]),
        format!(
            "0 new alerts, 1 resolved (failed_payments/all), {} still open",
            snapshot_critical.len() + 2
        )
    );
    let resolved = pull_alerts(&gcp, &sub, 1).await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        (resolved[0]["alert_key"].as_str(), resolved[0]["state"].as_str()),
        (Some("failed_payments/all"), Some("resolved"))
    );

    // 6. The scheduled query (Terraform's alternative, at the views' default thresholds)
    //    makes the same judgement: it logs the failed-payment alert again, with the same
    //    value, and nothing else; run twice, it adds nothing.
    let scheduled = instashop::model::render(
        &std::fs::read_to_string(model_dir().join("scheduled/evaluate_alerts.sql")).unwrap(),
        &p,
        &d,
    );
    for _ in 0..2 {
        query(&gcp, &scheduled).await;
    }
    let by_schedule = log_rows(&gcp, &names, "scheduled_query").await;
    assert_eq!(
        by_schedule,
        vec![(
            "failed_payments/all".to_string(),
            "firing".to_string(),
            Some(share.normalize())
        )]
    );

    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn bad_thresholds_are_refused_in_one_sentence() {
    let names = fresh_names("alerts_flags");
    for (args, says) in [
        (
            &["--failed-payment-pct", "150"][..],
            "--failed-payment-pct must be from 0.01 to 100",
        ),
        (
            &["--revenue-min-weeks", "1"][..],
            "--revenue-min-weeks must be from 2 to 8",
        ),
        (&["--revenue-z", "0"][..], "--revenue-z must be more than 0"),
        (&["--every", "soon"][..], "--every"),
    ] {
        let out = run(bin("alerts", &names).args(args));
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().filter(|l| l.contains(says)).count(), 1, "{err}");
    }
}
