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
use instashop::gcp::Gcp;
use instashop::settings::Names;
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
/// holds `total` events.
async fn stream(names: &Names, gcp: &Gcp, point: &dyn Fn(&mut Command), n: u64, events_seed: u64, total: u64) {
    let mut publisher = bin("publisher", names);
    point(&mut publisher);
    assert!(run(publisher.args(publisher_args(n, events_seed))).status.success());
    let sql = format!(
        "SELECT COUNT(*) AS n FROM `{}.{}.v_fact_sales_streaming`",
        gcp.project, names.dataset
    );
    stream_until(names, gcp, point, &sql, total).await;
}

fn emulators(_: &mut Command) {}

/// Fresh resources with a known history (datagen, seed 21) loaded.
fn with_history(label: &str, orders: u32) -> (Names, Gcp, PathBuf) {
    let (names, gcp) = provision_fresh(label);
    let dir = std::env::temp_dir().join(format!("history-{}", names.dataset));
    let out = run(Command::new(exe("datagen")).arg("--out").arg(&dir).args([
        "--seed",
        "21",
        "--orders",
        &orders.to_string(),
    ]));
    assert!(out.status.success());
    assert!(
        run(bin("batch-loader", &names).arg("--source").arg(&dir))
            .status
            .success()
    );
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
    let served = Served::start(&names, &[]);
    let chromium = Chromium::launch().await;

    // The index links every page.
    let index = chromium.open(&format!("{}/", served.url)).await;
    let links: Vec<String> = eval(
        &index,
        "[...document.querySelectorAll('ul.pages a')].map(a => a.getAttribute('href'))",
    )
    .await;
    assert_eq!(links, ["/pages/batch", "/pages/streaming", "/pages/instashop"]);

    for name in ["batch", "streaming", "instashop"] {
        let page = chromium.open(&format!("{}/pages/{name}", served.url)).await;
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
    assert!(updated.contains("refreshes every 5 s"), "{updated}");
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
    let path = format!(
        "/projects/{}/datasets/{}/tables/v_top_products",
        gcp.project, names.dataset
    );
    bq.rest.delete("drop view", &path).await.unwrap();
    let chromium = Chromium::launch().await;
    let page = chromium.open(&format!("{}/pages/instashop", served.url)).await;
    loaded(&page, 1).await;
    let tiles = tiles(&page).await;
    let (state, _, text) = &tiles["top_products"];
    assert_eq!(state, "error");
    assert!(text.contains("v_top_products"), "the error names the view: {text}");
    for (id, (state, _, text)) in &tiles {
        if id != "top_products" {
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
    let page = chromium.open(&format!("{}/pages/streaming", served.url)).await;
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

/// A view the definition reads but the dataset lacks stops the dashboard at start, with
/// the page, chart and view named.
#[tokio::test]
async fn a_view_missing_from_the_dataset_stops_the_dashboard_at_start() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (names, gcp) = provision_fresh("dashmissing");
    let bq = bigquery(&gcp).await;
    let path = format!(
        "/projects/{}/datasets/{}/tables/v_payment_methods",
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
        err.contains("page instashop, chart payment_methods: view v_payment_methods was not found in the dataset"),
        "{err}"
    );
    cleanup(&gcp, &names).await;
}
