//! The `dashboard` in a real browser: headless Chromium (Debian's `chromium`, installed by
//! scripts/test.sh) opens each page served against the BigQuery emulator, runs its
//! JavaScript, and the tests read what it rendered. The figures are computed here, from
//! the CSVs that datagen wrote and the events the publisher sends (its --dry-run prints
//! the same events), not from BigQuery. One screenshot per page is saved under
//! target/screenshots/.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chromiumoxide::Page;
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::js_protocol::runtime::{ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::page::ScreenshotParams;
use common::*;
use futures::StreamExt;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser test at a time: each page load is a burst of queries, and the BigQuery
/// emulator answers one query at a time on this machine's two cores; side by side, the
/// tests' workers and probes time out behind each other's pages.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Money as the README documents it: two decimals, half away from zero, thousands
/// separated by commas. Written here on purpose, apart from the dashboard's code.
fn money(d: Decimal) -> String {
    grouped(&format!(
        "{:.2}",
        d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
    ))
}

fn count(n: usize) -> String {
    grouped(&n.to_string())
}

fn grouped(text: &str) -> String {
    let (int, frac) = text.split_once('.').map_or((text, None), |(i, f)| (i, Some(f)));
    let digits: Vec<char> = int.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    match frac {
        Some(f) => format!("{out}.{f}"),
        None => out,
    }
}

/// The figures of the Batch page's scorecards, from the CSVs and the events.
struct Expected {
    revenue: Decimal,
    orders: usize,
    clients: usize,
    streaming_revenue: Decimal,
    streaming_sales: usize,
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Net figures (docs/metrics.md): completed batch orders and live sales whose payment
/// completed; the live sale count is every event.
fn expected(history: &Path, events: &[Value]) -> Expected {
    let orders = csv_rows(&history.join("orders.csv"));
    let completed: HashMap<String, String> = orders
        .iter()
        .filter(|o| o["status"].is_empty() || o["status"] == "completed")
        .map(|o| (o["order_id"].clone(), o["customer_id"].clone()))
        .collect();
    let mut revenue = Decimal::ZERO;
    let mut order_ids = BTreeSet::new();
    let mut clients = BTreeSet::new();
    for item in csv_rows(&history.join("order_items.csv")) {
        let Some(customer) = completed.get(&item["order_id"]) else {
            continue;
        };
        revenue += Decimal::from_str(&item["qty"]).unwrap() * Decimal::from_str(&item["unit_price"]).unwrap();
        order_ids.insert(item["order_id"].clone());
        clients.insert(customer.clone());
    }
    assert!(
        completed.len() < orders.len(),
        "the history has failed or refunded orders"
    );
    let mut streaming_revenue = Decimal::ZERO;
    for e in events {
        if e["payment_status"].as_str().unwrap_or("completed") != "completed" {
            continue;
        }
        let line = Decimal::from(e["qty"].as_i64().unwrap()) * Decimal::from_str(&e["unit_price"].to_string()).unwrap();
        streaming_revenue += line;
        order_ids.insert(e["order_id"].as_str().unwrap().to_string());
        clients.insert(e["customer_id"].as_str().unwrap().to_string());
    }
    Expected {
        revenue: revenue + streaming_revenue,
        orders: order_ids.len(),
        clients: clients.len(),
        streaming_revenue,
        streaming_sales: events.len(),
    }
}

/// The events `publisher` sends with these settings (its --dry-run prints them).
fn events(names: &Names, n: u64, events_seed: u64) -> Vec<Value> {
    let out = bin("publisher", names)
        .args(publisher_args(n, events_seed))
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn publisher_args(n: u64, events_seed: u64) -> Vec<String> {
    [
        "--count",
        &n.to_string(),
        "--seed",
        "21",
        "--events-seed",
        &events_seed.to_string(),
        "--invalid-ratio",
        "0",
        "--duplicate-ratio",
        "0",
        "--rate",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Publishes the events and streams them into BigQuery, until `v_fact_sales_streaming`
/// holds `total` events; then refreshes sales_facts and evaluates the alerts.
async fn stream(names: &Names, gcp: &Gcp, point: &dyn Fn(&mut Command), n: u64, events_seed: u64, total: u64) {
    let mut publisher = bin("publisher", names);
    point(&mut publisher);
    assert!(run(publisher.args(publisher_args(n, events_seed))).status.success());
    let sql = format!(
        "SELECT COUNT(*) AS n FROM `{}.{}.v_fact_sales_streaming`",
        gcp.project, names.dataset
    );
    stream_until(names, gcp, point, &sql, total).await;
    // The charts read sales_facts: bring it up to date, as the scheduled query would.
    let mut refresh = bin("refresh", names);
    point(&mut refresh);
    let out = run(refresh.arg("--all"));
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    // The open-alerts table reads alert_log: evaluate once, as the scheduled query would.
    let mut alerts = bin("alerts", names);
    point(&mut alerts);
    let out = run(alerts.arg("--once"));
    assert!(out.status.success(), "alerts: {}", stderr(&out));
}

fn emulators(_: &mut Command) {}

/// Fresh resources with a known history (datagen, seed 21) loaded.
fn with_history(label: &str, orders: u32) -> (Names, Gcp, PathBuf) {
    with_edited_history(label, orders, |_| {})
}

/// [`with_history`], with the CSVs edited by `edit` (given their folder) before loading.
fn with_edited_history(label: &str, orders: u32, edit: impl FnOnce(&Path)) -> (Names, Gcp, PathBuf) {
    let (names, gcp) = provision_fresh(label);
    let dir = std::env::temp_dir().join(format!("history-{}", names.dataset));
    let out = run(Command::new(exe("datagen")).arg("--out").arg(&dir).args([
        "--seed",
        "21",
        "--orders",
        &orders.to_string(),
    ]));
    assert!(out.status.success());
    edit(&dir);
    let out = run(bin("batch-loader", &names).arg("--source").arg(&dir));
    assert!(out.status.success(), "{}", stderr(&out));
    (names, gcp, dir)
}

/// Headless Chromium with what it logged: console errors and uncaught exceptions.
struct Chromium {
    browser: Browser,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _profile: PathBuf,
}

impl Chromium {
    async fn launch() -> Chromium {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)"
        );
        let profile = std::env::temp_dir().join(format!("chromium-{}", uuid::Uuid::new_v4().simple()));
        let config = BrowserConfig::builder()
            .chrome_executable(CHROMIUM)
            .no_sandbox()
            .new_headless_mode()
            .user_data_dir(&profile)
            .window_size(1400, 1000)
            .viewport(None)
            .args([
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .build()
            .unwrap();
        let (browser, mut handler) = Browser::launch(config).await.expect("chromium starts");
        tokio::spawn(async move { while handler.next().await.is_some() {} });
        Chromium {
            browser,
            errors: Default::default(),
            _profile: profile,
        }
    }

    /// A new tab on `url`, its console errors and exceptions recorded.
    async fn open(&self, url: &str) -> Page {
        let page = self.browser.new_page("about:blank").await.unwrap();
        let mut exceptions = page.event_listener::<EventExceptionThrown>().await.unwrap();
        let mut console = page.event_listener::<EventConsoleApiCalled>().await.unwrap();
        let errors = self.errors.clone();
        tokio::spawn(async move {
            while let Some(e) = exceptions.next().await {
                errors
                    .lock()
                    .unwrap()
                    .push(format!("exception: {:?}", e.exception_details.text));
            }
        });
        let errors = self.errors.clone();
        tokio::spawn(async move {
            while let Some(e) = console.next().await {
                if e.r#type == ConsoleApiCalledType::Error {
                    errors.lock().unwrap().push(format!("console.error: {:?}", e.args));
                }
            }
        });
        page.goto(url).await.unwrap();
        page
    }

    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js)
        .await
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .into_value()
        .unwrap()
}

/// Waits until the page's first load finished: no tile is still loading.
async fn loaded(page: &Page, loads: u32) {
    let started = Instant::now();
    loop {
        let done: bool = eval(
            page,
            &format!(
                "Number(document.body.dataset.loads || 0) >= {loads} && !document.querySelector('[data-state=loading]')"
            ),
        )
        .await;
        if done {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the page did not finish loading"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every tile of the page by chart id: its state, points drawn, and text.
async fn tiles(page: &Page) -> HashMap<String, (String, u64, String)> {
    let v: Vec<(String, String, u64, String)> = eval(
        page,
        "[...document.querySelectorAll('[data-chart]')].map(t => [t.dataset.chart, t.dataset.state, \
         Number(t.dataset.points || 0), t.querySelector('.body').innerText])",
    )
    .await;
    v.into_iter().map(|(id, s, n, t)| (id, (s, n, t))).collect()
}

async fn scorecard(page: &Page, chart: &str) -> String {
    eval(
        page,
        &format!("document.querySelector('[data-chart={chart}] .value').textContent"),
    )
    .await
}

async fn screenshot(page: &Page, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    page.save_screenshot(
        ScreenshotParams::builder().full_page(true).build(),
        dir.join(format!("{name}.png")),
    )
    .await
    .unwrap();
}

/// The ids of the charts of a page, from the definition.
fn chart_ids(page: &str) -> Vec<(String, String)> {
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("looker/report.json")).unwrap(),
    )
    .unwrap();
    r["pages"].as_array().unwrap().iter().find(|p| p["id"] == page).unwrap()["charts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_page_renders_every_chart_with_the_exact_figures() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp, history) = with_history("dashpages", 1500);
    let sent = events(&names, 400, 77);
    stream(&names, &gcp, &emulators, 400, 77, 400).await;
    let want = expected(&history, &sent);
    // The Inventory page's forecast chart draws the latest run's band.
    let out = run(&mut bin("forecast", &names));
    assert!(out.status.success(), "forecast: {}", stderr(&out));
    let served = Served::start(&names, &[]);
    let chromium = Chromium::launch().await;

    // The index links every page.
    let index = chromium.open(&format!("{}/", served.url)).await;
    let links: Vec<String> = eval(
        &index,
        "[...document.querySelectorAll('ul.pages a')].map(a => a.getAttribute('href'))",
    )
    .await;
    assert_eq!(
        links,
        [
            "/pages/batch",
            "/pages/streaming",
            "/pages/instashop",
            "/pages/inventory"
        ]
    );

    for name in ["batch", "streaming", "instashop", "inventory"] {
        // Batch and Streaming over all time (the figures are all-time); InstaShop on its
        // default period (the last 28 days, against the 28 before).
        let range = if name == "instashop" { "" } else { "?to=2999-12-31" };
        let page = chromium.open(&format!("{}/pages/{name}{range}", served.url)).await;
        loaded(&page, 1).await;
        let tiles = tiles(&page).await;
        for (id, kind) in chart_ids(name) {
            let (state, points, text) = &tiles[&id];
            assert_eq!(state, "ok", "{name}/{id} rendered: {text}");
            if kind != "scorecard" {
                assert!(*points > 0, "{name}/{id} ({kind}) drew {points} points");
            }
            if matches!(kind.as_str(), "time_series" | "bar" | "stacked_bar" | "pie" | "geo") {
                let drawn: bool = eval(
                    &page,
                    &format!("!!document.querySelector('[data-chart={id}] canvas') && window.dashboard.charts['{id}'].getOption().series.length > 0"),
                )
                .await;
                assert!(drawn, "{name}/{id}: ECharts drew it on a canvas");
            }
        }
        screenshot(&page, name).await;
        if name == "batch" {
            assert_eq!(scorecard(&page, "total_revenue").await, money(want.revenue));
            assert_eq!(scorecard(&page, "total_orders").await, count(want.orders));
            assert_eq!(scorecard(&page, "unique_clients").await, count(want.clients));
            let aov = want.revenue / Decimal::from(want.orders);
            assert_eq!(scorecard(&page, "average_order_value").await, money(aov));
            // The map coloured the countries the sales came from.
            let countries: u64 = eval(
                &page,
                "window.dashboard.charts['revenue_by_country'].getOption().series[0].data.length",
            )
            .await;
            assert!(countries >= 5, "{countries} countries on the map");
        }
        if name == "streaming" {
            assert_eq!(
                scorecard(&page, "streaming_revenue").await,
                money(want.streaming_revenue)
            );
            assert_eq!(scorecard(&page, "streaming_sales").await, count(want.streaming_sales));
            let newest = scorecard(&page, "newest_sale").await;
            assert!(newest.ends_with(" UTC") && newest.starts_with("20"), "{newest}");
        }
        if name == "inventory" {
            // Five best sellers, each a line of history, a dashed forecast and a shaded
            // band (its lower edge, then the width stacked on it), over the days ahead.
            let drawn: Value = eval(
                &page,
                "(() => { const o = window.dashboard.charts['demand_forecast'].getOption(); \
                  return { legend: o.legend[0].data, \
                    history: o.series.filter(s => !s.stack && s.lineStyle.type !== 'dashed').map(s => s.data.length), \
                    forecast: o.series.filter(s => s.lineStyle.type === 'dashed').map(s => s.data.length), \
                    bands: o.series.filter(s => s.areaStyle).map(s => s.data.length), \
                    widths: o.series.filter(s => s.areaStyle).flatMap(s => s.data.map(d => d.value[1])) }; })()",
            )
            .await;
            assert_eq!(drawn["legend"].as_array().unwrap().len(), 5, "{drawn}");
            for (series, days) in [("history", 56), ("forecast", 28), ("bands", 28)] {
                let lengths: Vec<u64> = drawn[series]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_u64().unwrap())
                    .collect();
                assert_eq!(lengths, [days; 5], "{series}: {drawn}");
            }
            assert!(
                drawn["widths"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|w| w.as_f64().unwrap() >= 0.0),
                "an interval's upper edge is at or over its lower: {drawn}"
            );
        }
    }
    assert!(
        chromium.errors().is_empty(),
        "the pages logged errors: {:?}",
        chromium.errors()
    );
    let _ = std::fs::remove_dir_all(history);
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn the_streaming_page_shows_new_sales_without_a_reload() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp) = provision_fresh("dashlive");
    let first = events(&names, 50, 5);
    stream(&names, &gcp, &emulators, 50, 5, 50).await;
    let served = Served::start(&names, &[]);
    let chromium = Chromium::launch().await;
    let page = chromium.open(&format!("{}/pages/streaming", served.url)).await;
    loaded(&page, 1).await;
    assert_eq!(scorecard(&page, "streaming_sales").await, count(first.len()));
    // The page refreshes only while it is shown: hidden, it queries nothing.
    let hidden_loads: u32 = eval(
        &page,
        "Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});          document.dispatchEvent(new Event('visibilitychange')); window.dashboard.loads",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    let still: u32 = eval(&page, "window.dashboard.loads").await;
    assert_eq!(
        still, hidden_loads,
        "a hidden page did not refresh in 12 s (every 5 s when shown)"
    );
    let _: u32 = eval(
        &page,
        "Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});          document.dispatchEvent(new Event('visibilitychange')); window.dashboard.loads",
    )
    .await;
    loaded(&page, still + 1).await;
    // A mark that a reload would wipe.
    let _: bool = eval(&page, "window.__same_document = true").await;
    let loads_before: u32 = eval(&page, "window.dashboard.loads").await;

    let more = events(&names, 120, 6);
    stream(&names, &gcp, &emulators, 120, 6, 170).await;
    let want = count(first.len() + more.len());
    // Each scorecard is its own query, run a moment apart while the page refreshes: wait
    // until both show the new sales. The 120 new ones were all sold within the last
    // minute; the first 50 may have left that window on a slow machine.
    let recent = |text: String| text.replace(',', "").parse::<usize>().unwrap_or(0);
    let started = Instant::now();
    loop {
        let all = scorecard(&page, "streaming_sales").await;
        let last_minute = recent(scorecard(&page, "sales_last_minute").await);
        if all == want && last_minute >= more.len() {
            assert!(
                last_minute <= first.len() + more.len(),
                "{last_minute} in the last minute"
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the new sales did not appear: {all} shown ({last_minute} in the last minute), {want} sent"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let same: bool = eval(&page, "window.__same_document === true").await;
    assert!(same, "the page was not reloaded");
    let loads_after: u32 = eval(&page, "window.dashboard.loads").await;
    assert!(
        loads_after > loads_before,
        "it refreshed itself: {loads_before} -> {loads_after}"
    );
    let updated: String = eval(&page, "document.querySelector('.updated').textContent").await;
    assert!(updated.contains("refreshes every 5 s while shown"), "{updated}");
    assert!(chromium.errors().is_empty(), "{:?}", chromium.errors());
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn a_failed_query_shows_its_error_on_its_tile_and_the_others_render() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp) = provision_fresh("dashfail");
    stream(&names, &gcp, &emulators, 30, 8, 30).await;
    let served = Served::start(&names, &[]);
    // The view is dropped after the dashboard checked its columns.
    let bq = bigquery(&gcp).await;
    let path = format!("/projects/{}/datasets/{}/tables/v_cohorts", gcp.project, names.dataset);
    bq.rest.delete("drop view", &path).await.unwrap();
    let chromium = Chromium::launch().await;
    let page = chromium.open(&format!("{}/pages/instashop", served.url)).await;
    loaded(&page, 1).await;
    let tiles = tiles(&page).await;
    let (state, _, text) = &tiles["cohort_retention"];
    assert_eq!(state, "error");
    assert!(text.contains("v_cohorts"), "the error names the view: {text}");
    for (id, (state, _, text)) in &tiles {
        if id != "cohort_retention" {
            assert_eq!(state, "ok", "{id}: {text}");
        }
    }
    let banner_hidden: bool = eval(&page, "document.querySelector('.banner').hidden").await;
    assert!(banner_hidden, "one failed query is its tile's business, not a banner");
    screenshot(&page, "failed-query").await;
    cleanup(&gcp, &names).await;
}

/// BigQuery going away while a page is open: every tile says so, one banner says what to
/// do, nothing hangs; when it is back, the page (it refreshes itself) recovers.
#[tokio::test]
async fn bigquery_down_is_one_clear_banner_and_the_page_recovers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut bq = PrivateBigQuery::start();
    let names = fresh_names("dashdown");
    let mut prov = bin("provision", &names);
    bq.point(&mut prov);
    assert!(run(&mut prov).status.success());
    let gcp = Gcp::new(&bq.args()).unwrap();
    stream(&names, &gcp, &|c: &mut Command| bq.point(c), 40, 3, 40).await;
    let env = [
        ("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", bq.rest)),
        ("BIGQUERY_STORAGE_EMULATOR_HOST", format!("127.0.0.1:{}", bq.grpc)),
    ];
    let served = Served::start(&names, &env);
    let chromium = Chromium::launch().await;
    let page = chromium
        .open(&format!("{}/pages/streaming?to=2999-12-31", served.url))
        .await;
    loaded(&page, 1).await;
    assert_eq!(scorecard(&page, "streaming_sales").await, count(40));

    bq.down();
    // The outage really happened: the emulator's port is closed.
    assert!(std::net::TcpStream::connect(("127.0.0.1", bq.rest)).is_err());
    let loads: u32 = eval(&page, "window.dashboard.loads").await;
    loaded(&page, loads + 2).await;
    let banner: (bool, String) = eval(
        &page,
        "[document.querySelector('.banner').hidden, document.querySelector('.banner').textContent]",
    )
    .await;
    assert!(!banner.0, "the banner is shown");
    assert!(banner.1.contains("BigQuery is not answering"), "{}", banner.1);
    let down = tiles(&page).await;
    assert!(down.values().all(|(state, _, _)| state == "error"), "{down:?}");
    screenshot(&page, "bigquery-down").await;

    bq.up();
    let loads: u32 = eval(&page, "window.dashboard.loads").await;
    let started = Instant::now();
    loop {
        loaded(&page, loads + 1).await;
        let hidden: bool = eval(&page, "document.querySelector('.banner').hidden").await;
        if hidden && tiles(&page).await.values().all(|(s, _, _)| s == "ok") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the page did not recover");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(scorecard(&page, "streaming_sales").await, count(40));
    cleanup(&gcp, &names).await;
}

/// A chart over the cap on bytes billed fails on its own tile, saying so and naming the
/// cap, and the page still loads; under a cap BigQuery accepts, the same page loads
/// through the same proxy. The emulator bills nothing and ignores `maximumBytesBilled`,
/// so a strict proxy answers as BigQuery does a query capped under its minimum of 10 MiB
/// per table referenced.
#[tokio::test]
async fn a_chart_over_the_byte_cap_fails_on_its_tile_saying_so() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp) = provision_fresh("dashcap");
    let strict = StrictBigQuery::start();
    let cap = MIN_BILLED_PER_TABLE - 1;
    let through = |cap: u64| {
        [
            ("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port)),
            ("INSTASHOP_MAX_BYTES_BILLED", cap.to_string()),
        ]
    };
    let served = Served::start(&names, &through(cap));
    let chromium = Chromium::launch().await;
    let page = chromium.open(&format!("{}/pages/batch", served.url)).await;
    loaded(&page, 1).await;
    let over = tiles(&page).await;
    // The fault happened: the proxy refused queries, and each tile shows its answer.
    assert!(strict.refused() > 0);
    assert!(!over.is_empty());
    for (id, (state, _, text)) in &over {
        assert_eq!(state, "error", "{id}: {text}");
        assert!(
            text.contains(&format!(
                "would bill more than the dashboard's cap of {cap} bytes (--max-bytes-billed)"
            )) && text.contains("10485760 or higher required"),
            "{id}: {text}"
        );
    }
    let banner: bool = eval(&page, "document.querySelector('.banner').hidden").await;
    assert!(banner, "a cap is not an outage: no banner");
    drop(served);

    let refused = strict.refused();
    let served = Served::start(
        &names,
        &through(instashop::platform::settings::DEFAULT_MAX_BYTES_BILLED),
    );
    let page = chromium.open(&format!("{}/pages/batch", served.url)).await;
    loaded(&page, 1).await;
    let under = tiles(&page).await;
    assert_eq!(under.len(), over.len());
    assert!(under.values().all(|(state, _, _)| state != "error"), "{under:?}");
    assert_eq!(strict.refused(), refused, "nothing refused under the default cap");
    cleanup(&gcp, &names).await;
}

/// A view the definition reads but the dataset lacks stops the dashboard at start, with
/// the page, chart and view named.
#[tokio::test]
async fn a_view_missing_from_the_dataset_stops_the_dashboard_at_start() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp) = provision_fresh("dashmissing");
    let bq = bigquery(&gcp).await;
    let path = format!(
        "/projects/{}/datasets/{}/tables/v_customer_lifetime",
        gcp.project, names.dataset
    );
    assert!(
        bq.rest.delete("drop view", &path).await.unwrap(),
        "the view existed and was dropped"
    );
    let out = run(bin("dashboard", &names).args(["--addr", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("page instashop, chart lifetime_value: view v_customer_lifetime was not found in the dataset"),
        "{err}"
    );
    cleanup(&gcp, &names).await;
}

// ---------------------------------------------------------------------------------------
// Issue 17: a period, a comparison and filters from the URL.

/// One sale line of the test's data: its day, country, category, customer, order,
/// amount, and whether its payment completed (only those are revenue).
struct Line {
    day: chrono::NaiveDate,
    country: String,
    category: String,
    customer: String,
    name: String,
    order: String,
    amount: Decimal,
    completed: bool,
}

/// The sale lines of the history and of the live events (sold today, in UTC,
/// the dashboard's default zone), by the definitions of docs/metrics.md.
fn completed_lines(history: &Path, events: &[Value], today: chrono::NaiveDate) -> Vec<Line> {
    let customers: HashMap<String, (String, String)> = csv_rows(&history.join("customers.csv"))
        .into_iter()
        .map(|c| (c["customer_id"].clone(), (c["country"].clone(), c["name"].clone())))
        .collect();
    let categories: HashMap<String, String> = csv_rows(&history.join("products.csv"))
        .into_iter()
        .map(|p| (p["product_id"].clone(), p["category"].clone()))
        .collect();
    let orders: HashMap<String, (String, chrono::NaiveDate, bool)> = csv_rows(&history.join("orders.csv"))
        .into_iter()
        .map(|o| {
            let completed = o["status"].is_empty() || o["status"] == "completed";
            (
                o["order_id"].clone(),
                (o["customer_id"].clone(), o["order_date"].parse().unwrap(), completed),
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut line = |customer: &str, product: &str, order: &str, day, amount, completed| {
        let (country, name) = customers[customer].clone();
        out.push(Line {
            day,
            country,
            category: categories[product].clone(),
            customer: customer.to_string(),
            name,
            order: order.to_string(),
            amount,
            completed,
        });
    };
    for item in csv_rows(&history.join("order_items.csv")) {
        let (customer, day, completed) = &orders[&item["order_id"]];
        let amount = Decimal::from_str(&item["qty"]).unwrap() * Decimal::from_str(&item["unit_price"]).unwrap();
        line(
            customer,
            &item["product_id"],
            &item["order_id"],
            *day,
            amount,
            *completed,
        );
    }
    for e in events {
        let completed = e["payment_status"].as_str().unwrap_or("completed") == "completed";
        let amount =
            Decimal::from(e["qty"].as_i64().unwrap()) * Decimal::from_str(&e["unit_price"].to_string()).unwrap();
        line(
            s(&e["customer_id"]),
            s(&e["product_id"]),
            s(&e["order_id"]),
            today,
            amount,
            completed,
        );
    }
    out
}

/// Revenue, orders and clients of `lines` (their completed ones).
fn totals<'a>(lines: impl Iterator<Item = &'a Line>) -> (Decimal, usize, usize) {
    let mut revenue = Decimal::ZERO;
    let mut orders = BTreeSet::new();
    let mut clients = BTreeSet::new();
    for l in lines.filter(|l| l.completed) {
        revenue += l.amount;
        orders.insert(l.order.clone());
        clients.insert(l.customer.clone());
    }
    (revenue, orders.len(), clients.len())
}

/// Percent change, as the page writes it: `+12.34%`, `-5.00%`.
fn change(now: Decimal, then: Decimal) -> String {
    let pct = ((now - then) / then.abs() * Decimal::from(100))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{}%", grouped(&format!("{:.2}", pct.abs())));
    if pct.is_sign_negative() && !pct.is_zero() {
        format!("-{text}")
    } else if pct.is_zero() {
        text
    } else {
        format!("+{text}")
    }
}

fn encode(s: &str) -> String {
    instashop::platform::rest::url_encode(s)
}

/// A category whose name carries quotes and accents, and one that is HTML.
const QUOTED: &str = "Juguetes d'Ñandú \"Kids\"";
const HOSTILE: &str = "<img src=x onerror=\"window.__xss=1\">";

/// A history whose categories include [`QUOTED`] (for Toys) and [`HOSTILE`] (for Books).
fn with_hostile_history(label: &str, orders: u32) -> (Names, Gcp, PathBuf) {
    with_edited_history(label, orders, |dir| {
        let products = dir.join("products.csv");
        let mut r = csv::Reader::from_path(&products).unwrap();
        let headers = r.headers().unwrap().clone();
        let at = headers.iter().position(|h| h == "category").unwrap();
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        let mut w = csv::Writer::from_path(&products).unwrap();
        w.write_record(&headers).unwrap();
        let mut renamed = (0, 0);
        for row in rows {
            let mut fields: Vec<String> = row.iter().map(str::to_string).collect();
            match fields[at].as_str() {
                "Toys" => {
                    fields[at] = QUOTED.into();
                    renamed.0 += 1;
                }
                "Books" => {
                    fields[at] = HOSTILE.into();
                    renamed.1 += 1;
                }
                _ => {}
            }
            w.write_record(&fields).unwrap();
        }
        w.flush().unwrap();
        assert!(
            renamed.0 > 0 && renamed.1 > 0,
            "the catalogue has Toys and Books: {renamed:?}"
        );
    })
}

/// A page opened with `from`, `to`, `country` and `compare=previous` shows exactly the
/// figures computed here from the CSVs and the events for that range and filter: its
/// scorecards with their change, a time series, a bar, a map, a pie and a table; the CSV
/// download holds the same values; a click on a bar filters the page and its URL; a
/// category named with quotes and accents filters exactly; bad parameters are 400s that
/// name them; and a category that is HTML stays text in the tooltip.
#[tokio::test]
async fn a_period_a_comparison_and_filters_from_the_url_give_exact_figures() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp, history) = with_hostile_history("dashrange", 1500);
    let sent = events(&names, 150, 91);
    stream(&names, &gcp, &emulators, 150, 91, 150).await;
    let served = Served::start(&names, &[]);
    let chromium = Chromium::launch().await;

    // Today as the dashboard sees it (UTC), then the last 28 days against the 28 before.
    let probe = chromium.open(&format!("{}/pages/batch", served.url)).await;
    loaded(&probe, 1).await;
    let today: String = eval(&probe, "window.dashboard.boot.today").await;
    let today: chrono::NaiveDate = today.parse().unwrap();
    let from = today - chrono::Duration::days(27);
    let (before_from, before_to) = (from - chrono::Duration::days(28), from - chrono::Duration::days(1));
    let lines = completed_lines(&history, &sent, today);
    let chile = |l: &&Line| l.country == "Chile";
    let within = |a: chrono::NaiveDate, b: chrono::NaiveDate| move |l: &&Line| l.day >= a && l.day <= b;
    let now: Vec<&Line> = lines.iter().filter(chile).filter(within(from, today)).collect();
    let then: Vec<&Line> = lines
        .iter()
        .filter(chile)
        .filter(within(before_from, before_to))
        .collect();
    assert!(
        now.len() > 20 && then.len() > 20,
        "the data has Chilean sales in both periods: {} and {}",
        now.len(),
        then.len()
    );
    assert!(
        lines.iter().any(|l| l.country != "Chile" && l.day >= from) && lines.iter().any(|l| l.day < before_from),
        "the filter and the range each leave sales out"
    );
    let (revenue, orders, clients) = totals(now.iter().copied());
    let (revenue_before, orders_before, _) = totals(then.iter().copied());

    let query = format!("from={from}&to={today}&compare=previous&country=Chile");
    let page = chromium.open(&format!("{}/pages/batch?{query}", served.url)).await;
    loaded(&page, 1).await;
    let tiles_now = tiles(&page).await;
    for (id, (state, _, text)) in &tiles_now {
        assert_eq!(state, "ok", "{id}: {text}");
    }
    // Scorecards, with the change against the previous 28 days.
    assert_eq!(scorecard(&page, "total_revenue").await, money(revenue));
    assert_eq!(scorecard(&page, "total_orders").await, count(orders));
    assert_eq!(scorecard(&page, "unique_clients").await, count(clients));
    assert_eq!(
        scorecard(&page, "average_order_value").await,
        money(revenue / Decimal::from(orders))
    );
    let (changed, was): (String, String) = eval(
        &page,
        "(() => { const c = document.querySelector('[data-chart=total_revenue] .change'); return [c.dataset.change, c.dataset.was]; })()",
    )
    .await;
    assert_eq!(was, money(revenue_before));
    assert_eq!(changed, change(revenue, revenue_before));
    let (orders_change, _): (String, String) = eval(
        &page,
        "(() => { const c = document.querySelector('[data-chart=total_orders] .change'); return [c.dataset.change, c.dataset.was]; })()",
    )
    .await;
    assert_eq!(
        orders_change,
        change(Decimal::from(orders), Decimal::from(orders_before))
    );

    // The bar: revenue by category, largest first.
    // Every category, day, client and plan with a sale line in the slice has its row;
    // only completed lines add revenue (a day of failed payments shows 0.00).
    let revenue_of = |l: &Line| if l.completed { l.amount } else { Decimal::ZERO };
    let mut by_category: HashMap<&str, Decimal> = HashMap::new();
    for l in &now {
        *by_category.entry(&l.category).or_default() += revenue_of(l);
    }
    let mut want_bars: Vec<(&str, Decimal)> = by_category.into_iter().collect();
    want_bars.sort_by_key(|b| std::cmp::Reverse(b.1));
    let bars: Vec<(String, String)> = eval(
        &page,
        "(() => { const o = window.dashboard.charts['revenue_by_category'].getOption(); \
         return o.xAxis[0].data.map((name, i) => [name, o.series[0].data[i].t]); })()",
    )
    .await;
    let want: Vec<(String, String)> = want_bars.iter().map(|(c, r)| (c.to_string(), money(*r))).collect();
    assert_eq!(bars, want);

    // The time series: each day's revenue, and the running total at the end.
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Decimal> = Default::default();
    for l in &now {
        *by_day.entry(l.day).or_default() += revenue_of(l);
    }
    let daily: Vec<(String, String)> = eval(
        &page,
        "window.dashboard.charts['revenue_over_time'].getOption().series[0].data.map(d => [d.value[0], d.t])",
    )
    .await;
    let want: Vec<(String, String)> = by_day.iter().map(|(d, r)| (d.to_string(), money(*r))).collect();
    assert_eq!(daily, want);
    let running: Vec<String> = eval(
        &page,
        "window.dashboard.charts['revenue_over_time'].getOption().series[1].data.map(d => d.t)",
    )
    .await;
    assert_eq!(
        running.last(),
        Some(&money(revenue)),
        "the running total ends at the period's revenue"
    );
    let axes: usize = eval(
        &page,
        "window.dashboard.charts['revenue_over_time'].getOption().yAxis.length",
    )
    .await;
    assert_eq!(axes, 2, "the running total has its own axis");
    let overlay: String = eval(
        &page,
        "window.dashboard.charts['revenue_over_time'].getOption().series[2].name",
    )
    .await;
    assert!(
        overlay.contains(&before_from.to_string()),
        "the previous period is drawn over: {overlay}"
    );

    // The map: Chile only.
    let map: Vec<(String, String)> = eval(
        &page,
        "window.dashboard.charts['revenue_by_country'].getOption().series[0].data.filter(d => d.t !== undefined).map(d => [d.name, d.t])",
    )
    .await;
    assert_eq!(map, [("Chile".to_string(), money(revenue))]);

    // The table: revenue by client and category, the first rows.
    let mut by_client: HashMap<(&str, &str, &str), (Decimal, BTreeSet<&str>)> = HashMap::new();
    for l in &now {
        let e = by_client.entry((&l.customer, &l.name, &l.category)).or_default();
        e.0 += revenue_of(l);
        if l.completed {
            e.1.insert(&l.order);
        }
    }
    let mut want_rows: Vec<_> = by_client.into_iter().collect();
    want_rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.0.cmp(b.0.0)).then(a.0.2.cmp(b.0.2)));
    let want_rows: Vec<Vec<String>> = want_rows
        .iter()
        .take(50)
        .map(|((id, name, cat), (r, o))| {
            vec![
                id.to_string(),
                name.to_string(),
                "Chile".into(),
                cat.to_string(),
                money(*r),
                count(o.len()),
            ]
        })
        .collect();
    let table: Vec<Vec<String>> = eval(
        &page,
        "[...document.querySelectorAll('[data-chart=revenue_by_client] tr')].slice(1).map(tr => [...tr.children].map(td => td.textContent))",
    )
    .await;
    assert_eq!(table, want_rows);

    // The CSV download holds the same values, as plain decimals.
    let client = reqwest::Client::new();
    let csv_url = format!("{}/api/pages/batch/charts/revenue_by_category.csv?{query}", served.url);
    let resp = client.get(&csv_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = resp.text().await.unwrap();
    let mut r = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["category", "revenue"]);
    let rows: Vec<(String, String)> = r
        .records()
        .map(|x| {
            let x = x.unwrap();
            (x[0].to_string(), x[1].to_string())
        })
        .collect();
    let want: Vec<(String, String)> = want_bars
        .iter()
        .map(|(c, r)| {
            (
                c.to_string(),
                format!(
                    "{:.2}",
                    r.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
                ),
            )
        })
        .collect();
    assert_eq!(rows, want);
    assert!(
        body.contains(&format!("\"{}\"", QUOTED.replace('"', "\"\""))),
        "RFC 4180 quoting: {body}"
    );

    // The pie on the InstaShop page: revenue by plan, for the same URL.
    let plans: HashMap<String, String> = csv_rows(&history.join("customers.csv"))
        .into_iter()
        .map(|c| (c["customer_id"].clone(), c["plan"].clone()))
        .collect();
    let mut by_plan: HashMap<String, Decimal> = HashMap::new();
    for l in &now {
        *by_plan.entry(plans[&l.customer].clone()).or_default() += revenue_of(l);
    }
    let insta = chromium.open(&format!("{}/pages/instashop?{query}", served.url)).await;
    loaded(&insta, 1).await;
    let pie: Vec<(String, String)> = eval(
        &insta,
        "window.dashboard.charts['revenue_by_plan'].getOption().series[0].data.map(d => [d.name, d.t])",
    )
    .await;
    let pie: HashMap<String, String> = pie.into_iter().collect();
    let want: HashMap<String, String> = by_plan.iter().map(|(p, r)| (p.clone(), money(*r))).collect();
    assert_eq!(pie, want);
    assert_eq!(scorecard(&insta, "revenue_period").await, money(revenue));

    // A name with quotes and accents filters exactly (through the chart API).
    let quoted_url = format!(
        "{}/api/pages/batch/charts/revenue_by_category?from={from}&to={today}&category={}",
        served.url,
        encode(QUOTED)
    );
    let data: Value = client.get(&quoted_url).send().await.unwrap().json().await.unwrap();
    let quoted_revenue: Decimal = lines
        .iter()
        .filter(within(from, today))
        .filter(|l| l.category == QUOTED)
        .map(revenue_of)
        .sum();
    assert_eq!(data["rows"].as_array().unwrap().len(), 1, "{data}");
    assert_eq!(data["rows"][0][0]["t"], QUOTED);
    assert_eq!(data["rows"][0][1]["t"], money(quoted_revenue).as_str());

    // A click on a bar filters the page by its category, and the URL says so.
    let loads: u32 = eval(&page, "window.dashboard.loads").await;
    let target = &want_bars[0].0;
    let (x, y): (f64, f64) = eval(
        &page,
        &format!(
            "(() => {{ const ch = window.dashboard.charts['revenue_by_category']; const o = ch.getOption(); \
             const i = o.xAxis[0].data.indexOf({}); const v = o.series[0].data[i].value; \
             const p = ch.convertToPixel({{seriesIndex: 0}}, [i, v / 2]); \
             ch.getDom().scrollIntoView({{block: 'center'}}); const box = ch.getDom().getBoundingClientRect(); return [box.left + p[0], box.top + p[1]]; }})()",
            serde_json::to_string(target).unwrap()
        ),
    )
    .await;
    page.click(chromiumoxide::layout::Point { x, y }).await.unwrap();
    loaded(&page, loads + 1).await;
    let search: String = eval(&page, "window.location.search").await;
    assert!(
        search.contains(&format!("category={}", encode(target).replace('+', "%20")))
            || search.contains(&format!("category={}", encode(target))),
        "{search}"
    );
    let chips: Vec<String> = eval(
        &page,
        "[...document.querySelectorAll('.chip')].map(c => c.dataset.value)",
    )
    .await;
    assert_eq!(
        chips,
        ["Chile".to_string(), target.to_string()],
        "the click adds to the URL's filters"
    );
    let (r, _, _) = totals(now.iter().copied().filter(|l| &l.category == target));
    assert_eq!(scorecard(&page, "total_revenue").await, money(r));

    // The HTML category stays text: its tooltip shows the markup, and no element or
    // script came of it.
    let hostile = chromium
        .open(&format!("{}/pages/batch?from={from}&to={today}", served.url))
        .await;
    loaded(&hostile, 1).await;
    let shown: String = eval(
        &hostile,
        &format!(
            "(async () => {{ const ch = window.dashboard.charts['revenue_by_category']; \
             const i = ch.getOption().xAxis[0].data.indexOf({}); \
             ch.dispatchAction({{type: 'showTip', seriesIndex: 0, dataIndex: i}}); \
             await new Promise(r => setTimeout(r, 500)); \
             const tip = [...ch.getDom().querySelectorAll('div')].find(d => d.textContent.includes('onerror')); \
             return tip ? tip.textContent : ''; }})()",
            serde_json::to_string(HOSTILE).unwrap()
        ),
    )
    .await;
    assert!(shown.contains(HOSTILE), "the tooltip shows the name as text: {shown:?}");
    let (xss, images): (bool, usize) = eval(
        &hostile,
        "[window.__xss === 1, document.querySelectorAll('img[src=x]').length]",
    )
    .await;
    assert!(
        !xss && images == 0,
        "no script ran ({xss}) and no element was made ({images})"
    );

    // Bad parameters: a 400 that names them, for the chart API and the page.
    for (q, name, says) in [
        ("from=2026-13-01".to_string(), "from", "is not a date"),
        (format!("from={today}&to={from}"), "from", "is after to"),
        ("bogus=1".to_string(), "bogus", "is not a parameter"),
        (
            format!("country={}", encode("' OR 1=1 --")),
            "country",
            "no country is named",
        ),
        ("compare=lastweek".to_string(), "compare", "previous or year"),
    ] {
        let resp = client
            .get(format!("{}/api/pages/batch/charts/total_revenue?{q}", served.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["parameter"], name, "{q}: {body}");
        assert!(body["error"].as_str().unwrap().contains(says), "{q}: {body}");
        let resp = client
            .get(format!("{}/pages/batch?{q}", served.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "page ?{q}");
        assert!(
            resp.text().await.unwrap().contains(&format!("parameter {name}")),
            "page ?{q}"
        );
    }

    // Every answer carries the security headers; another Host is refused.
    let resp = client.get(format!("{}/pages/batch", served.url)).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(resp.headers().contains_key("referrer-policy"));
    let port = served.url.rsplit(':').next().unwrap();
    let resp = client
        .get(format!("{}/api/pages/batch/charts/revenue_by_client", served.url))
        .header("host", format!("rebind.example:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 421, "a request for another host is refused");
    let resp = client
        .get(format!("{}/pages/batch", served.url))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "localhost is the dashboard's own name");

    screenshot(&page, "batch-filtered").await;
    assert!(
        chromium.errors().is_empty(),
        "the pages logged errors: {:?}",
        chromium.errors()
    );
    let _ = std::fs::remove_dir_all(history);
    cleanup(&gcp, &names).await;
}
