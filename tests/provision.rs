//! `provision` against the real emulators (Pub/Sub, bqemulator, fake-gcs-server), with
//! fresh names per test.

mod common;

use std::time::{Duration, Instant};

use common::*;
use instashop::model::DataModel;
use instashop::model::provision::{MAX_BACKOFF_SECONDS, MAX_DELIVERY_ATTEMPTS, MIN_BACKOFF_SECONDS};
use instashop::platform::gcp::Gcp;

/// Every table and view, plus the bucket, its two folders, the dataset, two topics and
/// two subscriptions.
fn resource_count() -> usize {
    let model = DataModel::load(&model_dir()).unwrap();
    // bucket, 2 folders, dataset; topics: orders, dead letter, alerts; 2 subscriptions
    model.tables.len() + model.views.len() + 9
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
    let bq = bigquery(&gcp).await;
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
        } else if v.name == "v_filter_values" {
            // Every source, and 'Unknown' for country, category and plan: 2 + 3 rows.
            "5"
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
    let bq = bigquery(&gcp).await;
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
    let resp = bigquery(&gcp).await;
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
    let bq = bigquery(&gcp).await;
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
    let bq = bigquery(&gcp).await;
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

/// Issue 9: a dataset found in another location is drift, not "unchanged" (a dataset
/// cannot move), and nothing else is touched.
#[tokio::test]
async fn a_dataset_in_another_location_is_refused_with_both_locations() {
    let names = fresh_names("location");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    assert!(run(&mut bin("provision", &names)).status.success());
    let out = run(bin("provision", &names).args(["--location", "EU"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}.{}", gcp.project, names.dataset))
            && err.contains("it is in US, not in --location EU"),
        "{err}"
    );
    assert!(
        !stdout(&out).contains("created") && !stdout(&out).contains("updated"),
        "{}",
        stdout(&out)
    );
    cleanup(&gcp, &names).await;
}

/// Terraform's own values for each topic and subscription of `terraform/pubsub.tf`: the
/// module's expressions evaluated with its variables' defaults (and the test's names and
/// ack deadline),
/// shaped like the API's JSON (attribute `ack_deadline_seconds` is field
/// `ackDeadlineSeconds`). Keyed by resource address.
fn terraform_pubsub(
    project: &str,
    names: &instashop::platform::settings::Names,
    ack_deadline_seconds: u32,
) -> Vec<(String, String, serde_json::Value)> {
    use hcl::eval::{Context, Evaluate};
    use hcl::{Expression, Map, Value};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform");
    let mut bodies = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tf") {
            bodies.push(hcl::parse(&std::fs::read_to_string(&p).unwrap()).unwrap());
        }
    }
    let blocks = |kind: &'static str| {
        bodies
            .iter()
            .flat_map(|b| b.blocks())
            .filter(move |b| b.identifier() == kind)
            .collect::<Vec<_>>()
    };
    let mut ctx = Context::new();
    let mut vars = Map::new();
    for v in blocks("variable") {
        if let Some(a) = v.body.attributes().find(|a| a.key() == "default") {
            vars.insert(v.labels()[0].as_str().to_string(), a.expr().evaluate(&ctx).unwrap());
        }
    }
    vars.insert("project_id".into(), Value::from(project));
    vars.insert("topic".into(), Value::from(names.topic.as_str()));
    vars.insert("subscription".into(), Value::from(names.subscription.as_str()));
    vars.insert("ack_deadline_seconds".into(), Value::from(ack_deadline_seconds));
    ctx.declare_var("var", Value::Object(vars));
    let data: Value = serde_json::from_value(serde_json::json!({"google_project": {"this": {"number": "0"}}})).unwrap();
    ctx.declare_var("data", data);
    // Locals may read each other: evaluate until nothing more can be (those that call
    // functions this evaluator does not have are not needed here).
    let mut pending: Vec<(String, Expression)> = blocks("locals")
        .iter()
        .flat_map(|b| b.body.attributes())
        .map(|a| (a.key().to_string(), a.expr().clone()))
        .collect();
    let mut locals = Map::new();
    loop {
        ctx.declare_var("local", Value::Object(locals.clone()));
        let before = pending.len();
        pending.retain(|(k, e)| match e.evaluate(&ctx) {
            Ok(v) => {
                locals.insert(k.clone(), v);
                false
            }
            Err(_) => true,
        });
        if pending.len() == before {
            break;
        }
    }
    ctx.declare_var("local", Value::Object(locals));
    let mut topics = Map::new();
    for r in blocks("resource")
        .into_iter()
        .filter(|r| r.labels()[0].as_str() == "google_pubsub_topic")
    {
        let name = r
            .body
            .attributes()
            .find(|a| a.key() == "name")
            .unwrap()
            .expr()
            .evaluate(&ctx)
            .unwrap();
        let name = name.as_str().unwrap().to_string();
        let mut t = Map::new();
        t.insert("id".into(), Value::from(format!("projects/{project}/topics/{name}")));
        t.insert("name".into(), Value::from(name));
        topics.insert(r.labels()[1].as_str().to_string(), Value::Object(t));
    }
    ctx.declare_var("google_pubsub_topic", Value::Object(topics));

    fn camel(k: &str) -> String {
        let mut out = String::new();
        let mut up = false;
        for c in k.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.extend(c.to_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    fn shape(body: &hcl::Body, ctx: &Context) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        // Meta-arguments and the project (part of each name) are not API fields.
        let skip = ["project", "depends_on", "count", "for_each", "provider"];
        for a in body.attributes().filter(|a| !skip.contains(&a.key())) {
            let v = a.expr().evaluate(ctx).unwrap_or_else(|e| panic!("{}: {e}", a.key()));
            out.insert(camel(a.key()), serde_json::to_value(v).unwrap());
        }
        for b in body.blocks().filter(|b| b.identifier() != "lifecycle") {
            assert_ne!(b.identifier(), "dynamic", "dynamic blocks are not compared yet");
            out.insert(camel(b.identifier()), shape(&b.body, ctx));
        }
        serde_json::Value::Object(out)
    }
    blocks("resource")
        .into_iter()
        .filter(|r| {
            matches!(
                r.labels()[0].as_str(),
                "google_pubsub_topic" | "google_pubsub_subscription"
            )
        })
        .map(|r| {
            let kind = if r.labels()[0].as_str() == "google_pubsub_topic" {
                "topics"
            } else {
                "subscriptions"
            };
            let address = format!("{}.{}", r.labels()[0].as_str(), r.labels()[1].as_str());
            (address, kind.to_string(), shape(&r.body, &ctx))
        })
        .collect()
}

/// "Not set" in either spelling: absent, null, false, 0 or "".
fn unset(v: Option<&serde_json::Value>) -> bool {
    use serde_json::Value;
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Every difference between Terraform's value and the API's, field by field (both ways:
/// a field set in the API and absent in Terraform is a difference too).
fn differences(path: &str, tf: &serde_json::Value, api: Option<&serde_json::Value>, out: &mut Vec<String>) {
    use serde_json::Value;
    match tf {
        // A block or a map: it must be present (an empty expiration_policy, "never
        // expires", differs from none, "31 days").
        Value::Object(want) => {
            let Some(Value::Object(have)) = api else {
                out.push(format!("{path}: Terraform sets {tf}, the API has {api:?}"));
                return;
            };
            for (k, w) in want {
                differences(&format!("{path}.{k}"), w, have.get(k), out);
            }
            for (k, h) in have {
                if !want.contains_key(k) && !unset(Some(h)) && h != &Value::Object(Default::default()) {
                    out.push(format!("{path}.{k}: the API has {h}, Terraform does not set it"));
                }
            }
        }
        _ if unset(Some(tf)) => {
            if !unset(api) {
                out.push(format!("{path}: Terraform leaves it unset, the API has {api:?}"));
            }
        }
        Value::Number(n) => {
            let have = api.and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
            if have != n.as_i64() {
                out.push(format!("{path}: Terraform {n}, the API {api:?}"));
            }
        }
        _ => {
            if api != Some(tf) {
                out.push(format!("{path}: Terraform {tf}, the API {api:?}"));
            }
        }
    }
}

/// Issue 9: provision and Terraform create the same topics and subscriptions. What
/// provision created is read back from the emulator and compared with the values the
/// Terraform module would set, attribute by attribute (labels, retention, expiration,
/// retry and dead-letter policies, exactly-once delivery, ack deadlines, KMS key).
#[tokio::test]
async fn provision_and_terraform_agree_on_every_attribute_of_every_topic_and_subscription() {
    let names = fresh_names("parity");
    let gcp = Gcp::new(&gcp_args()).unwrap();
    // Not the default ack deadline: both subscriptions must follow the setting.
    assert!(
        run(bin("provision", &names).args(["--ack-deadline-secs", "45"]))
            .status
            .success()
    );
    let resources = terraform_pubsub(&gcp.project, &names, 45);
    assert_eq!(resources.len(), 5, "three topics, two subscriptions: {resources:?}");
    let host = gcp_args().pubsub_emulator_host.unwrap();
    let mut diffs = Vec::new();
    for (address, kind, mut tf) in resources {
        let name = tf["name"].as_str().unwrap().to_string();
        let full = format!("projects/{}/{kind}/{name}", gcp.project);
        tf["name"] = serde_json::Value::from(full.clone());
        let api: serde_json::Value = reqwest::get(format!("http://{host}/v1/{full}"))
            .await
            .unwrap()
            .error_for_status()
            .unwrap_or_else(|e| panic!("{address}: provision did not create {full}: {e}"))
            .json()
            .await
            .unwrap();
        differences(&address, &tf, Some(&api), &mut diffs);
    }
    assert!(
        diffs.is_empty(),
        "provision and Terraform differ:\n{}",
        diffs.join("\n")
    );
    cleanup(&gcp, &names).await;
}
