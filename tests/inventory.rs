//! The live stock the InstaShop page reads, `v_inventory_now`, on the real emulators: what
//! the refresh counted in `inventory_sold` plus the live sales written since, read from
//! the recent partitions only. A datagen history is loaded (its snapshot stamped with the
//! load time); live sales come in before a refresh and after it: failed payments, a sale
//! from before the snapshot, a plain redelivery and a changed re-send of an event the
//! refresh already counted, and a new snapshot of one product loaded after the refresh.
//! Each product's stock must equal the test's own computation from the CSV and the
//! events, and `v_inventory_status` (the definition, over every live sale), row for row.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
use instashop::platform::gcp::Gcp;
use instashop::platform::settings::Names;

/// One sale event of a one-line order; `event` numbers its id (E01 is event 1).
fn sale(event: u8, product: &str, qty: i64, status: &str, at: DateTime<Utc>) -> String {
    let event_id = format!("00000000-0000-4000-8000-{event:012}");
    format!(
        r#"{{"event_id":"{event_id}","order_id":"O-{event_id}","customer_id":"C00001","product_id":"{product}","qty":{qty},"unit_price":10.00,"event_ts":"{}","payment_method":"credit_card","payment_status":"{status}"}}"#,
        at.format("%Y-%m-%d %H:%M:%S")
    )
}

fn csv_rows(path: &std::path::Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

/// Publishes `payloads` and streams them in, until the raw table holds `total` rows.
async fn stream(gcp: &Gcp, names: &Names, payloads: &[String], total: u64) {
    publish_payloads(gcp, names, payloads, &HashMap::new()).await;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM `{}.{}.fact_sales_streaming`",
        gcp.project, names.dataset
    );
    stream_until(names, gcp, &|_| {}, &sql, total).await;
}

/// product → (stock, sold_live) from a stock view.
async fn stock(gcp: &Gcp, names: &Names, view: &str) -> BTreeMap<String, (i64, i64)> {
    let sql = format!(
        "SELECT product_id, stock, sold_live FROM `{}.{}.{view}`",
        gcp.project, names.dataset
    );
    query(gcp, &sql)
        .await
        .into_iter()
        .map(|r| {
            let n = |i: usize| r[i].as_deref().unwrap().parse::<i64>().unwrap();
            (r[0].clone().unwrap(), (n(1), n(2)))
        })
        .collect()
}

#[tokio::test]
async fn the_pages_stock_adds_the_sales_since_the_refresh_to_what_it_counted() {
    let (names, gcp) = provision_fresh("inventory");
    let dir = std::env::temp_dir().join(format!("inventory-{}", names.dataset));
    let today = Utc::now().date_naive();
    let out = run(Command::new(exe("datagen")).arg("--out").arg(&dir).args([
        "--seed",
        "9",
        "--orders",
        "300",
        "--start",
        &(today - chrono::Duration::days(20)).to_string(),
        "--end",
        &today.to_string(),
    ]));
    assert!(out.status.success());
    assert!(
        run(bin("batch-loader", &names).arg("--source").arg(&dir))
            .status
            .success()
    );
    // The snapshot, summed over the warehouses, as the CSV says.
    let mut snapshot: BTreeMap<String, i64> = BTreeMap::new();
    let mut rows_of: BTreeMap<String, Vec<csv::StringRecord>> = BTreeMap::new();
    for r in csv_rows(&dir.join("inventory.csv")) {
        *snapshot.entry(r[0].to_string()).or_default() += r[2].parse::<i64>().unwrap();
        rows_of.entry(r[0].to_string()).or_default().push(r);
    }
    let p: Vec<String> = snapshot.keys().take(4).cloned().collect();
    // Event times after the snapshot's stamp (whole seconds), and one before it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let now = || Utc::now();
    let before = now() - chrono::Duration::hours(1);

    // Before the refresh: p0 sells 2 (and a failed 5, and 7 before the snapshot), p1 sells
    // 3 (delivered twice), p2 sells 1.
    let first = [
        sale(1, &p[0], 2, "completed", now()),
        sale(2, &p[0], 5, "failed", now()),
        sale(3, &p[0], 7, "completed", before),
        sale(4, &p[1], 3, "completed", now()),
        sale(4, &p[1], 3, "completed", now()),
        sale(5, &p[2], 1, "refunded", now()),
    ];
    stream(&gcp, &names, &first, 6).await;
    let out = run(bin("refresh", &names).args(["--days", "0", "--stock-settle-secs", "0"]));
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!(
            "inventory_sold: 6 units sold live over {} products",
            snapshot.len()
        )),
        "{}",
        stdout(&out)
    );
    // What the refresh counted is the stock so far (so the sales below come from the
    // recent partitions, on top of it).
    let counted = query(
        &gcp,
        &format!(
            "SELECT product_id, sold_live FROM `{}.{}.inventory_sold` WHERE sold_live != 0 ORDER BY product_id",
            gcp.project, names.dataset
        ),
    )
    .await;
    let want_counted: Vec<Vec<Option<String>>> = [(&p[0], "2"), (&p[1], "3"), (&p[2], "1")]
        .iter()
        .map(|(id, n)| vec![Some(id.to_string()), Some(n.to_string())])
        .collect();
    assert_eq!(counted, want_counted);

    // After the refresh: a new snapshot of p2 (its earlier sale is then before it), counted
    // at 40 units in each warehouse.
    let append = dir.join("append");
    std::fs::create_dir_all(&append).unwrap();
    let mut w = csv::Writer::from_path(append.join("inventory.csv")).unwrap();
    w.write_record(["product_id", "warehouse", "stock", "reorder_point"])
        .unwrap();
    for r in &rows_of[&p[2]] {
        w.write_record([&r[0], &r[1], "40", &r[3]]).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    assert!(
        run(bin("batch-loader", &names).arg("--append").arg("--source").arg(&append))
            .status
            .success()
    );
    let p2_snapshot = 40 * rows_of[&p[2]].len() as i64;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Then p0 sells 4 more, p3 sells 6, p2 sells 2 after its new snapshot; E04 comes a
    // third time, and E01 comes again with another quantity (the first written counts).
    let second = [
        sale(6, &p[0], 4, "completed", now()),
        sale(7, &p[3], 6, "completed", now()),
        sale(8, &p[2], 2, "completed", now()),
        sale(4, &p[1], 3, "completed", now()),
        sale(1, &p[0], 9, "completed", now()),
    ];
    stream(&gcp, &names, &second, 11).await;

    let mut want: BTreeMap<String, (i64, i64)> = snapshot.iter().map(|(id, s)| (id.clone(), (*s, 0))).collect();
    want.insert(p[0].clone(), (snapshot[&p[0]] - 6, 6));
    want.insert(p[1].clone(), (snapshot[&p[1]] - 3, 3));
    want.insert(p[2].clone(), (p2_snapshot - 2, 2));
    want.insert(p[3].clone(), (snapshot[&p[3]] - 6, 6));
    let now_view = stock(&gcp, &names, "v_inventory_now").await;
    let definition = stock(&gcp, &names, "v_inventory_status").await;
    for id in &p {
        assert_eq!(now_view[id], want[id], "v_inventory_now, {id}");
        assert_eq!(definition[id], want[id], "v_inventory_status, {id}");
    }
    assert_eq!(now_view, want, "every product");
    assert_eq!(definition, want, "every product");
    let _ = std::fs::remove_dir_all(&dir);
    cleanup(&gcp, &names).await;
}
