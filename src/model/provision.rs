//! `provision`: creates, idempotently, every resource of the data model in the emulators
//! or in a real project: the bucket with the seed's `datasets/` and `pipelines/` folders,
//! the dataset, every table (through the API, from `bigquery/schemas`) and view (after
//! what it reads), the orders topic, its dead-letter topic, the worker's subscription
//! with dead-letter and retry policies, a subscription that keeps dead letters, and the
//! alerts topic (`<topic>-alerts`). On Google Cloud it also grants the project's Pub/Sub
//! service agent the roles dead-letter forwarding needs (the emulator has no IAM).
//!
//! Each resource is observed first and [`Change`] says what must happen to it; a dry run
//! stops there. A second run finds everything [`Change::Unchanged`].

use std::fmt;

use std::collections::HashMap;

use google_cloud_pubsub::model::{DeadLetterPolicy, ExpirationPolicy, RetryPolicy, Subscription, Topic};
use google_cloud_wkt::{Duration as PbDuration, FieldMask};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{DataModel, TableDef, ViewDef};
use crate::platform::error::{ApiCause, Error, Result};
use crate::platform::gcp::{BigQuery, CloudStorage, Gcp, PUBSUB, PubSubAdmin};
use crate::platform::rest;
use crate::platform::settings::Names;

/// Default seconds the worker has to ack a message before Pub/Sub redelivers it. The
/// worker flushes about every second, and the client extends leases while it works.
pub const ACK_DEADLINE_SECONDS: i32 = 60;
/// Deliveries of one message before Pub/Sub moves it to the dead-letter topic.
pub const MAX_DELIVERY_ATTEMPTS: i32 = 10;
/// Redelivery backoff after a nack: from this...
pub const MIN_BACKOFF_SECONDS: i64 = 10;
/// ...up to this.
pub const MAX_BACKOFF_SECONDS: i64 = 600;
/// How long unacked messages (and dead letters) are kept: seven days, Pub/Sub's maximum.
pub const RETENTION_SECONDS: i64 = 7 * 24 * 3600;
/// The seed's folders in the bucket; each gets a zero-byte `.keep` object, which is how
/// a folder exists in Cloud Storage (and in the emulator's filesystem backend).
pub const BUCKET_FOLDERS: [&str; 2] = ["datasets/", "pipelines/"];
/// Label on each view holding a digest of its rendered SQL, so that an unchanged view is
/// recognised even where the API does not return the query.
const VIEW_DIGEST_LABEL: &str = "instashop_sql_sha256";
/// Labels on every topic and subscription: Terraform's `var.labels` default.
pub(crate) const PUBSUB_LABELS: [(&str, &str); 1] = [("app", "instashop-analytics")];
/// Label on every table and view provision creates.
const MANAGED_LABEL: (&str, &str) = ("managed_by", "instashop");

/// What provision does (or would do) to one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// It does not exist: create it.
    Create,
    /// It exists but differs in something that can be changed in place.
    Update(String),
    /// It exists as defined.
    Unchanged,
}

/// One resource and its change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// bucket, object, dataset, table, view, topic, subscription.
    pub kind: &'static str,
    /// Its full name.
    pub name: String,
    /// What happens to it.
    pub change: Change,
}

/// The outcome of a run: every resource, in the order handled.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each resource.
    pub steps: Vec<Step>,
    /// True when nothing was changed on purpose.
    pub dry_run: bool,
}

impl Report {
    /// Resources created or updated (or that would be, in a dry run).
    pub fn changes(&self) -> usize {
        self.steps.iter().filter(|s| s.change != Change::Unchanged).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (create, update) = if self.dry_run {
            ("would create", "would update")
        } else {
            ("created", "updated")
        };
        for s in &self.steps {
            match &s.change {
                Change::Create => writeln!(f, "{create:<13} {:<13} {}", s.kind, s.name)?,
                Change::Update(why) => writeln!(f, "{update:<13} {:<13} {} ({why})", s.kind, s.name)?,
                Change::Unchanged => writeln!(f, "{:<13} {:<13} {}", "unchanged", s.kind, s.name)?,
            }
        }
        let n = self.changes();
        match (n, self.dry_run) {
            (0, _) => write!(
                f,
                "nothing to change: all {} resources match bigquery/ and the settings",
                self.steps.len()
            ),
            (n, true) => write!(
                f,
                "dry run: {n} of {} resources would change; nothing was changed",
                self.steps.len()
            ),
            (n, false) => write!(f, "{n} of {} resources changed", self.steps.len()),
        }
    }
}

/// What provision needs besides the clients.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resource names.
    pub names: Names,
    /// Location of the dataset and bucket (e.g. `US`, `EU`, `southamerica-west1`).
    pub location: String,
    /// Seconds the worker has to ack a message before Pub/Sub redelivers it.
    pub ack_deadline_secs: i32,
    /// The shop's reporting time zone, put into the views (`${time_zone}`).
    pub time_zone: crate::platform::settings::TimeZone,
    /// Observe and report only.
    pub dry_run: bool,
}

/// Provisions everything; see the module doc.
pub async fn run(gcp: &Gcp, model: &DataModel, opts: &Options) -> Result<Report> {
    opts.names.validate()?;
    if !(10..=600).contains(&opts.ack_deadline_secs) {
        return Err(Error::Setting {
            name: "--ack-deadline-secs",
            value: opts.ack_deadline_secs.to_string(),
            reason: "Pub/Sub accepts 10 to 600 seconds".into(),
        });
    }
    let (storage, bigquery, pubsub) = tokio::try_join!(gcp.storage(), gcp.bigquery(), gcp.pubsub_admin())?;
    let p = Provisioner {
        gcp,
        opts,
        report: Report {
            steps: Vec::new(),
            dry_run: opts.dry_run,
        },
    };
    p.all(model, &storage, &bigquery, &pubsub).await
}

struct Provisioner<'a> {
    gcp: &'a Gcp,
    opts: &'a Options,
    report: Report,
}

impl Provisioner<'_> {
    fn record(&mut self, kind: &'static str, name: String, change: &Change) -> bool {
        tracing::debug!(kind, name = %name, change = ?change, "observed");
        self.report.steps.push(Step {
            kind,
            name,
            change: change.clone(),
        });
        *change != Change::Unchanged && !self.opts.dry_run
    }

    async fn all(mut self, model: &DataModel, gcs: &CloudStorage, bq: &BigQuery, ps: &PubSubAdmin) -> Result<Report> {
        self.bucket(gcs).await?;
        self.dataset(bq).await?;
        for t in &model.tables {
            self.table(bq, t).await?;
        }
        for v in &model.views {
            self.view(bq, v).await?;
        }
        self.pubsub(ps).await?;
        self.service_agent_grants(ps).await?;
        Ok(self.report)
    }

    /// Grants the project's Pub/Sub service agent what forwarding to the dead-letter
    /// topic needs, as Terraform does: `roles/pubsub.publisher` on the dead-letter topic
    /// and `roles/pubsub.subscriber` on the worker's subscription (without them Pub/Sub
    /// keeps redelivering what it should move). Each policy is read, and written back
    /// (with its etag) only when the binding is missing. If the caller may not set IAM
    /// policies, the error names the exact commands to run. The Pub/Sub emulator has no
    /// IAM (`getIamPolicy` answers 404), so there this step is skipped.
    async fn service_agent_grants(&mut self, ps: &PubSubAdmin) -> Result<()> {
        if self.gcp.endpoints.pubsub.is_emulator() {
            tracing::debug!(message = "the Pub/Sub emulator has no IAM: the service agent's grants are skipped");
            return Ok(());
        }
        let agent = pubsub_service_agent(&self.gcp.project_number().await?);
        let grants = dead_letter_grants(&self.gcp.project, &self.opts.names);
        for (resource, role) in &grants {
            let policy = ps
                .iam
                .get_iam_policy()
                .set_resource(resource)
                .send()
                .await
                .map_err(|e| Error::api(PUBSUB, "get IAM policy", resource, e))?;
            let wanted = with_member(&policy, role, &agent);
            let change = if wanted.is_some() {
                Change::Create
            } else {
                Change::Unchanged
            };
            if self.record("grant", format!("{role} on {resource} to {agent}"), &change)
                && let Some(policy) = wanted
            {
                let set = ps
                    .iam
                    .set_iam_policy()
                    .set_resource(resource)
                    .set_policy(policy)
                    .send()
                    .await;
                if let Err(e) = set {
                    let status = ApiCause::status(&e);
                    if matches!(
                        status,
                        crate::platform::error::Status::Http(403)
                            | crate::platform::error::Status::Grpc(tonic::Code::PermissionDenied)
                    ) {
                        return Err(Error::remote(
                            PUBSUB,
                            "set IAM policy",
                            resource,
                            status,
                            format!(
                                "you may not grant roles on it; have someone who may (roles/pubsub.admin) run:\n{}",
                                grant_commands(&self.gcp.project, &grants, &agent)
                            ),
                        ));
                    }
                    return Err(Error::api(PUBSUB, "set IAM policy", resource, e));
                }
            }
        }
        Ok(())
    }

    async fn bucket(&mut self, gcs: &CloudStorage) -> Result<()> {
        let b = &self.opts.names.bucket;
        let have = gcs.rest.get("get bucket", &format!("/b/{b}")).await?;
        let exists = have.is_some();
        // Emulator workaround: fake-gcs-server reports every bucket in US-CENTRAL1,
        // whatever it was created with, so only a real bucket's location is compared.
        if let Some(have) = have.filter(|_| !self.gcp.endpoints.storage.is_emulator()) {
            same_location(&format!("gs://{b}"), &have, &self.opts.location, "--bucket")?;
        }
        let change = if exists { Change::Unchanged } else { Change::Create };
        if self.record("bucket", format!("gs://{b}"), &change) {
            let body = json!({
                "name": b,
                "location": self.opts.location,
                "iamConfiguration": {
                    "uniformBucketLevelAccess": {"enabled": true},
                    "publicAccessPrevention": "enforced",
                },
            });
            gcs.rest
                .post("create bucket", &format!("/b?project={}", self.gcp.project), &body)
                .await?;
        }
        for folder in BUCKET_FOLDERS {
            let object = format!("{folder}.keep");
            let exists = exists
                && gcs
                    .rest
                    .get("get object", &rest::object_path(b, &object))
                    .await?
                    .is_some();
            let change = if exists { Change::Unchanged } else { Change::Create };
            if self.record("folder", format!("gs://{b}/{folder}"), &change) {
                gcs.write(b, &object, bytes::Bytes::new(), false).await?;
            }
        }
        Ok(())
    }

    async fn dataset(&mut self, bq: &BigQuery) -> Result<()> {
        let (p, d) = (&self.gcp.project, &self.opts.names.dataset);
        let have = bq
            .rest
            .get("get dataset", &format!("/projects/{p}/datasets/{d}"))
            .await?;
        if let Some(have) = &have {
            same_location(&format!("{p}.{d}"), have, &self.opts.location, "--dataset")?;
        }
        let exists = have.is_some();
        let change = if exists { Change::Unchanged } else { Change::Create };
        if self.record("dataset", format!("{p}.{d}"), &change) {
            let body = json!({
                "datasetReference": {"projectId": p, "datasetId": d},
                "location": self.opts.location,
                "description": "InstaShop Analytics: batch and streaming e-commerce sales, and the views the dashboards read.",
                "labels": {MANAGED_LABEL.0: MANAGED_LABEL.1},
            });
            bq.rest
                .post("create dataset", &format!("/projects/{p}/datasets"), &body)
                .await?;
        }
        Ok(())
    }

    async fn table(&mut self, bq: &BigQuery, t: &TableDef) -> Result<()> {
        let (p, d) = (&self.gcp.project, &self.opts.names.dataset);
        let path = format!("/projects/{p}/datasets/{d}/tables/{}", t.name);
        let want = table_resource(p, d, t);
        let change = match bq.rest.get("get table", &path).await? {
            None => Change::Create,
            Some(mut have) => {
                // Emulator workaround (ARCHITECTURE.md): bqemulator drops
                // requirePartitionFilter from its table resources, so it cannot be compared.
                if self.gcp.endpoints.bigquery.is_emulator() {
                    have["requirePartitionFilter"] = t.options.require_partition_filter.into();
                }
                table_change(&format!("{p}.{d}.{}", t.name), t, &have)?
            }
        };
        if self.record("table", format!("{p}.{d}.{}", t.name), &change) {
            match change {
                Change::Create => {
                    bq.rest
                        .post("create table", &format!("/projects/{p}/datasets/{d}/tables"), &want)
                        .await?;
                }
                _ => {
                    let patch = json!({"schema": want["schema"], "description": want["description"],
                        "requirePartitionFilter": t.options.require_partition_filter});
                    bq.rest.patch("update table", &path, &patch).await?;
                }
            }
        }
        Ok(())
    }

    async fn view(&mut self, bq: &BigQuery, v: &ViewDef) -> Result<()> {
        let (p, d) = (&self.gcp.project, &self.opts.names.dataset);
        let path = format!("/projects/{p}/datasets/{d}/tables/{}", v.name);
        let vars = crate::model::ViewVars::in_zone(self.opts.time_zone.clone());
        let sql = crate::model::render_with(&v.template, p, d, &vars);
        let digest = sql_digest(&sql);
        let change = match bq.rest.get("get view", &path).await? {
            None => Change::Create,
            Some(have) if have["type"] != "VIEW" => {
                return Err(Error::Drift {
                    resource: format!("{p}.{d}.{}", v.name),
                    detail: "it is a table, not a view: drop it so the view can be created".into(),
                });
            }
            Some(have) if have["labels"][VIEW_DIGEST_LABEL] == digest.as_str() => Change::Unchanged,
            Some(_) => Change::Update(format!("query differs from {}", v.file.display())),
        };
        if self.record("view", format!("{p}.{d}.{}", v.name), &change) {
            let body = json!({
                "tableReference": {"projectId": p, "datasetId": d, "tableId": v.name},
                "description": v.description,
                "labels": {MANAGED_LABEL.0: MANAGED_LABEL.1, VIEW_DIGEST_LABEL: digest},
                "view": {"query": sql, "useLegacySql": false},
            });
            match change {
                Change::Create => {
                    bq.rest
                        .post("create view", &format!("/projects/{p}/datasets/{d}/tables"), &body)
                        .await?
                }
                _ => bq.rest.patch("update view", &path, &body).await?,
            };
        }
        Ok(())
    }

    async fn pubsub(&mut self, ps: &PubSubAdmin) -> Result<()> {
        let n = &self.opts.names;
        let project = &self.gcp.project;
        let topic = format!("projects/{project}/topics/{}", n.topic);
        let dl_topic = format!("projects/{project}/topics/{}", n.dead_letter_topic());
        let alerts_topic = format!("projects/{project}/topics/{}", n.alerts_topic());
        for t in [&dl_topic, &topic, &alerts_topic] {
            self.topic(ps, t).await?;
        }
        let worker = Subscription::new()
            .set_name(format!("projects/{project}/subscriptions/{}", n.subscription))
            .set_topic(topic.clone())
            .set_ack_deadline_seconds(self.opts.ack_deadline_secs)
            .set_message_retention_duration(PbDuration::clamp(RETENTION_SECONDS, 0))
            .set_labels(pubsub_labels())
            .set_expiration_policy(never_expires())
            .set_dead_letter_policy(
                DeadLetterPolicy::new()
                    .set_dead_letter_topic(dl_topic.clone())
                    .set_max_delivery_attempts(MAX_DELIVERY_ATTEMPTS),
            )
            .set_retry_policy(
                RetryPolicy::new()
                    .set_minimum_backoff(PbDuration::clamp(MIN_BACKOFF_SECONDS, 0))
                    .set_maximum_backoff(PbDuration::clamp(MAX_BACKOFF_SECONDS, 0)),
            );
        self.subscription(ps, worker).await?;
        let keep = Subscription::new()
            .set_name(format!(
                "projects/{project}/subscriptions/{}",
                n.dead_letter_subscription()
            ))
            .set_topic(dl_topic)
            .set_ack_deadline_seconds(self.opts.ack_deadline_secs)
            .set_message_retention_duration(PbDuration::clamp(RETENTION_SECONDS, 0))
            .set_labels(pubsub_labels())
            .set_expiration_policy(never_expires());
        self.subscription(ps, keep).await
    }

    async fn topic(&mut self, ps: &PubSubAdmin, name: &str) -> Result<()> {
        let want = Topic::new()
            .set_name(name)
            .set_message_retention_duration(PbDuration::clamp(RETENTION_SECONDS, 0))
            .set_labels(pubsub_labels());
        let change = match ps.topics.get_topic().set_topic(name).send().await {
            Ok(have) => topic_change(&want, &have),
            Err(e) if is_not_found(&e) => Change::Create,
            Err(e) => return Err(Error::api(PUBSUB, "get topic", name, e)),
        };
        if self.record("topic", name.to_string(), &change) {
            if change == Change::Create {
                ps.topics
                    .create_topic()
                    .with_request(want)
                    .send()
                    .await
                    .map_err(|e| Error::api(PUBSUB, "create topic", name, e))?;
            } else {
                ps.topics
                    .update_topic()
                    .set_topic(want)
                    .set_update_mask(FieldMask::default().set_paths(["message_retention_duration", "labels"]))
                    .send()
                    .await
                    .map_err(|e| Error::api(PUBSUB, "update topic", name, e))?;
            }
        }
        Ok(())
    }

    async fn subscription(&mut self, ps: &PubSubAdmin, want: Subscription) -> Result<()> {
        let name = want.name.clone();
        let change = match ps.subscriptions.get_subscription().set_subscription(&name).send().await {
            Ok(have) => subscription_change(&name, &want, &have)?,
            Err(e) if is_not_found(&e) => Change::Create,
            Err(e) => return Err(Error::api(PUBSUB, "get subscription", &name, e)),
        };
        if self.record("subscription", name.clone(), &change) {
            if change == Change::Create {
                ps.subscriptions
                    .create_subscription()
                    .with_request(want)
                    .send()
                    .await
                    .map_err(|e| Error::api(PUBSUB, "create subscription", &name, e))?;
            } else {
                let mask = FieldMask::default().set_paths([
                    "ack_deadline_seconds",
                    "message_retention_duration",
                    "labels",
                    "expiration_policy",
                    "dead_letter_policy",
                    "retry_policy",
                ]);
                ps.subscriptions
                    .update_subscription()
                    .set_subscription(want)
                    .set_update_mask(mask)
                    .send()
                    .await
                    .map_err(|e| Error::api(PUBSUB, "update subscription", &name, e))?;
            }
        }
        Ok(())
    }
}

/// A bucket or dataset cannot move: one found in another location than `--location` is
/// drift, not "unchanged" (locations compare without case: `US` is `us`).
fn same_location(resource: &str, have: &Value, want: &str, rename: &str) -> Result<()> {
    let found = have["location"].as_str().unwrap_or_default();
    if found.eq_ignore_ascii_case(want) {
        return Ok(());
    }
    Err(Error::Drift {
        resource: resource.to_string(),
        detail: format!(
            "it is in {found}, not in --location {want}, and cannot be moved: pass --location {found}, or choose another {rename}"
        ),
    })
}

/// [`PUBSUB_LABELS`] as the API takes them.
fn pubsub_labels() -> HashMap<String, String> {
    PUBSUB_LABELS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An expiration policy without a TTL: the subscription never expires, however long the
/// worker is stopped (without one, Pub/Sub deletes a subscription idle for 31 days).
fn never_expires() -> ExpirationPolicy {
    ExpirationPolicy::new()
}

fn retention_seconds(d: &Option<PbDuration>) -> Option<i64> {
    d.as_ref().map(PbDuration::seconds)
}

/// Compares an existing topic with the wanted one (retention and labels can be updated).
fn topic_change(want: &Topic, have: &Topic) -> Change {
    let mut diffs = Vec::new();
    if retention_seconds(&have.message_retention_duration) != retention_seconds(&want.message_retention_duration) {
        diffs.push("message retention");
    }
    if have.labels != want.labels {
        diffs.push("labels");
    }
    if diffs.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(diffs.join(", "))
    }
}

/// A project's Pub/Sub service agent, as an IAM member.
pub fn pubsub_service_agent(project_number: &str) -> String {
    format!("serviceAccount:service-{project_number}@gcp-sa-pubsub.iam.gserviceaccount.com")
}

/// What Pub/Sub's service agent needs for dead-letter forwarding: (resource, role).
pub(crate) fn dead_letter_grants(project: &str, names: &Names) -> [(String, &'static str); 2] {
    [
        (
            format!("projects/{project}/topics/{}", names.dead_letter_topic()),
            "roles/pubsub.publisher",
        ),
        (
            format!("projects/{project}/subscriptions/{}", names.subscription),
            "roles/pubsub.subscriber",
        ),
    ]
}

/// `policy` with `member` in `role`'s unconditional binding (a binding added if there is
/// none), everything else and the etag kept; `None` when it is there already.
pub(crate) fn with_member(
    policy: &google_cloud_iam_v1::model::Policy,
    role: &str,
    member: &str,
) -> Option<google_cloud_iam_v1::model::Policy> {
    let unconditional = |b: &google_cloud_iam_v1::model::Binding| b.role == role && b.condition.is_none();
    if policy
        .bindings
        .iter()
        .any(|b| unconditional(b) && b.members.iter().any(|m| m == member))
    {
        return None;
    }
    let mut out = policy.clone();
    match out.bindings.iter_mut().find(|b| unconditional(b)) {
        Some(b) => b.members.push(member.to_string()),
        None => out.bindings.push(
            google_cloud_iam_v1::model::Binding::new()
                .set_role(role)
                .set_members([member]),
        ),
    }
    Some(out)
}

/// The `gcloud` commands that make `grants` to `agent`, one per line.
pub(crate) fn grant_commands(project: &str, grants: &[(String, &'static str)], agent: &str) -> String {
    grants
        .iter()
        .map(|(resource, role)| {
            let (kind, name) = match resource.split('/').collect::<Vec<_>>()[..] {
                [_, _, "topics", name] => ("topics", name),
                [_, _, _, name] => ("subscriptions", name),
                _ => ("topics", resource.as_str()),
            };
            format!("  gcloud pubsub {kind} add-iam-policy-binding {name} --project={project} --member={agent} --role={role}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_not_found(e: &google_cloud_pubsub::Error) -> bool {
    ApiCause::status(e).is_not_found()
}

/// A short, stable digest of a view's SQL, fit for a label value.
fn sql_digest(sql: &str) -> String {
    let d = Sha256::digest(sql.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The `tables.insert` body for a table of the model.
pub(crate) fn table_resource(project: &str, dataset: &str, t: &TableDef) -> Value {
    let mut v = json!({
        "tableReference": {"projectId": project, "datasetId": dataset, "tableId": t.name},
        "description": t.options.description,
        "labels": {MANAGED_LABEL.0: MANAGED_LABEL.1},
        "schema": {"fields": t.columns},
    });
    if let Some(p) = &t.options.time_partitioning {
        v["timePartitioning"] = json!({"type": p.r#type, "field": p.field});
    }
    if !t.options.clustering.is_empty() {
        v["clustering"] = json!({"fields": t.options.clustering});
    }
    if t.options.require_partition_filter {
        v["requirePartitionFilter"] = true.into();
    }
    v
}

/// BigQuery reports some types under their legacy names.
fn canonical_type(t: &str) -> &str {
    match t {
        "INTEGER" => "INT64",
        "BOOLEAN" => "BOOL",
        "FLOAT" => "FLOAT64",
        "RECORD" => "STRUCT",
        other => other,
    }
}

/// Compares an existing table with its definition. New NULLABLE columns at the end and
/// new descriptions are updated in place (BigQuery allows it); anything else is drift.
pub(crate) fn table_change(resource: &str, t: &TableDef, have: &Value) -> Result<Change> {
    let drift = |detail: String| {
        Err(Error::Drift {
            resource: resource.to_string(),
            detail,
        })
    };
    let fields = have["schema"]["fields"].as_array().cloned().unwrap_or_default();
    if fields.len() > t.columns.len() {
        return drift(format!(
            "it has {} columns, {} declares {}: drop the extra columns or the table",
            fields.len(),
            t.file.display(),
            t.columns.len()
        ));
    }
    let mut updates = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        let Some(f) = fields.get(i) else {
            if c.mode != "NULLABLE" {
                return drift(format!(
                    "column {} is missing and is {}: only NULLABLE columns can be added to an existing table",
                    c.name, c.mode
                ));
            }
            updates.push(format!("add column {}", c.name));
            continue;
        };
        let name = f["name"].as_str().unwrap_or_default();
        let ty = canonical_type(f["type"].as_str().unwrap_or_default());
        let mode = f["mode"].as_str().unwrap_or("NULLABLE");
        if name != c.name || ty != canonical_type(&c.r#type) || mode != c.mode {
            return drift(format!(
                "column {} is {name} {ty} {mode}, {} declares {} {} {}: recreate the table or migrate it",
                i + 1,
                t.file.display(),
                c.name,
                c.r#type,
                c.mode
            ));
        }
        if f["description"].as_str().unwrap_or_default() != c.description {
            updates.push(format!("description of {}", c.name));
        }
    }
    let have_part = &have["timePartitioning"];
    let want_part = t.options.time_partitioning.as_ref();
    let part_same = match want_part {
        None => have_part.is_null(),
        Some(p) => have_part["type"] == p.r#type.as_str() && have_part["field"] == p.field.as_str(),
    };
    if !part_same {
        return drift("its partitioning differs from bigquery/tables.json, which BigQuery cannot change in place: recreate the table".into());
    }
    let have_clust: Vec<&str> = have["clustering"]["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if have_clust != t.options.clustering.iter().map(String::as_str).collect::<Vec<_>>() {
        return drift("its clustering differs from bigquery/tables.json: recreate the table".into());
    }
    if have["description"].as_str().unwrap_or_default() != t.options.description {
        updates.push("table description".into());
    }
    if have["requirePartitionFilter"].as_bool().unwrap_or(false) != t.options.require_partition_filter {
        updates.push("require partition filter".into());
    }
    Ok(if updates.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(updates.join(", "))
    })
}

/// Compares an existing subscription with the wanted one.
fn subscription_change(name: &str, want: &Subscription, have: &Subscription) -> Result<Change> {
    if have.topic != want.topic {
        return Err(Error::Drift {
            resource: name.to_string(),
            detail: format!(
                "it reads {}, not {}: delete it or choose another --subscription",
                have.topic, want.topic
            ),
        });
    }
    let mut diffs = Vec::new();
    if have.ack_deadline_seconds != want.ack_deadline_seconds {
        diffs.push("ack deadline");
    }
    if retention_seconds(&have.message_retention_duration) != retention_seconds(&want.message_retention_duration) {
        diffs.push("message retention");
    }
    if have.labels != want.labels {
        diffs.push("labels");
    }
    // No policy at all means Pub/Sub's default TTL (31 days), not "never".
    let ttl = |s: &Subscription| {
        s.expiration_policy
            .as_ref()
            .map(|p| p.ttl.as_ref().map(PbDuration::seconds))
    };
    if ttl(have) != ttl(want) {
        diffs.push("expiration policy");
    }
    let dl = |s: &Subscription| {
        s.dead_letter_policy
            .as_ref()
            .map(|p| (p.dead_letter_topic.clone(), p.max_delivery_attempts))
    };
    if dl(have) != dl(want) {
        diffs.push("dead-letter policy");
    }
    let rp = |s: &Subscription| {
        s.retry_policy.as_ref().map(|p| {
            (
                p.minimum_backoff.as_ref().map(PbDuration::seconds),
                p.maximum_backoff.as_ref().map(PbDuration::seconds),
            )
        })
    };
    if rp(have) != rp(want) {
        diffs.push("retry policy");
    }
    Ok(if diffs.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(diffs.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn model() -> DataModel {
        DataModel::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap()
    }

    #[test]
    fn a_location_other_than_the_settings_is_drift_that_names_both() {
        assert!(same_location("p.d", &json!({"location": "US"}), "us", "--dataset").is_ok());
        let err = same_location("p.d", &json!({"location": "EU"}), "US", "--dataset")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.d") && err.contains("in EU, not in --location US"),
            "{err}"
        );
        assert!(err.contains("choose another --dataset"), "{err}");
    }

    #[test]
    fn pubsub_attributes_that_differ_are_named() {
        let want = Topic::new()
            .set_message_retention_duration(PbDuration::clamp(RETENTION_SECONDS, 0))
            .set_labels(pubsub_labels());
        assert_eq!(topic_change(&want, &want.clone()), Change::Unchanged);
        assert_eq!(
            topic_change(&want, &Topic::new()),
            Change::Update("message retention, labels".into())
        );
        let sub = Subscription::new()
            .set_topic("t")
            .set_labels(pubsub_labels())
            .set_expiration_policy(never_expires());
        assert_eq!(subscription_change("s", &sub, &sub.clone()).unwrap(), Change::Unchanged);
        // No policy is Pub/Sub's 31-day default, and a TTL is not "never".
        let default_ttl = sub.clone().set_or_clear_expiration_policy(None::<ExpirationPolicy>);
        let month = sub
            .clone()
            .set_expiration_policy(ExpirationPolicy::new().set_ttl(PbDuration::clamp(2_678_400, 0)));
        for have in [default_ttl, month] {
            assert_eq!(
                subscription_change("s", &sub, &have).unwrap(),
                Change::Update("expiration policy".into())
            );
        }
    }

    #[test]
    fn a_table_as_bigquery_reports_it_is_unchanged() {
        let m = model();
        let t = m.table("fact_sales_streaming").unwrap();
        let mut have = table_resource("p", "d", t);
        // BigQuery answers with legacy type names and omits nothing we compare.
        for f in have["schema"]["fields"].as_array_mut().unwrap() {
            if f["type"] == "INT64" {
                f["type"] = json!("INTEGER");
            }
        }
        assert_eq!(table_change("x", t, &have).unwrap(), Change::Unchanged);
    }

    #[test]
    fn a_new_nullable_column_is_an_update_and_a_changed_type_is_drift() {
        let m = model();
        let t = m.table("customers").unwrap();
        let mut have = table_resource("p", "d", t);
        have["schema"]["fields"].as_array_mut().unwrap().pop(); // plan, NULLABLE
        assert_eq!(
            table_change("x", t, &have).unwrap(),
            Change::Update("add column plan".into())
        );

        let mut have = table_resource("p", "d", t);
        have["schema"]["fields"][3]["type"] = json!("STRING");
        let err = table_change("x", t, &have).unwrap_err().to_string();
        assert!(err.contains("signup_date") && err.contains("customers.json"), "{err}");

        let t = m.table("orders").unwrap();
        let mut have = table_resource("p", "d", t);
        have["schema"]["fields"].as_array_mut().unwrap().truncate(2); // order_date is REQUIRED
        assert!(
            table_change("x", t, &have)
                .unwrap_err()
                .to_string()
                .contains("only NULLABLE")
        );
    }

    #[test]
    fn changed_partitioning_or_clustering_is_drift() {
        let m = model();
        let t = m.table("fact_sales_streaming").unwrap();
        let mut have = table_resource("p", "d", t);
        have["timePartitioning"]["field"] = json!("ingest_ts");
        assert!(
            table_change("x", t, &have)
                .unwrap_err()
                .to_string()
                .contains("partitioning")
        );
        let mut have = table_resource("p", "d", t);
        have["clustering"] = json!({"fields": ["order_id"]});
        assert!(
            table_change("x", t, &have)
                .unwrap_err()
                .to_string()
                .contains("clustering")
        );
    }

    #[test]
    fn subscription_differences_are_named() {
        let want = Subscription::new()
            .set_topic("projects/p/topics/t")
            .set_ack_deadline_seconds(60)
            .set_dead_letter_policy(
                DeadLetterPolicy::new()
                    .set_dead_letter_topic("projects/p/topics/dl")
                    .set_max_delivery_attempts(10),
            );
        assert_eq!(
            subscription_change("s", &want, &want.clone()).unwrap(),
            Change::Unchanged
        );
        let have = want
            .clone()
            .set_ack_deadline_seconds(10)
            .set_or_clear_dead_letter_policy(None::<DeadLetterPolicy>);
        assert_eq!(
            subscription_change("s", &want, &have).unwrap(),
            Change::Update("ack deadline, dead-letter policy".into())
        );
        let other = want.clone().set_topic("projects/p/topics/other");
        assert!(subscription_change("s", &want, &other).is_err());
    }

    #[test]
    fn view_digests_are_label_safe() {
        let d = sql_digest("SELECT 1");
        assert_eq!(d.len(), 32);
        assert!(d.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(d, sql_digest("SELECT 2"));
    }

    #[test]
    fn the_report_says_when_nothing_changes() {
        let r = Report {
            steps: vec![Step {
                kind: "table",
                name: "p.d.t".into(),
                change: Change::Unchanged,
            }],
            dry_run: false,
        };
        assert!(
            r.to_string()
                .ends_with("nothing to change: all 1 resources match bigquery/ and the settings")
        );
        let r = Report {
            steps: vec![Step {
                kind: "table",
                name: "p.d.t".into(),
                change: Change::Create,
            }],
            dry_run: true,
        };
        assert!(r.to_string().contains("would create") && r.to_string().contains("nothing was changed"));
    }

    #[test]
    fn the_service_agent_is_added_once_and_everything_else_is_kept() {
        use google_cloud_iam_v1::model::{Binding, Policy};
        let agent = pubsub_service_agent("415104041262");
        assert_eq!(
            agent,
            "serviceAccount:service-415104041262@gcp-sa-pubsub.iam.gserviceaccount.com"
        );
        let other = Binding::new()
            .set_role("roles/pubsub.viewer")
            .set_members(["user:a@example.com"]);
        let policy = Policy::new()
            .set_etag(bytes::Bytes::from_static(b"BwX1"))
            .set_bindings([other.clone()]);
        let added = with_member(&policy, "roles/pubsub.publisher", &agent).expect("missing, so added");
        assert_eq!(added.etag, policy.etag, "the etag guards the write");
        assert_eq!(added.bindings.len(), 2);
        assert_eq!(added.bindings[0], other);
        assert_eq!(
            (added.bindings[1].role.as_str(), added.bindings[1].members.clone()),
            ("roles/pubsub.publisher", vec![agent.clone()])
        );
        assert_eq!(
            with_member(&added, "roles/pubsub.publisher", &agent),
            None,
            "a second run changes nothing"
        );
        // Into the role's existing binding; a conditional binding of the role is not it.
        let conditional = Binding::new()
            .set_role("roles/pubsub.publisher")
            .set_members([agent.clone()])
            .set_condition(
                google_cloud_type::model::Expr::new()
                    .set_expression("request.time < timestamp('2027-01-01T00:00:00Z')"),
            );
        let existing = Binding::new()
            .set_role("roles/pubsub.publisher")
            .set_members(["group:ops@example.com"]);
        let policy = Policy::new().set_bindings([conditional.clone(), existing]);
        let added = with_member(&policy, "roles/pubsub.publisher", &agent).expect("only under a condition");
        assert_eq!(added.bindings[0], conditional);
        assert_eq!(
            added.bindings[1].members,
            vec!["group:ops@example.com".to_string(), agent]
        );
    }

    #[test]
    fn who_may_not_grant_is_told_the_exact_commands() {
        let names = Names {
            dataset: "instashop".into(),
            bucket: "b".into(),
            topic: "orders".into(),
            subscription: "orders-worker".into(),
        };
        let grants = dead_letter_grants("shop-prod", &names);
        let agent = pubsub_service_agent("42");
        assert_eq!(
            grant_commands("shop-prod", &grants, &agent),
            "  gcloud pubsub topics add-iam-policy-binding orders-dead-letter --project=shop-prod \
             --member=serviceAccount:service-42@gcp-sa-pubsub.iam.gserviceaccount.com --role=roles/pubsub.publisher\n  \
             gcloud pubsub subscriptions add-iam-policy-binding orders-worker --project=shop-prod \
             --member=serviceAccount:service-42@gcp-sa-pubsub.iam.gserviceaccount.com --role=roles/pubsub.subscriber"
        );
    }
}
