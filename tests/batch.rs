//! The batch pipeline on the real emulators: `datagen` → Cloud Storage → `batch-loader`
//! → BigQuery, and the KPI views checked against values computed here from the CSVs.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use common::*;
use instashop::batch::datagen::Manifest;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;
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

    // Net revenue, computed here from the CSVs: completed orders only. Every chart is
    // checked against an independent computation in tests/metrics.rs; this checks the
    // headline figures on datagen's larger history, with its failed and refunded orders.
    let orders = csv_rows(&dir.join("orders.csv"));
    let items = csv_rows(&dir.join("order_items.csv"));
    let order: HashMap<&str, (&str, &str)> = orders
        .iter()
        .map(|o| {
            (
                o["order_id"].as_str(),
                (o["customer_id"].as_str(), o["status"].as_str()),
            )
        })
        .collect();
    let line = |i: &HashMap<String, String>| {
        Decimal::from_str(&i["unit_price"]).unwrap() * Decimal::from_str(&i["qty"]).unwrap()
    };
    let of = |status: &str| -> Decimal {
        items
            .iter()
            .filter(|i| order[i["order_id"].as_str()].1 == status)
            .map(line)
            .sum()
    };
    let (revenue, failed, refunded) = (of("completed"), of("failed"), of("refunded"));
    assert!(
        failed > Decimal::ZERO && refunded > Decimal::ZERO,
        "the history has both"
    );
    assert_eq!(
        revenue + failed + refunded,
        manifest.gross_total,
        "every status is one of the three"
    );
    let order_ids: BTreeSet<&str> = items
        .iter()
        .map(|i| i["order_id"].as_str())
        .filter(|o| order[o].1 == "completed")
        .collect();
    let clients: BTreeSet<&str> = order_ids.iter().map(|o| order[o].0).collect();
    let ov = query(
        &gcp,
        &format!(
            "SELECT CAST(revenue AS STRING), orders, unique_clients, CAST(ROUND(aov, 2) AS STRING), \
             CAST(failed_amount AS STRING), CAST(refunded_amount AS STRING) FROM {}",
            v("v_kpi_overview")
        ),
    )
    .await;
    assert_eq!(dec(&ov[0][0]), revenue.normalize(), "net revenue");
    assert_eq!(ov[0][1].as_deref(), Some(order_ids.len().to_string().as_str()));
    assert_eq!(ov[0][2].as_deref(), Some(clients.len().to_string().as_str()));
    let aov = (revenue / Decimal::from(order_ids.len()))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(dec(&ov[0][3]), aov.normalize(), "AOV to the cent");
    assert_eq!(dec(&ov[0][4]), failed.normalize(), "failed amount");
    assert_eq!(dec(&ov[0][5]), refunded.normalize(), "refunded amount");

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
    // With --append, a folder holding none of the files is an error too, not an empty load.
    let empty = tmp("header-empty");
    let out = load(&names, &empty, &["--append"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("none of customers"), "{}", stderr(&out));
    std::fs::remove_dir_all(&empty).unwrap();
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
    // One order goes missing in BigQuery: the append from gs:// must bring it back (so
    // it really loaded) and leave the other one once (so it replaced by key).
    let (p, d) = (&gcp.project, &names.dataset);
    for t in ["orders", "order_items"] {
        query(&gcp, &format!("DELETE FROM `{p}.{d}.{t}` WHERE order_id = 'O1235'")).await;
        assert_eq!(count(&gcp, &names, t).await, 1, "{t}: O1235 deleted");
    }
    assert!(load(&names, &gcs_source, &["--append"]).status.success());
    for t in ["customers", "products", "orders", "order_items"] {
        assert_eq!(
            count(&gcp, &names, t).await,
            2,
            "{t}: the same file appended from gs:// leaves each key once"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

/// Issue 16: keys stay true. A repeated primary key and an orphan are refused with
/// file:line and counted against --max-bad-rows; a key known only to BigQuery is a
/// match with --append; appending an order replaces its lines; and appending the same
/// files twice leaves each key once, so revenue is not doubled.
#[tokio::test]
async fn keys_stay_true_across_loads_and_appends() {
    let (names, gcp) = provision_fresh("keys");
    let dir = tmp("keys");
    seed_files(&dir);
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let revenue = || {
        let (gcp, sql) = (
            gcp.clone(),
            format!("SELECT CAST(SUM(gross_amount) AS STRING) FROM `{p}.{d}.v_fact_sales_batch`"),
        );
        async move { query(&gcp, &sql).await[0][0].clone().unwrap() }
    };
    // A repeated order and two orphans (an unknown customer, an unknown product).
    write(
        &dir,
        "orders.csv",
        "order_id,customer_id,order_date\nO1234,C054,2025-09-15\nO1235,C055,2025-09-16\nO1234,C055,2025-09-17\nO1236,C999,2025-09-17\n",
    );
    write(
        &dir,
        "order_items.csv",
        "order_id,product_id,qty,unit_price\nO1234,P002,2,120.50\nO1235,P003,3,15.999999999\nO1235,P404,1,1\nO1236,P002,1,120.50\n",
    );
    let out = load(&names, &dir, &[]);
    assert_eq!(out.status.code(), Some(1), "bad rows refuse their tables by default");
    let text = stdout(&out);
    for want in [
        "orders.csv:4: order_id \"O1234\" repeats line 2",
        "orders.csv:5: customer_id \"C999\" is not in customers",
        // orders is refused, and BigQuery holds none: every line is an orphan.
        "order_items.csv:2: order_id \"O1234\" is not in orders",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(count(&gcp, &names, "orders").await, 0, "orders refused");
    let out = load(&names, &dir, &["--max-bad-rows", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "skipped orders.csv:4: order_id \"O1234\" repeats line 2",
        "skipped order_items.csv:4: product_id \"P404\" is not in products",
        "skipped order_items.csv:5: order_id \"O1236\" is not in orders",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert_eq!(count(&gcp, &names, "orders").await, 2, "each key once, no orphan");
    assert_eq!(count(&gcp, &names, "order_items").await, 2);
    assert_eq!(revenue().await, "288.999999997");

    // New orders for known customers, appended alone: the customers are in BigQuery, not
    // in the folder, and that is a match. O1234's lines come again, changed: they
    // replace its old line.
    let more = tmp("keys-more");
    for f in ["customers.csv", "products.csv"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        write(&more, f, text.lines().next().unwrap());
    }
    write(
        &more,
        "orders.csv",
        "order_id,customer_id,order_date\nO1234,C054,2025-09-15\nO1300,C054,2025-10-01\n",
    );
    write(
        &more,
        "order_items.csv",
        "order_id,product_id,qty,unit_price\nO1234,P002,1,120.50\nO1234,P003,1,15.999999999\nO1300,P003,2,15.999999999\n",
    );
    let out = load(&names, &more, &["--append"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        count(&gcp, &names, "customers").await,
        2,
        "a header-only file appends nothing"
    );
    assert_eq!(count(&gcp, &names, "orders").await, 3);
    assert_eq!(
        count(&gcp, &names, "order_items").await,
        4,
        "O1234's two lines replaced its one"
    );
    // 120.50 + 15.999999999 (O1234) + 3 x 15.999999999 (O1235) + 2 x 15.999999999 (O1300)
    assert_eq!(revenue().await, "216.499999994");
    // The same orders again, O1300 now dated a day later: the date shows the append
    // landed, the counts and revenue that nothing doubled.
    let orders = std::fs::read_to_string(more.join("orders.csv")).unwrap();
    write(
        &more,
        "orders.csv",
        &orders.replace("O1300,C054,2025-10-01", "O1300,C054,2025-10-02"),
    );
    assert!(load(&names, &more, &["--append"]).status.success());
    let date = query(
        &gcp,
        &format!(
            "SELECT CAST(order_date AS STRING) AS d FROM `{}.{}.orders` WHERE order_id = 'O1300'",
            gcp.project, names.dataset
        ),
    )
    .await;
    assert_eq!(date, [[Some("2025-10-02".to_string())]], "the second append landed");
    assert_eq!(count(&gcp, &names, "orders").await, 3);
    assert_eq!(count(&gcp, &names, "order_items").await, 4);
    assert_eq!(
        revenue().await,
        "216.499999994",
        "appending twice does not double revenue"
    );
    // No staging table is left behind.
    let left = query(
        &gcp,
        &format!(
            "SELECT COUNT(*) FROM `{}.{}.INFORMATION_SCHEMA.TABLES` WHERE STARTS_WITH(table_name, '_staging_')",
            gcp.project, names.dataset
        ),
    )
    .await;
    assert_eq!(left[0][0].as_deref(), Some("0"));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&more).unwrap();
    cleanup(&gcp, &names).await;
}

/// Every page of a query's answer is read: with one row a page, the loader's key reads
/// and every caller of `BigQuery::query` still get all rows (BigQuery pages an answer at
/// about 10 MB; the emulator honours `maxResults`, so small pages are real pages here).
#[tokio::test]
async fn every_page_of_a_query_answer_is_read() {
    let (names, gcp) = provision_fresh("pages");
    let dir = tmp("pages");
    seed_files(&dir);
    assert!(load(&names, &dir, &[]).status.success());
    let bq = bigquery(&gcp).await;
    let sql = format!(
        "SELECT order_id FROM `{}.{}.order_items` UNION ALL SELECT customer_id FROM `{}.{}.customers` \
         UNION ALL SELECT product_id FROM `{}.{}.products`",
        gcp.project, names.dataset, gcp.project, names.dataset, gcp.project, names.dataset
    );
    // The emulator really pages: its first answer holds one row and a token.
    let first = bq
        .rest
        .post(
            "query",
            &format!("/projects/{}/queries", gcp.project),
            &serde_json::json!({"query": sql, "useLegacySql": false, "maxResults": 1}),
        )
        .await
        .unwrap();
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(1), "{first}");
    assert!(first["pageToken"].as_str().is_some_and(|t| !t.is_empty()), "{first}");
    let one = bq
        .query_paged(&gcp.project, &sql, std::time::Duration::from_secs(60), Some(1))
        .await
        .unwrap();
    let mut got: Vec<String> = one.rows.into_iter().map(|r| r[0].clone().unwrap()).collect();
    got.sort();
    assert_eq!(
        got,
        ["C054", "C055", "O1234", "O1235", "P002", "P003"],
        "six pages of one row"
    );
    assert_eq!(one.names, ["order_id"]);
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

/// Issue 18 §1: a dataset in a single region (`southamerica-west1`, which
/// `terraform/variables.tf` suggests) is loaded and queried through a proxy that acts as
/// BigQuery does there: every job answer names that location, and a call on a job
/// without `location` is answered 404 "Not found: Job" (the emulator ignores `location`).
/// Without the location on `jobs.get`, `batch-loader` stopped with "the job disappeared".
#[tokio::test]
async fn a_dataset_in_southamerica_west1_loads_and_pages_with_every_job_call_naming_its_location() {
    let region = "southamerica-west1";
    let names = fresh_names("region");
    assert!(
        run(bin("provision", &names).args(["--location", region, "--ack-deadline-secs", "10"]))
            .status
            .success()
    );
    let strict = StrictBigQuery::start();
    strict.in_region(region);
    let mut args = gcp_args();
    args.bigquery_emulator_host = Some(format!("127.0.0.1:{}", strict.port));
    let gcp = Gcp::new(&args).unwrap();
    let bq = bigquery(&gcp).await;

    // The proxy enforces the contract: a job looked up without its location is not found.
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let answer = bq
        .rest
        .post(
            "query",
            &format!("/projects/{p}/queries"),
            &serde_json::json!({"query": "SELECT 1", "useLegacySql": false}),
        )
        .await
        .unwrap();
    assert_eq!(answer["jobReference"]["location"], region, "{answer}");
    let job = answer["jobReference"]["jobId"].as_str().unwrap().to_string();
    let without = bq.rest.get("get job", &format!("/projects/{p}/jobs/{job}")).await;
    assert!(matches!(without, Ok(None)), "{without:?}");
    assert_eq!(strict.refused(), 1);
    let with = bq
        .rest
        .get("get job", &format!("/projects/{p}/jobs/{job}?location={region}"))
        .await;
    assert!(matches!(with, Ok(Some(_))), "{with:?}");

    let dir = tmp("region");
    seed_files(&dir);
    let out = run(bin("batch-loader", &names)
        .env("BIGQUERY_EMULATOR_HOST", format!("127.0.0.1:{}", strict.port))
        .arg("--source")
        .arg(&dir));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count(&gcp, &names, "order_items").await, 2);
    let sql = format!(
        "SELECT order_id FROM `{p}.{d}.order_items` UNION ALL SELECT customer_id FROM `{p}.{d}.customers` \
         UNION ALL SELECT product_id FROM `{p}.{d}.products`"
    );
    let paged = bq
        .query_paged(&p, &sql, std::time::Duration::from_secs(60), Some(1))
        .await
        .unwrap();
    assert_eq!(
        paged.rows.len(),
        6,
        "six pages of one row, each asked for with its location"
    );
    assert_eq!(
        strict.refused(),
        1,
        "no job call of the loader or the pager went without its location"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

/// Issue 18 §5: an append stages its rows in `--staging-dataset`, so that on Google
/// Cloud the loader may create tables there alone, never in the main dataset. A missing
/// one is refused before anything is loaded, naming it.
#[tokio::test]
async fn an_append_stages_in_the_staging_dataset_and_a_missing_one_loads_nothing() {
    let (names, gcp) = provision_fresh("stage");
    let dir = tmp("stage");
    seed_files(&dir);
    assert!(load(&names, &dir, &[]).status.success());
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let staging = format!("{d}_staging");
    write(
        &dir,
        "orders.csv",
        "order_id,customer_id,order_date\nO1234,C055,2025-09-20\n",
    );
    let out = load(&names, &dir, &["--append", "--staging-dataset", &staging]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{staging} does not exist")),
        "{}",
        stderr(&out)
    );
    let customer = |gcp: Gcp| {
        let sql = format!("SELECT customer_id FROM `{p}.{d}.orders` WHERE order_id = 'O1234'");
        async move { query(&gcp, &sql).await[0][0].clone().unwrap() }
    };
    assert_eq!(customer(gcp.clone()).await, "C054", "nothing was loaded");
    query(&gcp, &format!("CREATE SCHEMA `{p}.{staging}`")).await;
    let out = load(&names, &dir, &["--append", "--staging-dataset", &staging]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        customer(gcp.clone()).await,
        "C055",
        "the append replaced the order by key"
    );
    assert_eq!(count(&gcp, &names, "orders").await, 2);
    let tables = |dataset: String| {
        let gcp = gcp.clone();
        async move {
            let sql = format!(
                "SELECT table_name FROM `{}.{dataset}.INFORMATION_SCHEMA.TABLES`",
                gcp.project
            );
            query(&gcp, &sql)
                .await
                .into_iter()
                .map(|r| r[0].clone().unwrap())
                .collect::<Vec<_>>()
        }
    };
    assert!(
        tables(staging.clone()).await.is_empty(),
        "the staging table was dropped"
    );
    assert!(
        !tables(d.clone()).await.iter().any(|t| t.starts_with("_staging_")),
        "nothing staged in the main dataset"
    );
    query(&gcp, &format!("DROP SCHEMA `{p}.{staging}` CASCADE")).await;
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}
