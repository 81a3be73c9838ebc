//! Settings shared by every binary, each read from a flag or an environment variable,
//! declared once here: the project, the emulator switches (`*_EMULATOR_HOST`, Google's
//! convention) and the names of the resources of the data model.
//!
//! [`Endpoints::resolve`] is the only place that decides between an emulator and Google
//! Cloud; the rest of the code asks it and never branches on "emulator" itself.

use crate::platform::error::{Error, Result};

/// The seed's project, used when `--project` / `GOOGLE_CLOUD_PROJECT` is not given.
pub(crate) const DEFAULT_PROJECT: &str = "data-ecommerce-demo";
/// The seed's dataset.
pub const DEFAULT_DATASET: &str = "data_ecommerce_demo";
/// The seed's bucket.
pub const DEFAULT_BUCKET: &str = "ecommerce-demo-bucket";
/// Location of the dataset and bucket.
pub const DEFAULT_LOCATION: &str = "US";
/// The Pub/Sub topic the publisher writes order events to.
pub const DEFAULT_TOPIC: &str = "orders";
/// The stream worker's subscription on [`DEFAULT_TOPIC`].
pub const DEFAULT_SUBSCRIPTION: &str = "orders-stream-worker";
/// Appended to the topic's name to name the alerts topic (`orders-alerts`).
pub const ALERTS_SUFFIX: &str = "-alerts";
/// Appended to the topic's name to name its dead-letter topic (`orders-dead-letter`).
pub const DEAD_LETTER_SUFFIX: &str = "-dead-letter";
/// Appended to the dead-letter topic's name to name the subscription that keeps dead
/// letters (`orders-dead-letter-keep`); without one, Pub/Sub drops them.
pub const KEEP_SUFFIX: &str = "-keep";

/// Where the clients go: the project, and for each service an emulator or Google Cloud.
/// Binaries build it from the flag groups below, each declaring only what it uses.
#[derive(Debug, Clone, Default)]
pub struct GcpArgs {
    /// Google Cloud project that owns every resource.
    pub project: String,
    /// Pub/Sub emulator as host:port; unset, Google Cloud.
    pub pubsub_emulator_host: Option<String>,
    /// BigQuery emulator's REST API as host:port; unset, Google Cloud.
    pub bigquery_emulator_host: Option<String>,
    /// BigQuery emulator's Storage Write gRPC API as host:port.
    pub bigquery_storage_emulator_host: Option<String>,
    /// Cloud Storage emulator as http://host:port; unset, Google Cloud.
    pub storage_emulator_host: Option<String>,
}

/// `--project`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProjectArg {
    /// Google Cloud project that owns every resource.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT", default_value = DEFAULT_PROJECT)]
    pub project: String,
}

/// `--pubsub-emulator-host`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PubSubEmulatorArg {
    /// Pub/Sub emulator as host:port; unset, Pub/Sub is Google Cloud's (Application Default Credentials).
    #[arg(long, env = "PUBSUB_EMULATOR_HOST", hide_env_values = true)]
    pub pubsub_emulator_host: Option<String>,
}

/// `--bigquery-emulator-host` and `--bigquery-storage-emulator-host`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BigQueryEmulatorArgs {
    /// BigQuery emulator's REST API as host:port; unset, BigQuery is Google Cloud's.
    #[arg(long, env = "BIGQUERY_EMULATOR_HOST", hide_env_values = true)]
    pub bigquery_emulator_host: Option<String>,

    /// BigQuery emulator's Storage Read/Write gRPC API as host:port (set with --bigquery-emulator-host).
    #[arg(long, env = "BIGQUERY_STORAGE_EMULATOR_HOST", hide_env_values = true)]
    pub bigquery_storage_emulator_host: Option<String>,
}

/// `--storage-emulator-host`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StorageEmulatorArg {
    /// Cloud Storage emulator as http://host:port; unset, Cloud Storage is Google Cloud's.
    #[arg(long, env = "STORAGE_EMULATOR_HOST", hide_env_values = true)]
    pub storage_emulator_host: Option<String>,
}

impl GcpArgs {
    /// The settings of a binary that uses the services given (the others stay Google
    /// Cloud's and are never contacted).
    pub fn from_flags(
        project: &ProjectArg,
        pubsub: Option<&PubSubEmulatorArg>,
        bigquery: Option<&BigQueryEmulatorArgs>,
        storage: Option<&StorageEmulatorArg>,
    ) -> Self {
        GcpArgs {
            project: project.project.clone(),
            pubsub_emulator_host: pubsub.and_then(|p| p.pubsub_emulator_host.clone()),
            bigquery_emulator_host: bigquery.and_then(|b| b.bigquery_emulator_host.clone()),
            bigquery_storage_emulator_host: bigquery.and_then(|b| b.bigquery_storage_emulator_host.clone()),
            storage_emulator_host: storage.and_then(|s| s.storage_emulator_host.clone()),
        }
    }
}

/// The shop's reporting time zone when none is given: days are UTC days.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// The reporting time zone: an IANA name (`America/Santiago`), checked against the IANA
/// database that chrono-tz compiles in. Its days are the shop's calendar days: a batch
/// `order_date` is a day in it, and a live sale's `sale_date` is its time's day there.
/// The views get it as the `${time_zone}` template variable, and it reaches SQL only
/// once checked, so it cannot carry a quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    name: String,
    tz: chrono_tz::Tz,
}

impl TimeZone {
    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone, for computing local days.
    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        DEFAULT_TIME_ZONE.parse().expect("UTC is an IANA zone")
    }
}

impl std::fmt::Display for TimeZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for TimeZone {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(TimeZone {
                name: tz.name().to_string(),
                tz,
            }),
            Err(_) => Err(format!(
                "{s:?} is not a time zone: use an IANA name such as UTC, America/Santiago or Europe/Madrid (case matters)"
            )),
        }
    }
}

/// The default cap on the bytes one query of `dashboard` or `alerts` may bill: 20 GiB,
/// above the largest chart or alert query at 100 M sale lines (the current alerts,
/// about 16 GiB; a chart of a period over `sales_facts` bills well under 1 GiB: README,
/// "What a page bills"). Lower it to have any costlier query refused.
pub const DEFAULT_MAX_BYTES_BILLED: u64 = 20 << 30;

/// `--max-bytes-billed`.
#[derive(clap::Args, Debug, Clone)]
pub struct MaxBytesBilledArg {
    /// The most bytes one query may bill on BigQuery (maximumBytesBilled); a query over
    /// it fails, billing nothing. 0: no cap.
    #[arg(long, env = "INSTASHOP_MAX_BYTES_BILLED", default_value_t = DEFAULT_MAX_BYTES_BILLED)]
    pub max_bytes_billed: u64,
}

impl MaxBytesBilledArg {
    /// The cap, if any.
    pub fn cap(&self) -> Option<u64> {
        (self.max_bytes_billed > 0).then_some(self.max_bytes_billed)
    }
}

/// `--time-zone`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TimeZoneArg {
    /// The shop's reporting time zone, an IANA name (America/Santiago): its days are the
    /// days of every view (sale_date, daily revenue, 30-day windows, cohorts).
    #[arg(long = "time-zone", env = "INSTASHOP_TIME_ZONE", default_value = DEFAULT_TIME_ZONE)]
    pub time_zone: TimeZone,
}

/// `--staging-dataset`, of the binaries that load rows into a staging table first
/// (`batch-loader --append`, `forecast`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StagingDatasetArg {
    /// Dataset for the staging tables rows are loaded into before the transaction that
    /// moves them (default: --dataset). On Google Cloud the account then needs
    /// `bigquery.tables.create` there alone; Terraform makes `<dataset>_staging` for it.
    #[arg(long, env = "INSTASHOP_STAGING_DATASET", value_parser = dataset_name)]
    pub staging_dataset: Option<String>,
}

/// `--dataset`.
#[derive(clap::Args, Debug, Clone)]
pub struct DatasetArg {
    /// BigQuery dataset holding every table and view.
    #[arg(long, env = "INSTASHOP_DATASET", default_value = DEFAULT_DATASET, value_parser = dataset_name)]
    pub dataset: String,
}

impl Default for DatasetArg {
    fn default() -> Self {
        DatasetArg {
            dataset: DEFAULT_DATASET.into(),
        }
    }
}

/// `--bucket`.
#[derive(clap::Args, Debug, Clone)]
pub struct BucketArg {
    /// Cloud Storage bucket for the CSVs (`datasets/`) and pipeline files (`pipelines/`).
    #[arg(long, env = "INSTASHOP_BUCKET", default_value = DEFAULT_BUCKET, value_parser = bucket_name)]
    pub bucket: String,
}

impl Default for BucketArg {
    fn default() -> Self {
        BucketArg {
            bucket: DEFAULT_BUCKET.into(),
        }
    }
}

/// `--topic`.
#[derive(clap::Args, Debug, Clone)]
pub struct TopicArg {
    /// Pub/Sub topic of the order events (its dead-letter topic is `<topic>-dead-letter`).
    #[arg(long, env = "INSTASHOP_TOPIC", default_value = DEFAULT_TOPIC, value_parser = topic_name)]
    pub topic: String,
}

impl Default for TopicArg {
    fn default() -> Self {
        TopicArg {
            topic: DEFAULT_TOPIC.into(),
        }
    }
}

/// `--subscription`.
#[derive(clap::Args, Debug, Clone)]
pub struct SubscriptionArg {
    /// The stream worker's subscription on the topic.
    #[arg(long, env = "INSTASHOP_SUBSCRIPTION", default_value = DEFAULT_SUBSCRIPTION, value_parser = subscription_name)]
    pub subscription: String,
}

impl Default for SubscriptionArg {
    fn default() -> Self {
        SubscriptionArg {
            subscription: DEFAULT_SUBSCRIPTION.into(),
        }
    }
}

/// The names of the resources of the data model; override them to share one project or
/// emulator between several users or tests.
#[derive(Debug, Clone)]
pub struct Names {
    /// BigQuery dataset holding every table and view.
    pub dataset: String,
    /// Cloud Storage bucket for the CSVs and pipeline files.
    pub bucket: String,
    /// Pub/Sub topic of the order events.
    pub topic: String,
    /// The stream worker's subscription on the topic.
    pub subscription: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            dataset: DEFAULT_DATASET.into(),
            bucket: DEFAULT_BUCKET.into(),
            topic: DEFAULT_TOPIC.into(),
            subscription: DEFAULT_SUBSCRIPTION.into(),
        }
    }
}

impl Names {
    /// The names given by the four flags.
    pub fn from_flags(d: &DatasetArg, b: &BucketArg, t: &TopicArg, s: &SubscriptionArg) -> Self {
        Names {
            dataset: d.dataset.clone(),
            bucket: b.bucket.clone(),
            topic: t.topic.clone(),
            subscription: s.subscription.clone(),
        }
    }

    /// The topic that receives messages the worker could not handle (`<topic>-dead-letter`).
    pub fn dead_letter_topic(&self) -> String {
        format!("{}{DEAD_LETTER_SUFFIX}", self.topic)
    }

    /// The topic the `alerts` binary notifies on (`<topic>-alerts`).
    pub fn alerts_topic(&self) -> String {
        format!("{}{ALERTS_SUFFIX}", self.topic)
    }

    /// The subscription that keeps what lands on the dead-letter topic.
    pub fn dead_letter_subscription(&self) -> String {
        format!("{}{KEEP_SUFFIX}", self.dead_letter_topic())
    }

    /// Checks each name against the rules of its service, so a typo fails before any call.
    pub fn validate(&self) -> Result<()> {
        let check = |flag: &'static str, v: &str, rule: fn(&str) -> std::result::Result<String, String>| {
            rule(v).map(drop).map_err(|reason| setting(flag, v, &reason))
        };
        check("--dataset", &self.dataset, dataset_name)?;
        check("--bucket", &self.bucket, bucket_name)?;
        check("--topic", &self.topic, topic_name)?;
        check("--subscription", &self.subscription, subscription_name)
    }
}

/// BigQuery's rule for a dataset id, as a clap value parser.
pub(crate) fn dataset_name(v: &str) -> std::result::Result<String, String> {
    if v.is_empty() || v.len() > 1024 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("a BigQuery dataset id is 1 to 1024 letters, digits and underscores".into());
    }
    Ok(v.into())
}

/// Cloud Storage's rule for a bucket name, as a clap value parser.
pub fn bucket_name(v: &str) -> std::result::Result<String, String> {
    let chars_ok = v
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let ends_ok = v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&v.len()) || !chars_ok || !ends_ok {
        return Err("a bucket name is 3 to 63 lowercase letters, digits, '-', '_' or '.', starting and ending with a letter or digit".into());
    }
    Ok(v.into())
}

/// Pub/Sub's rule for a topic or subscription id, leaving room for `suffix`.
fn pubsub_name(v: &str, what: &str, suffix: usize) -> std::result::Result<String, String> {
    let max = 255 - suffix;
    let ok = (3..=max).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c))
        && !v.starts_with("goog");
    if !ok {
        return Err(format!(
            "a Pub/Sub {what} id is 3 to {max} letters, digits or '-_.~+%', starts with a letter and not with \"goog\""
        ));
    }
    Ok(v.into())
}

/// Pub/Sub's rule for a topic id (room left for the dead-letter names), as a clap value parser.
pub(crate) fn topic_name(v: &str) -> std::result::Result<String, String> {
    pubsub_name(v, "topic", DEAD_LETTER_SUFFIX.len() + KEEP_SUFFIX.len())
}

/// Pub/Sub's rule for a subscription id, as a clap value parser.
pub(crate) fn subscription_name(v: &str) -> std::result::Result<String, String> {
    pubsub_name(v, "subscription", 0)
}

fn setting(name: &'static str, value: &str, reason: &str) -> Error {
    Error::Setting {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Where one service's client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local emulator, reached without credentials.
    Emulator {
        /// Base URL, e.g. `http://127.0.0.1:8085`.
        url: String,
        /// The variable that selected it, for error messages.
        variable: &'static str,
    },
    /// Google Cloud, reached with Application Default Credentials.
    Cloud {
        /// Base URL of the service.
        url: String,
    },
}

impl Endpoint {
    /// The base URL the client uses.
    pub fn url(&self) -> &str {
        match self {
            Endpoint::Emulator { url, .. } | Endpoint::Cloud { url } => url,
        }
    }

    /// Whether this endpoint is an emulator (reached with anonymous credentials).
    pub(crate) fn is_emulator(&self) -> bool {
        matches!(self, Endpoint::Emulator { .. })
    }
}

/// The resolved endpoint of every service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Pub/Sub (gRPC and HTTP/JSON on one address).
    pub pubsub: Endpoint,
    /// BigQuery REST API root (`.../bigquery/v2`).
    pub bigquery: Endpoint,
    /// BigQuery Storage Write/Read API (gRPC).
    pub bigquery_storage: Endpoint,
    /// Cloud Storage JSON API root (without `/storage/v1`).
    pub storage: Endpoint,
}

const PUBSUB_CLOUD: &str = "https://pubsub.googleapis.com";
const BIGQUERY_CLOUD: &str = "https://bigquery.googleapis.com/bigquery/v2";
const BIGQUERY_STORAGE_CLOUD: &str = "https://bigquerystorage.googleapis.com";
const STORAGE_CLOUD: &str = "https://storage.googleapis.com";

impl Endpoints {
    /// Resolves every endpoint from the settings: an emulator where its variable is set
    /// (and not empty), Google Cloud otherwise.
    pub(crate) fn resolve(args: &GcpArgs) -> Result<Self> {
        let pubsub = emulator_or(
            "PUBSUB_EMULATOR_HOST",
            args.pubsub_emulator_host.as_deref(),
            PUBSUB_CLOUD,
            "",
        )?;
        let bigquery = emulator_or(
            "BIGQUERY_EMULATOR_HOST",
            args.bigquery_emulator_host.as_deref(),
            BIGQUERY_CLOUD,
            "/bigquery/v2",
        )?;
        let bigquery_storage = emulator_or(
            "BIGQUERY_STORAGE_EMULATOR_HOST",
            args.bigquery_storage_emulator_host.as_deref(),
            BIGQUERY_STORAGE_CLOUD,
            "",
        )?;
        if bigquery.is_emulator() != bigquery_storage.is_emulator() {
            return Err(setting(
                "BIGQUERY_STORAGE_EMULATOR_HOST",
                args.bigquery_storage_emulator_host.as_deref().unwrap_or(""),
                "set it together with BIGQUERY_EMULATOR_HOST (both or neither), so that rows and queries go to the same BigQuery",
            ));
        }
        let storage = emulator_or(
            "STORAGE_EMULATOR_HOST",
            args.storage_emulator_host.as_deref(),
            STORAGE_CLOUD,
            "",
        )?;
        Ok(Endpoints {
            pubsub,
            bigquery,
            bigquery_storage,
            storage,
        })
    }
}

/// `host:port` (or `http://host:port`) → emulator URL; unset or empty → the cloud URL.
fn emulator_or(variable: &'static str, value: Option<&str>, cloud: &str, path: &str) -> Result<Endpoint> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Endpoint::Cloud { url: cloud.into() });
    };
    let hostport = match raw.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(setting(
                variable,
                raw,
                &format!("emulators speak plain http, not {scheme}: give host:port"),
            ));
        }
        None => raw,
    }
    .trim_end_matches('/');
    let port_ok = hostport
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !port_ok || hostport.contains('/') {
        return Err(setting(variable, raw, "expected host:port, e.g. 127.0.0.1:8085"));
    }
    Ok(Endpoint::Emulator {
        url: format!("http://{hostport}{path}"),
        variable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pubsub: Option<&str>, bq: Option<&str>, bqs: Option<&str>, gcs: Option<&str>) -> GcpArgs {
        GcpArgs {
            project: DEFAULT_PROJECT.into(),
            pubsub_emulator_host: pubsub.map(Into::into),
            bigquery_emulator_host: bq.map(Into::into),
            bigquery_storage_emulator_host: bqs.map(Into::into),
            storage_emulator_host: gcs.map(Into::into),
        }
    }

    #[test]
    fn unset_variables_mean_google_cloud() {
        let e = Endpoints::resolve(&args(None, None, None, None)).unwrap();
        assert_eq!(
            e.pubsub,
            Endpoint::Cloud {
                url: PUBSUB_CLOUD.into()
            }
        );
        assert_eq!(e.bigquery.url(), BIGQUERY_CLOUD);
        assert_eq!(e.storage.url(), STORAGE_CLOUD);
        assert!(!e.bigquery_storage.is_emulator());
    }

    #[test]
    fn empty_variables_mean_google_cloud() {
        let e = Endpoints::resolve(&args(Some(""), Some(" "), Some(""), Some(""))).unwrap();
        assert!(!e.pubsub.is_emulator() && !e.bigquery.is_emulator() && !e.storage.is_emulator());
    }

    #[test]
    fn emulator_hosts_become_http_urls() {
        let e = Endpoints::resolve(&args(
            Some("127.0.0.1:8085"),
            Some("localhost:9050"),
            Some("127.0.0.1:9060"),
            Some("http://127.0.0.1:4443/"),
        ))
        .unwrap();
        assert_eq!(e.pubsub.url(), "http://127.0.0.1:8085");
        assert_eq!(e.bigquery.url(), "http://localhost:9050/bigquery/v2");
        assert_eq!(e.bigquery_storage.url(), "http://127.0.0.1:9060");
        assert_eq!(e.storage.url(), "http://127.0.0.1:4443");
        assert!(matches!(
            e.storage,
            Endpoint::Emulator {
                variable: "STORAGE_EMULATOR_HOST",
                ..
            }
        ));
    }

    #[test]
    fn malformed_hosts_are_refused_with_the_variable_name() {
        for bad in [
            "127.0.0.1",
            ":8085",
            "127.0.0.1:notaport",
            "127.0.0.1:0",
            "https://127.0.0.1:8085",
            "h:1/x",
        ] {
            let err = Endpoints::resolve(&args(Some(bad), None, None, None)).unwrap_err();
            assert!(err.to_string().contains("PUBSUB_EMULATOR_HOST"), "{bad}: {err}");
        }
    }

    #[test]
    fn bigquery_rest_and_storage_api_go_together() {
        let err = Endpoints::resolve(&args(None, Some("127.0.0.1:9050"), None, None)).unwrap_err();
        assert!(err.to_string().contains("BIGQUERY_STORAGE_EMULATOR_HOST"), "{err}");
        let err = Endpoints::resolve(&args(None, None, Some("127.0.0.1:9060"), None)).unwrap_err();
        assert!(err.to_string().contains("both or neither"), "{err}");
    }

    #[test]
    fn derived_names_follow_the_topic() {
        let n = Names::default();
        assert_eq!(n.dead_letter_topic(), "orders-dead-letter");
        assert_eq!(n.dead_letter_subscription(), "orders-dead-letter-keep");
        n.validate().unwrap();
    }

    #[test]
    fn bad_names_are_refused_with_their_flag() {
        let cases = [
            (
                Names {
                    dataset: "data-ecommerce".into(),
                    ..Names::default()
                },
                "--dataset",
            ),
            (
                Names {
                    bucket: "Upper".into(),
                    ..Names::default()
                },
                "--bucket",
            ),
            (
                Names {
                    bucket: "ab".into(),
                    ..Names::default()
                },
                "--bucket",
            ),
            (
                Names {
                    topic: "1orders".into(),
                    ..Names::default()
                },
                "--topic",
            ),
            (
                Names {
                    subscription: "has space".into(),
                    ..Names::default()
                },
                "--subscription",
            ),
        ];
        for (names, flag) in cases {
            let err = names.validate().unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn time_zones_are_iana_names_and_the_rule_is_in_the_error() {
        let tz: TimeZone = "America/Santiago".parse().unwrap();
        assert_eq!(tz.name(), "America/Santiago");
        assert_eq!(TimeZone::default().name(), "UTC");
        for bad in ["america/santiago", "Mars/Olympus", "", "UTC' OR 1=1 --", "-03:00"] {
            let err = bad.parse::<TimeZone>().unwrap_err();
            assert!(err.contains("IANA name") && err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
