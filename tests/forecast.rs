//! The stock that looks ahead, on the real emulators, with known answers: a history the
//! test writes itself (8 weeks of batch orders ending yesterday in the shop's time zone,
//! America/Santiago, plus live sales), `refresh --all`, `forecast`, and then
//! `v_inventory_forecast` and the stock-out alert.
//!
//! - P1 sells 10 a day, stock 100: about 10 a day forecast, 10 days of cover, out in
//!   10 days, the reorder quantity the formula gives from the forecast rows. Its rules
//!   bite: a failed and a refunded order of 5 are not demand; one day is 6 in batch plus
//!   4 live, sold at 23:59:30 in Santiago (the next day in UTC) and delivered twice, on
//!   the day just outside the 28-day window.
//! - P2 sells three times as much on Saturdays: the next Saturday is forecast at least
//!   twice the next Tuesday.
//! - P3 sells nothing: no cover, no stock-out date, no alert.
//! - P4 sells 10 a day with stock 50 (cover 5, under the 7-day lead time) and fires
//!   `stockout_risk` once; P1 (cover 10) and P5 (stock 200, cover 20) do not.
//! - The forecast chart's `v_demand_forecast` ranks the best sellers and gives P1's 56
//!   days of history (10 a day, the edge day counted once) and this run's days ahead.
//! - A run supersedes an earlier run's days ahead (an earlier run said 999 a day) and
//!   keeps its word on a day gone by; a second run of the day replaces the first, and a
//!   second `alerts --once` fires nothing new.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;

use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use common::*;

const ZONE: &str = "America/Santiago";

fn f64_of(v: &Option<String>) -> f64 {
    v.as_deref().unwrap().parse().unwrap()
}

fn with_zone(mut cmd: Command) -> Command {
    cmd.env("INSTASHOP_TIME_ZONE", ZONE);
    cmd
}

fn write_csv(dir: &Path, file: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(dir.join(file)).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// Units of each product per day, as the test sells them in batch (completed orders).
fn daily_units(product: &str, day: NaiveDate, first: NaiveDate) -> i64 {
    match product {
        "P1" if day == first + Duration::days(27) => 6,
        "P1" | "P4" | "P5" => 10,
        "P2" if day.weekday() == Weekday::Sat => 30,
        "P2" => 10,
        _ => 0,
    }
}

#[tokio::test]
async fn the_forecast_gives_cover_stockout_and_reorder_and_the_alert_fires_once() {
    // The views' days are the zone's from provision on (a template variable).
    let names = fresh_names("forecast");
    let out = run(with_zone(bin("provision", &names)).args(["--ack-deadline-secs", "10"]));
    assert!(out.status.success(), "provision: {}", stderr(&out));
    let gcp = instashop::platform::gcp::Gcp::new(&gcp_args()).unwrap();
    let tz: chrono_tz::Tz = ZONE.parse().unwrap();
    let today = Utc::now().with_timezone(&tz).date_naive();
    let first = today - Duration::days(56);
    // The day whose live sale sits just outside the 28-day window (today - 29).
    let edge = first + Duration::days(27);
    assert_eq!(edge, today - Duration::days(29));

    let dir = std::env::temp_dir().join(format!("forecast-{}", names.dataset));
    std::fs::create_dir_all(&dir).unwrap();
    let s = |v: &str| v.to_string();
    write_csv(
        &dir,
        "customers.csv",
        &["customer_id", "name", "country", "signup_date", "plan"],
        &[vec![s("C1"), s("Ana"), s("Chile"), s("2025-01-01"), s("basic")]],
    );
    let products = ["P1", "P2", "P3", "P4", "P5"];
    write_csv(
        &dir,
        "products.csv",
        &["product_id", "category", "price", "name"],
        &products
            .iter()
            .map(|p| vec![s(p), s("Home"), s("10.00"), format!("Product {p}")])
            .collect::<Vec<_>>(),
    );
    let stock = [("P1", 100), ("P2", 10_000), ("P3", 50), ("P4", 50), ("P5", 200)];
    write_csv(
        &dir,
        "inventory.csv",
        &["product_id", "warehouse", "stock", "reorder_point"],
        &stock
            .iter()
            .map(|(p, n)| vec![s(p), s("Santiago"), n.to_string(), s("0")])
            .collect::<Vec<_>>(),
    );
    let mut orders = Vec::new();
    let mut items = Vec::new();
    for d in 0..56 {
        let day = first + Duration::days(d);
        for p in products {
            let units = daily_units(p, day, first);
            if units > 0 {
                let id = format!("O-{p}-{day}");
                orders.push(vec![
                    id.clone(),
                    s("C1"),
                    day.to_string(),
                    s("credit_card"),
                    s("completed"),
                ]);
                items.push(vec![id, s(p), units.to_string(), s("10.00")]);
            }
        }
    }
    // Not demand: a failed and a refunded order of P1, inside the 28-day window.
    for (status, d) in [
        ("failed", today - Duration::days(3)),
        ("refunded", today - Duration::days(10)),
    ] {
        let id = format!("O-P1-{status}");
        orders.push(vec![id.clone(), s("C1"), d.to_string(), s("credit_card"), s(status)]);
        items.push(vec![id, s("P1"), s("5"), s("10.00")]);
    }
    write_csv(
        &dir,
        "orders.csv",
        &["order_id", "customer_id", "order_date", "payment_method", "status"],
        &orders,
    );
    write_csv(
        &dir,
        "order_items.csv",
        &["order_id", "product_id", "qty", "unit_price"],
        &items,
    );
    let out = run(with_zone(bin("batch-loader", &names)).arg("--source").arg(&dir));
    assert!(out.status.success(), "batch-loader: {}", stderr(&out));

    // P1's live sale of 4 at 23:59:30 in Santiago on the edge day (in UTC, the next day,
    // inside the window), delivered twice.
    let at = tz
        .from_local_datetime(&edge.and_hms_opt(23, 59, 30).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        at.date_naive(),
        edge + Duration::days(1),
        "the sale must cross midnight in UTC"
    );
    let event = format!(
        r#"{{"event_id":"00000000-0000-4000-8000-000000000001","order_id":"O-live-1","customer_id":"C1","product_id":"P1","qty":4,"unit_price":10.00,"event_ts":"{}","payment_method":"credit_card","payment_status":"completed"}}"#,
        at.format("%Y-%m-%d %H:%M:%S")
    );
    publish_payloads(&gcp, &names, &[event.clone(), event], &HashMap::new()).await;
    let raw = format!(
        "SELECT COUNT(*) AS n FROM `{}.{}.fact_sales_streaming`",
        gcp.project, names.dataset
    );
    stream_until(&names, &gcp, &|_| {}, &raw, 2).await;

    let out = run(with_zone(bin("refresh", &names)).arg("--all"));
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    let p = &gcp.project;
    let ds = &names.dataset;
    // An earlier run, two days ago, that said P1 sells 999 a day: today (a day gone by
    // for the next run, kept) and the three days after (superseded by the next run).
    let earlier = (0..4)
        .map(|d| {
            format!(
                "(DATE '{}', 'P1', DATE '{}', 999, 990, 1009, 'ets', CURRENT_TIMESTAMP())",
                today - Duration::days(2),
                today + Duration::days(d)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    query(
        &gcp,
        &format!(
            "INSERT INTO `{p}.{ds}.forecast_demand` (run_date, product_id, forecast_date, forecast_units, lower, upper, method, run_at) VALUES {earlier}"
        ),
    )
    .await;
    let out = run(&mut with_zone(bin("forecast", &names)));
    assert!(out.status.success(), "forecast: {}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.contains("forecast_demand: 4 products (4 mstl_ets), 28 days from")
            && summary.contains(&format!(
                "(112 rows, run {today}, superseding 3 rows of earlier runs for the days ahead)"
            )),
        "{summary}"
    );
    let kept = query(
        &gcp,
        &format!(
            "SELECT CAST(forecast_date AS STRING), CAST(run_date AS STRING) FROM `{p}.{ds}.forecast_demand` \
             WHERE forecast_date > '2000-01-01' AND run_date < '{today}'"
        ),
    )
    .await;
    assert_eq!(
        kept,
        [vec![
            Some(today.to_string()),
            Some((today - Duration::days(2)).to_string())
        ]],
        "the earlier run's word on a day gone by stays; on the days ahead it is superseded"
    );
    // The forecast rows: product -> the horizon's units, tomorrow first.
    let rows = query(
        &gcp,
        &format!(
            "SELECT product_id, CAST(forecast_date AS STRING) AS d, forecast_units, method, CAST(run_date AS STRING) AS r \
             FROM `{p}.{ds}.forecast_demand` WHERE forecast_date > '{today}' ORDER BY product_id, forecast_date"
        ),
    )
    .await;
    let mut ahead: BTreeMap<String, Vec<(NaiveDate, f64)>> = BTreeMap::new();
    for r in &rows {
        assert_eq!(r[3].as_deref(), Some("mstl_ets"));
        assert_eq!(r[4].as_deref(), Some(today.to_string().as_str()));
        ahead.entry(r[0].clone().unwrap()).or_default().push((
            r[1].as_deref().unwrap().parse().unwrap(),
            r[2].as_deref().unwrap().parse().unwrap(),
        ));
    }
    assert_eq!(
        ahead.keys().collect::<Vec<_>>(),
        ["P1", "P2", "P4", "P5"],
        "P3 sold nothing"
    );
    for (id, days) in &ahead {
        assert_eq!(days.len(), 28, "{id}");
        assert_eq!(
            days[0].0,
            today + Duration::days(1),
            "{id}: the horizon starts tomorrow"
        );
    }
    // P2: the next Saturday against the next Tuesday.
    let on = |wd: Weekday| ahead["P2"].iter().find(|(d, _)| d.weekday() == wd).unwrap().1;
    assert!(
        on(Weekday::Sat) >= 2.0 * on(Weekday::Tue),
        "Saturday {} against Tuesday {}: {:?}",
        on(Weekday::Sat),
        on(Weekday::Tue),
        ahead["P2"]
    );

    // The forecast chart's view: the best sellers of the 28 days (P2 with its Saturdays,
    // then P1, P4, P5 at 280 each, by id; P3 sold nothing), each with 56 days of history
    // and this run's days ahead.
    let chart = query(
        &gcp,
        &format!(
            "SELECT product_id, demand_rank, CAST(day AS STRING), units, forecast_units, forecast_lower, forecast_upper \
             FROM `{p}.{ds}.v_demand_forecast` ORDER BY demand_rank, day"
        ),
    )
    .await;
    let mut ranks: Vec<(String, String)> = chart
        .iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    ranks.dedup();
    let ranks: Vec<(&str, &str)> = ranks.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(ranks, [("P2", "1"), ("P1", "2"), ("P4", "3"), ("P5", "4")]);
    let p1: Vec<&Vec<Option<String>>> = chart.iter().filter(|r| r[0].as_deref() == Some("P1")).collect();
    assert_eq!(p1.len(), 56 + 28, "{p1:?}");
    for (i, r) in p1[..56].iter().enumerate() {
        // 10 a day; on the edge day 6 in batch and the live 4, counted once.
        assert_eq!(
            r[2].as_deref(),
            Some((first + Duration::days(i as i64)).to_string().as_str())
        );
        assert_eq!((r[3].as_deref(), r[4].as_deref()), (Some("10"), None), "{r:?}");
    }
    for (r, (day, units)) in p1[56..].iter().zip(&ahead["P1"]) {
        assert_eq!(r[2].as_deref(), Some(day.to_string().as_str()));
        assert_eq!(r[3], None);
        assert_eq!(
            r[4].as_deref().map(|u| u.parse::<f64>().unwrap()),
            Some(*units),
            "not the earlier run's 999"
        );
        let (lo, hi) = (f64_of(&r[5]), f64_of(&r[6]));
        assert!(lo <= *units && *units <= hi, "{lo} <= {units} <= {hi}");
    }

    let view = query(
        &gcp,
        &format!(
            "SELECT product_id, stock, units_28d, units_90d, units_per_day, method, days_of_cover, \
             CAST(stockout_date AS STRING) AS stockout, turnover_90d, reorder_qty \
             FROM `{p}.{ds}.v_inventory_forecast` ORDER BY product_id"
        ),
    )
    .await;
    let f = |v: &Option<String>| v.as_deref().map(|x| x.parse::<f64>().unwrap());
    let by_id: BTreeMap<String, &Vec<Option<String>>> = view.iter().map(|r| (r[0].clone().unwrap(), r)).collect();
    assert_eq!(by_id.len(), 5);
    let p1 = by_id["P1"];
    assert_eq!(p1[1].as_deref(), Some("100"));
    // The last 28 days: 28 x 10 (the failed and refunded orders and the edge day's live
    // sale are not in them); the last 90: 55 x 10 + 6 + 4 (the live sale once).
    assert_eq!(p1[2].as_deref(), Some("280"), "units_28d");
    assert_eq!(p1[3].as_deref(), Some("560"), "units_90d");
    let per_day = f(&p1[4]).unwrap();
    assert!((per_day - 10.0).abs() <= 1.0, "units_per_day {per_day}");
    assert_eq!(p1[5].as_deref(), Some("mstl_ets"));
    let cover = f(&p1[6]).unwrap();
    assert!((cover - 10.0).abs() <= 1.0, "days_of_cover {cover}");
    let stockout: NaiveDate = p1[7].as_deref().unwrap().parse().unwrap();
    assert!(
        ((stockout - today).num_days() - 10).abs() <= 1,
        "stockout {stockout}, today {today}"
    );
    // The first day whose cumulative forecast exceeds the stock, from the rows.
    let mut sum = 0.0;
    let want_stockout = ahead["P1"]
        .iter()
        .find(|(_, u)| {
            sum += u;
            sum > 100.0
        })
        .map(|(d, _)| *d);
    assert_eq!(Some(stockout), want_stockout);
    assert!((f(&p1[8]).unwrap() - 5.6).abs() < 1e-9, "turnover_90d {:?}", p1[8]);
    // Reorder: the forecast over lead time + review period (7 + 7 days), less the stock,
    // rounded up, never below 0.
    // Summed exactly, as BigQuery sums NUMERIC.
    let demand: rust_decimal::Decimal = rows
        .iter()
        .filter(|r| r[0].as_deref() == Some("P1"))
        .take(14)
        .map(|r| r[2].as_deref().unwrap().parse::<rust_decimal::Decimal>().unwrap())
        .sum();
    let want_reorder = (demand - rust_decimal::Decimal::from(100))
        .ceil()
        .max(rust_decimal::Decimal::ZERO);
    assert_eq!(p1[9].as_deref(), Some(want_reorder.to_string().as_str()), "reorder_qty");
    assert!(
        (35..=45).contains(&want_reorder.to_string().parse::<i64>().unwrap()),
        "reorder {want_reorder} from {demand}"
    );

    let p3 = by_id["P3"];
    assert_eq!(p3[2].as_deref(), Some("0"));
    assert_eq!(f(&p3[4]), Some(0.0));
    assert_eq!(p3[5].as_deref(), Some("mean_28d"));
    assert_eq!(
        (p3[6].as_deref(), p3[7].as_deref()),
        (None, None),
        "no cover, no stock-out"
    );
    assert_eq!(p3[9].as_deref(), Some("0"));
    let cover_of = |id: &str| f(&by_id[id][6]).unwrap();
    assert!((cover_of("P4") - 5.0).abs() <= 0.5, "P4 cover {}", cover_of("P4"));
    assert!((cover_of("P5") - 20.0).abs() <= 2.0, "P5 cover {}", cover_of("P5"));

    // A second run of the day replaces the first. It stages its rows in a dataset of
    // their own, as Terraform's Cloud Run job does, and leaves no table there.
    let staging = format!("{ds}_staging");
    // Before that dataset exists the run fails, naming it: the rows go there.
    let out = run(with_zone(bin("forecast", &names)).args(["--staging-dataset", &staging]));
    assert!(!out.status.success(), "no staging dataset yet: {}", stdout(&out));
    assert!(stderr(&out).contains(&staging), "{}", stderr(&out));
    query(&gcp, &format!("CREATE SCHEMA `{p}.{staging}`")).await;
    let out = run(with_zone(bin("forecast", &names)).args(["--staging-dataset", &staging]));
    assert!(out.status.success(), "forecast --staging-dataset: {}", stderr(&out));
    let listed: serde_json::Value = reqwest::get(format!(
        "http://{}/bigquery/v2/projects/{p}/datasets/{staging}/tables",
        gcp_args().bigquery_emulator_host.unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert!(
        listed["tables"].as_array().is_none_or(|t| t.is_empty()),
        "the staging table was dropped: {listed}"
    );
    query(&gcp, &format!("DROP SCHEMA `{p}.{staging}` CASCADE")).await;
    assert!(stdout(&out).contains("(112 rows, run") && stdout(&out).contains("replacing its earlier 112 rows"));
    let n = query(
        &gcp,
        &format!("SELECT COUNT(*) AS n FROM `{p}.{ds}.forecast_demand` WHERE forecast_date > '{today}'"),
    )
    .await;
    assert_eq!(n[0][0].as_deref(), Some("112"), "nothing doubles");

    // The alert: P4 alone, once.
    let fired = |out: &std::process::Output| -> Vec<String> {
        let line = stdout(out);
        let line = line.lines().last().unwrap_or_default().to_string();
        line.split(['(', ')', ','])
            .map(str::trim)
            .filter(|k| k.starts_with("stockout_risk/"))
            .map(str::to_string)
            .collect()
    };
    let out = run(with_zone(bin("alerts", &names)).arg("--once"));
    assert!(out.status.success(), "alerts: {}", stderr(&out));
    assert_eq!(fired(&out), ["stockout_risk/P4"], "{}", stdout(&out));
    let logged = query(
        &gcp,
        &format!(
            "SELECT subject, CAST(value AS STRING) AS v, CAST(threshold AS STRING) AS t, state FROM `{p}.{ds}.alert_log` \
             WHERE kind = 'stockout_risk' AND evaluated_at > TIMESTAMP '2000-01-01'"
        ),
    )
    .await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0][0].as_deref(), Some("P4"));
    let value: f64 = logged[0][1].as_deref().unwrap().parse().unwrap();
    assert!((value - cover_of("P4")).abs() < 0.01, "value {value}");
    assert_eq!(logged[0][2].as_deref().map(|t| t.parse::<f64>().unwrap()), Some(7.0));
    assert_eq!(logged[0][3].as_deref(), Some("firing"));
    let out = run(with_zone(bin("alerts", &names)).arg("--once"));
    assert!(out.status.success());
    assert!(fired(&out).is_empty(), "nothing new: {}", stdout(&out));
    assert!(stdout(&out).starts_with("0 new alerts"), "{}", stdout(&out));

    let _ = std::fs::remove_dir_all(&dir);
    cleanup(&gcp, &names).await;
}
