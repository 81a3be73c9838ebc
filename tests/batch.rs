//! The batch pipeline on the real emulators: `datagen` → Cloud Storage → `batch-loader`
//! → BigQuery, and the KPI views checked against values computed here from the CSVs.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Utc};
use common::*;
use instashop::datagen::Manifest;
use instashop::gcp::Gcp;
use instashop::settings::Names;
use rust_decimal::Decimal;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("instashop-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn datagen(names: &Names, dir: &Path) -> Manifest {
    let out = run(bin("datagen", names)
        .args([
            "--seed",
            "17",
            "--customers",
            "400",
            "--products",
            "80",
            "--orders",
            "4000",
        ])
        .arg("--out")
        .arg(dir));
    assert!(out.status.success());
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

fn load(names: &Names, source: &Path, extra: &[&str]) -> std::process::Output {
    run(bin("batch-loader", names).arg("--source").arg(source).args(extra))
}

fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn dec(s: &Option<String>) -> Decimal {
    Decimal::from_str(s.as_deref().unwrap()).unwrap().normalize()
}

#[tokio::test]
async fn datagen_to_batch_loader_gives_exact_counts_totals_and_kpis() {
    let (names, gcp) = provision_fresh("batchkpi");
    let dir = tmp("kpi");
    let manifest = datagen(&names, &dir);
    assert!(load(&names, &dir, &[]).status.success());
    for (table, rows) in &manifest.rows {
        assert_eq!(count(&gcp, &names, table).await, *rows, "{table}");
    }
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let v = |view: &str| format!("`{p}.{d}.{view}`");
    let total = query(
        &gcp,
        &format!(
            "SELECT CAST(SUM(gross_amount) AS STRING) AS s FROM {}",
            v("v_fact_sales_batch")
        ),
    )
    .await;
    assert_eq!(
        dec(&total[0][0]),
        manifest.gross_total.normalize(),
        "v_fact_sales_batch total equals the manifest"
    );

    // Everything below is computed here, from the CSVs, independently of the views.
    let customers = csv_rows(&dir.join("customers.csv"));
    let products = csv_rows(&dir.join("products.csv"));
    let orders = csv_rows(&dir.join("orders.csv"));
    let items = csv_rows(&dir.join("order_items.csv"));
    let country: HashMap<&str, &str> = customers
        .iter()
        .map(|c| (c["customer_id"].as_str(), c["country"].as_str()))
        .collect();
    let category: HashMap<&str, &str> = products
        .iter()
        .map(|r| (r["product_id"].as_str(), r["category"].as_str()))
        .collect();
    let order: HashMap<&str, (&str, NaiveDate)> = orders
        .iter()
        .map(|o| {
            (
                o["order_id"].as_str(),
                (o["customer_id"].as_str(), o["order_date"].parse().unwrap()),
            )
        })
        .collect();
    let line = |i: &HashMap<String, String>| {
        Decimal::from_str(&i["unit_price"]).unwrap() * Decimal::from_str(&i["qty"]).unwrap()
    };

    // Overview.
    let revenue: Decimal = items.iter().map(line).sum();
    let order_ids: BTreeSet<&str> = items.iter().map(|i| i["order_id"].as_str()).collect();
    let clients: BTreeSet<&str> = order_ids.iter().map(|o| order[o].0).collect();
    let ov = query(
        &gcp,
        &format!(
            "SELECT CAST(revenue AS STRING), orders, unique_clients, CAST(ROUND(aov, 2) AS STRING) FROM {}",
            v("v_kpi_overview")
        ),
    )
    .await;
    assert_eq!(dec(&ov[0][0]), revenue.normalize());
    assert_eq!(ov[0][1].as_deref(), Some(order_ids.len().to_string().as_str()));
    assert_eq!(ov[0][2].as_deref(), Some(clients.len().to_string().as_str()));
    let aov = (revenue / Decimal::from(order_ids.len()))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&ov[0][3]), aov.normalize(), "AOV to the cent");

    // By category and by country.
    let mut by_cat: BTreeMap<&str, Decimal> = BTreeMap::new();
    let mut by_country: BTreeMap<&str, (Decimal, BTreeSet<&str>)> = BTreeMap::new();
    for i in &items {
        *by_cat.entry(category[i["product_id"].as_str()]).or_default() += line(i);
        let (cust, _) = order[i["order_id"].as_str()];
        let e = by_country.entry(country[cust]).or_default();
        e.0 += line(i);
        e.1.insert(i["order_id"].as_str());
    }
    let got = query(
        &gcp,
        &format!(
            "SELECT category, CAST(revenue AS STRING) FROM {} ORDER BY category",
            v("v_revenue_by_category")
        ),
    )
    .await;
    let got: BTreeMap<String, Decimal> = got.iter().map(|r| (r[0].clone().unwrap(), dec(&r[1]))).collect();
    let want: BTreeMap<String, Decimal> = by_cat.iter().map(|(k, v)| (k.to_string(), v.normalize())).collect();
    assert_eq!(got, want, "revenue by category");
    let got = query(
        &gcp,
        &format!(
            "SELECT country, CAST(revenue AS STRING), orders FROM {}",
            v("v_revenue_by_country")
        ),
    )
    .await;
    let got: BTreeMap<String, (Decimal, String)> = got
        .iter()
        .map(|r| (r[0].clone().unwrap(), (dec(&r[1]), r[2].clone().unwrap())))
        .collect();
    let want: BTreeMap<String, (Decimal, String)> = by_country
        .iter()
        .map(|(k, v)| (k.to_string(), (v.0.normalize(), v.1.len().to_string())))
        .collect();
    assert_eq!(got, want, "revenue and orders by country");

    // 30-day revenue and growth, relative to today (UTC), as the view computes it.
    let today = Utc::now().date_naive();
    let (mut cur, mut prev) = (Decimal::ZERO, Decimal::ZERO);
    for i in &items {
        let age = (today - order[i["order_id"].as_str()].1).num_days();
        if (0..30).contains(&age) {
            cur += line(i);
        } else if (30..60).contains(&age) {
            prev += line(i);
        }
    }
    assert!(
        cur > Decimal::ZERO && prev > Decimal::ZERO,
        "the data set reaches today"
    );
    let g = query(
        &gcp,
        &format!(
            "SELECT CAST(revenue_30d AS STRING), CAST(revenue_prev_30d AS STRING), CAST(growth_pct AS STRING) FROM {}",
            v("v_revenue_30d")
        ),
    )
    .await;
    assert_eq!(
        (dec(&g[0][0]), dec(&g[0][1])),
        (cur.normalize(), prev.normalize()),
        "last 30 days against the 30 before"
    );
    let growth = ((cur - prev) / prev * Decimal::from(100))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&g[0][2]), growth.normalize(), "growth %");

    // Monthly cohort retention.
    let mut months: BTreeMap<&str, BTreeSet<NaiveDate>> = BTreeMap::new();
    for o in &order_ids {
        let (cust, date) = order[o];
        months
            .entry(cust)
            .or_default()
            .insert(NaiveDate::from_ymd_opt(date.year(), date.month(), 1).unwrap());
    }
    let mut want: BTreeMap<(String, i64), (u64, u64)> = BTreeMap::new();
    let mut sizes: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for ms in months.values() {
        *sizes.entry(*ms.first().unwrap()).or_default() += 1;
    }
    for ms in months.values() {
        let first = *ms.first().unwrap();
        for m in ms {
            let since = (m.year() - first.year()) as i64 * 12 + m.month() as i64 - first.month() as i64;
            want.entry((first.to_string(), since)).or_insert((0, sizes[&first])).0 += 1;
        }
    }
    let got = query(
        &gcp,
        &format!(
            "SELECT CAST(cohort_month AS STRING), months_since, active_customers, cohort_size FROM {}",
            v("v_cohort_retention")
        ),
    )
    .await;
    let got: BTreeMap<(String, i64), (u64, u64)> = got
        .iter()
        .map(|r| {
            (
                (r[0].clone().unwrap(), r[1].as_deref().unwrap().parse().unwrap()),
                (
                    r[2].as_deref().unwrap().parse().unwrap(),
                    r[3].as_deref().unwrap().parse().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want, "cohort retention");

    // Inventory status per product.
    let mut inv: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in csv_rows(&dir.join("inventory.csv")) {
        let e = inv.entry(r["product_id"].clone()).or_default();
        e.0 += r["stock"].parse::<i64>().unwrap();
        e.1 += r["reorder_point"].parse::<i64>().unwrap();
    }
    let want: BTreeMap<String, String> = inv
        .iter()
        .map(|(p, (s, rp))| {
            (
                p.clone(),
                if s <= rp {
                    "critical"
                } else if *s < 2 * rp {
                    "low"
                } else {
                    "optimal"
                }
                .to_string(),
            )
        })
        .collect();
    let got = query(
        &gcp,
        &format!("SELECT product_id, status FROM {}", v("v_inventory_status")),
    )
    .await;
    let got: BTreeMap<String, String> = got
        .iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(got, want, "inventory status");
    assert!(
        want.values().any(|s| s == "critical"),
        "some products are under their reorder point"
    );

    // Loading the same folder again replaces, so the counts stay.
    assert!(load(&names, &dir, &[]).status.success());
    for (table, rows) in &manifest.rows {
        assert_eq!(count(&gcp, &names, table).await, *rows, "{table} after a second load");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The seed's four files, in the seed's own shape: four columns, quoting, accents, CRLF, BOM.
fn seed_files(dir: &Path) {
    write(
        dir,
        "customers.csv",
        "\u{feff}customer_id,name,country,signup_date\r\nC054,\"Peña, José\",Chile,2024-03-01\r\nC055,\"Ana \"\"La Rápida\"\" Díaz\",Argentina,2024-04-15\r\n",
    );
    write(
        dir,
        "products.csv",
        "product_id,category,price\r\nP002,Electronics,120.50\r\nP003,Books,15.999999999\r\n",
    );
    write(
        dir,
        "orders.csv",
        "order_id,customer_id,order_date\r\nO1234,C054,2025-09-15\r\nO1235,C055,2025-09-16\r\n",
    );
    write(
        dir,
        "order_items.csv",
        "order_id,product_id,qty,unit_price\r\nO1234,P002,2,120.50\r\nO1235,P003,3,15.999999999\r\n",
    );
}

#[tokio::test]
async fn the_seeds_own_csvs_load_exactly() {
    let (names, gcp) = provision_fresh("seedcsv");
    let dir = tmp("seed");
    seed_files(&dir);
    assert!(load(&names, &dir, &[]).status.success());
    let (p, d) = (&gcp.project, &names.dataset);
    let names_rows = query(
        &gcp,
        &format!("SELECT name FROM `{p}.{d}.customers` ORDER BY customer_id"),
    )
    .await;
    assert_eq!(
        names_rows,
        vec![
            vec![Some("Peña, José".into())],
            vec![Some("Ana \"La Rápida\" Díaz".into())]
        ]
    );
    let total = query(
        &gcp,
        &format!("SELECT CAST(SUM(gross_amount) AS STRING) FROM `{p}.{d}.v_fact_sales_batch`"),
    )
    .await;
    assert_eq!(
        dec(&total[0][0]),
        Decimal::from_str("288.999999997").unwrap(),
        "2 x 120.50 + 3 x 15.999999999, to the nano"
    );
    // A later load without inventory.csv leaves the inventory loaded before as it was.
    write(
        &dir,
        "inventory.csv",
        "product_id,warehouse,stock,reorder_point\nP002,Santiago,4,10\nP003,Lima,50,10\n",
    );
    assert!(load(&names, &dir, &[]).status.success());
    assert_eq!(count(&gcp, &names, "inventory").await, 2);
    std::fs::remove_file(dir.join("inventory.csv")).unwrap();
    assert!(load(&names, &dir, &[]).status.success());
    assert_eq!(
        count(&gcp, &names, "inventory").await,
        2,
        "no inventory.csv: the table is left as it was"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn bad_rows_refuse_their_table_by_default_and_are_skipped_with_max_bad_rows() {
    let (names, gcp) = provision_fresh("badrows");
    let dir = tmp("bad");
    seed_files(&dir);
    // A good load first, so "left as it was" is told apart from "emptied".
    assert!(load(&names, &dir, &[]).status.success());
    let qty = |gcp: Gcp, names: Names| async move {
        let (p, d) = (&gcp.project, &names.dataset);
        query(&gcp, &format!("SELECT SUM(qty) FROM `{p}.{d}.order_items`")).await[0][0].clone()
    };
    assert_eq!(qty(gcp.clone(), names.clone()).await.as_deref(), Some("5"));
    write(
        &dir,
        "order_items.csv",
        "order_id,product_id,qty,unit_price\nO1234,P002,2,120.50\nO1234,P003,two,15\nO1235,P003,1,1.5\nO1235,,1,1.5\n",
    );
    let out = load(&names, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "a bad row refuses the run");
    let text = stdout(&out);
    assert!(
        text.contains("order_items.csv:3: qty") && text.contains("order_items.csv:5: product_id is required"),
        "{text}"
    );
    assert!(
        stderr(&out).contains("refused (left as they were): order_items"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        qty(gcp.clone(), names.clone()).await.as_deref(),
        Some("5"),
        "the refused table is left as it was (2 + 3 from the first load)"
    );
    assert_eq!(count(&gcp, &names, "orders").await, 2, "the other tables load");

    let out = load(&names, &dir, &["--max-bad-rows", "2"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("skipped order_items.csv:3"), "{}", stdout(&out));
    assert_eq!(
        count(&gcp, &names, "order_items").await,
        2,
        "loaded minus the two bad rows"
    );
    assert_eq!(
        qty(gcp.clone(), names.clone()).await.as_deref(),
        Some("3"),
        "the new file's good rows (2 + 1) replaced the old ones"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn a_wrong_header_or_a_missing_file_loads_nothing() {
    let (names, gcp) = provision_fresh("header");
    let dir = tmp("header");
    seed_files(&dir);
    // A good load first, so "nothing is loaded" is told apart from "emptied".
    assert!(load(&names, &dir, &[]).status.success());
    write(
        &dir,
        "orders.csv",
        "order_id,client_id,order_date\nO1234,C054,2025-09-15\n",
    );
    let out = load(&names, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("orders.csv") && err.contains("\"client_id\" matches no column of table orders"),
        "{err}"
    );
    for t in ["customers", "products", "orders", "order_items"] {
        assert_eq!(count(&gcp, &names, t).await, 2, "{t}: left as it was");
    }
    std::fs::remove_file(dir.join("orders.csv")).unwrap();
    let out = load(&names, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("orders.csv: missing"), "{}", stderr(&out));
    assert_eq!(count(&gcp, &names, "customers").await, 2, "left as it was");
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn loads_from_a_gs_prefix_too() {
    let (names, gcp) = provision_fresh("gsload");
    let dir = tmp("gs");
    seed_files(&dir);
    // A first run from the folder uploads the files to gs://BUCKET/datasets/.
    assert!(load(&names, &dir, &[]).status.success());
    let gcs_source = PathBuf::from(format!("gs://{}/datasets/", names.bucket));
    assert!(load(&names, &gcs_source, &["--append"]).status.success());
    assert_eq!(
        count(&gcp, &names, "orders").await,
        4,
        "appended the same two orders from gs://"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}
