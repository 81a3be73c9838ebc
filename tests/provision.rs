//! `provision` against the real emulators (Pub/Sub, bqemulator, fake-gcs-server), with
//! fresh names per test.

mod common;

use std::time::{Duration, Instant};

use common::*;
use instashop::gcp::Gcp;
use instashop::model::DataModel;
use instashop::provision::{MAX_BACKOFF_SECONDS, MAX_DELIVERY_ATTEMPTS, MIN_BACKOFF_SECONDS};

/// Every table and view, plus the bucket, its two folders, the dataset, two topics and
/// two subscriptions.
fn resource_count() -> usize {
    let model = DataModel::load(&model_dir()).unwrap();
    model.tables.len() + model.views.len() + 8
}

fn canonical(t: &str) -> &str {
    match t {
        "INTEGER" => "INT64",
        "BOOLEAN" => "BOOL",
        other => other,
    }
}

#[tokio::test]
async fn provision_creates_every_resource_exactly_as_bigquery_folder_defines_it() {
    let names = fresh_names("create");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    let out = run(&mut bin("provision", &names));
    assert!(out.status.success());
    let model = DataModel::load(&model_dir()).unwrap();

    // Every table, with exactly the columns of its schema file, as the emulator reports them.
    let bq = gcp.bigquery().await.unwrap();
    for t in &model.tables {
        let path = format!("/projects/{}/datasets/{}/tables/{}", gcp.project, names.dataset, t.name);
        let have = bq
            .rest
            .get("get", &path)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("table {} missing", t.name));
        let fields = have["schema"]["fields"].as_array().unwrap();
        let got: Vec<(String, String, String, String)> = fields
            .iter()
            .map(|f| {
                (
                    s(&f["name"]).into(),
                    canonical(s(&f["type"])).into(),
                    s(&f["mode"]).into(),
                    s(&f["description"]).into(),
                )
            })
            .collect();
        let want: Vec<(String, String, String, String)> = t
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    canonical(&c.r#type).into(),
                    c.mode.clone(),
                    c.description.clone(),
                )
            })
            .collect();
        assert_eq!(got, want, "table {}", t.name);
        if let Some(p) = &t.options.time_partitioning {
            assert_eq!(
                s(&have["timePartitioning"]["field"]),
                p.field,
                "partitioning of {}",
                t.name
            );
        }
        let clustering: Vec<&str> = have["clustering"]["fields"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        assert_eq!(clustering, t.options.clustering, "clustering of {}", t.name);
    }

    // Every view answers a query over the empty tables: no rows, or the one row of a
    // view whose grain is one row (an aggregate over nothing).
    for v in &model.views {
        let rows = query(
            &gcp,
            &format!(
                "SELECT COUNT(*) AS n FROM `{}.{}.{}`",
                gcp.project, names.dataset, v.name
            ),
        )
        .await;
        let want = if v.description.contains("Grain: one row") {
            "1"
        } else {
            "0"
        };
        assert_eq!(rows, vec![vec![Some(want.to_string())]], "view {}", v.name);
    }

    // The worker's subscription carries its dead-letter and retry policies.
    let ps = gcp.pubsub_admin().await.unwrap();
    let sub = ps
        .subscriptions
        .get_subscription()
        .set_subscription(format!("projects/{}/subscriptions/{}", gcp.project, names.subscription))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.topic, format!("projects/{}/topics/{}", gcp.project, names.topic));
    let dl = sub.dead_letter_policy.expect("dead-letter policy");
    assert_eq!(
        dl.dead_letter_topic,
        format!("projects/{}/topics/{}", gcp.project, names.dead_letter_topic())
    );
    assert_eq!(dl.max_delivery_attempts, MAX_DELIVERY_ATTEMPTS);
    let rp = sub.retry_policy.expect("retry policy");
    assert_eq!(rp.minimum_backoff.map(|d| d.seconds()), Some(MIN_BACKOFF_SECONDS));
    assert_eq!(rp.maximum_backoff.map(|d| d.seconds()), Some(MAX_BACKOFF_SECONDS));
    // Dead letters are kept by a subscription on the dead-letter topic.
    let keep = ps
        .subscriptions
        .get_subscription()
        .set_subscription(format!(
            "projects/{}/subscriptions/{}",
            gcp.project,
            names.dead_letter_subscription()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(keep.topic, dl.dead_letter_topic);

    // The bucket holds the seed's folders.
    let gcs = gcp.storage().await.unwrap();
    let list = gcs
        .rest
        .get("list", &format!("/b/{}/o", names.bucket))
        .await
        .unwrap()
        .expect("bucket exists");
    let mut objects: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| s(&o["name"]))
        .collect();
    objects.sort();
    assert_eq!(objects, ["datasets/.keep", "pipelines/.keep"]);

    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn a_second_provision_changes_nothing_and_says_so() {
    let names = fresh_names("twice");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    let total = resource_count();
    let first = run(&mut bin("provision", &names));
    assert!(first.status.success());
    assert!(
        stdout(&first).contains(&format!("{total} of {total} resources changed")),
        "first run creates all"
    );
    let second = run(&mut bin("provision", &names));
    assert!(second.status.success());
    let text = stdout(&second);
    assert!(
        text.contains(&format!("nothing to change: all {total} resources")),
        "{text}"
    );
    assert!(!text.contains("created") && !text.contains("updated"), "{text}");
    cleanup(&gcp, &names).await;
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_creates_nothing() {
    let names = fresh_names("dry");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    let out = run(bin("provision", &names).arg("--dry-run"));
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "would create  dataset       {}.{}",
            gcp.project, names.dataset
        )),
        "{text}"
    );
    assert!(text.contains("nothing was changed"), "{text}");
    let bq = gcp.bigquery().await.unwrap();
    let path = format!("/projects/{}/datasets/{}", gcp.project, names.dataset);
    assert!(
        bq.rest.get("get", &path).await.unwrap().is_none(),
        "dry run created the dataset"
    );
    let gcs = gcp.storage().await.unwrap();
    assert!(
        gcs.rest
            .get("get", &format!("/b/{}", names.bucket))
            .await
            .unwrap()
            .is_none(),
        "dry run created the bucket"
    );
}

#[tokio::test]
async fn a_changed_view_is_updated_in_place_and_then_unchanged() {
    let names = fresh_names("viewupd");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    assert!(run(&mut bin("provision", &names)).status.success());

    let dir = std::env::temp_dir().join(format!("instashop-model-{}", names.dataset));
    copy_dir(&model_dir(), &dir);
    let view = dir.join("views/v_fact_sales_batch.sql");
    let sql = std::fs::read_to_string(&view).unwrap();
    std::fs::write(
        &view,
        sql.replace(
            "(oi.qty * oi.unit_price) AS gross_amount",
            "(oi.qty * oi.unit_price) AS gross_amount,\n  oi.qty",
        ),
    )
    .unwrap();

    let out = run(bin("provision", &names).arg("--model-dir").arg(&dir));
    assert!(out.status.success());
    assert!(stdout(&out).contains("updated       view"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("1 of {} resources changed", resource_count())),
        "{}",
        stdout(&out)
    );
    let resp = gcp.bigquery().await.unwrap();
    let body = serde_json::json!({"query": format!("SELECT qty FROM `{}.{}.v_fact_sales_batch`", gcp.project, names.dataset), "useLegacySql": false});
    resp.rest
        .post("query", &format!("/projects/{}/queries", gcp.project), &body)
        .await
        .expect("the view has the new column");
    let again = run(bin("provision", &names).arg("--model-dir").arg(&dir));
    assert!(stdout(&again).contains("nothing to change"), "{}", stdout(&again));
    std::fs::remove_dir_all(&dir).unwrap();
    cleanup(&gcp, &names).await;
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let target = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_broken_schema_file_is_refused_with_its_name_and_nothing_is_created() {
    let names = fresh_names("broken");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    let dir = std::env::temp_dir().join(format!("instashop-model-{}", names.dataset));
    copy_dir(&model_dir(), &dir);
    std::fs::write(
        dir.join("schemas/orders.json"),
        "[{\"name\": \"order_id\", \"type\": \"STRING\"",
    )
    .unwrap();
    let out = run(bin("provision", &names).arg("--model-dir").arg(&dir));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("orders.json") && err.contains("not a bq JSON schema"),
        "{err}"
    );
    let bq = gcp.bigquery().await.unwrap();
    let path = format!("/projects/{}/datasets/{}", gcp.project, names.dataset);
    assert!(
        bq.rest.get("get", &path).await.unwrap().is_none(),
        "a broken model created the dataset"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_stopped_emulator_gives_one_clear_sentence_quickly() {
    let names = fresh_names("down");
    // A port that was just free: nothing listens there, as when an emulator is stopped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for var in [
        "PUBSUB_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
    ] {
        let started = Instant::now();
        let out = run(bin("provision", &names).env(var, format!("127.0.0.1:{port}")));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{var}: took {:?}",
            started.elapsed()
        );
        assert_eq!(out.status.code(), Some(1), "{var}");
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{var}: one sentence, got {err}");
        assert!(
            err.contains("does not answer") && err.contains("scripts/emulators.sh start") && err.contains(var),
            "{var}: {err}"
        );
    }
}

#[tokio::test]
async fn streaming_rows_are_deduplicated_by_event_id_and_money_stays_exact() {
    let names = fresh_names("views");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    assert!(run(&mut bin("provision", &names)).status.success());
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let bq = gcp.bigquery().await.unwrap();
    let insert = |table: &str, rows: serde_json::Value| {
        let bq = bq.clone();
        let path = format!("/projects/{p}/datasets/{d}/tables/{table}/insertAll");
        async move {
            let resp = bq
                .rest
                .post("insertAll", &path, &serde_json::json!({ "rows": rows }))
                .await
                .unwrap();
            assert!(resp["insertErrors"].as_array().is_none_or(|e| e.is_empty()), "{resp}");
        }
    };
    insert(
        "orders",
        serde_json::json!([
            {"json": {"order_id": "O1", "customer_id": "C001", "order_date": "2025-09-01"}},
            {"json": {"order_id": "O2", "customer_id": "C002", "order_date": "2025-09-02"}},
        ]),
    )
    .await;
    insert(
        "order_items",
        serde_json::json!([
            {"json": {"order_id": "O1", "product_id": "P001", "qty": 3, "unit_price": "0.333333333"}},
            {"json": {"order_id": "O1", "product_id": "P002", "qty": 1, "unit_price": "120.50"}},
            {"json": {"order_id": "O2", "product_id": "P001", "qty": 2, "unit_price": "1465.68"}},
        ]),
    )
    .await;
    let row = |event: &str, ingest: &str, amount: &str| {
        serde_json::json!({"json": {
        "event_id": event, "order_id": "S1", "customer_id": "C001", "product_id": "P003", "qty": 1,
        "unit_price": amount, "gross_amount": amount, "event_ts": "2025-09-15 14:23:55",
        "ingest_ts": ingest, "message_id": format!("m-{ingest}")}})
    };
    // e1 delivered twice (a redelivery), e2 once.
    insert(
        "fact_sales_streaming",
        serde_json::json!([
            row("e1", "2025-09-15T14:24:00Z", "0.000000001"),
            row("e1", "2025-09-15T14:25:00Z", "0.000000001"),
            row("e2", "2025-09-15T14:24:01Z", "10.000000002"),
        ]),
    )
    .await;

    let rows = query(&gcp, &format!(
        "SELECT source, COUNT(*) AS n, CAST(SUM(gross_amount) AS STRING) AS total FROM `{p}.{d}.v_fact_sales_all` GROUP BY source ORDER BY source"
    )).await;
    // Batch: 3 * 0.333333333 + 120.50 + 2 * 1465.68 = 3052.859999999, to the nano.
    assert_eq!(
        rows,
        vec![
            vec![Some("batch".into()), Some("3".into()), Some("3052.859999999".into())],
            vec![Some("streaming".into()), Some("2".into()), Some("10.000000003".into())],
        ]
    );
    let kept = query(
        &gcp,
        &format!("SELECT message_id AS m FROM `{p}.{d}.v_fact_sales_streaming` WHERE event_id = 'e1'"),
    )
    .await;
    assert_eq!(
        kept,
        vec![vec![Some("m-2025-09-15T14:24:00Z".into())]],
        "the first row written is kept"
    );
    cleanup(&gcp, &names).await;
}
