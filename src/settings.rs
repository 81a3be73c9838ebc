//! Settings shared by every binary, each read from a flag or an environment variable,
//! declared once here: the project, the emulator switches (`*_EMULATOR_HOST`, Google's
//! convention) and the names of the resources of the data model.
//!
//! [`Endpoints::resolve`] is the only place that decides between an emulator and Google
//! Cloud; the rest of the code asks it and never branches on "emulator" itself.

use crate::error::{Error, Result};

/// The seed's project, used when `--project` / `GOOGLE_CLOUD_PROJECT` is not given.
pub const DEFAULT_PROJECT: &str = "data-ecommerce-demo";
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
/// Appended to the topic's name to name its dead-letter topic (`orders-dead-letter`).
pub const DEAD_LETTER_SUFFIX: &str = "-dead-letter";
/// Appended to the dead-letter topic's name to name the subscription that keeps dead
/// letters (`orders-dead-letter-keep`); without one, Pub/Sub drops them.
pub const KEEP_SUFFIX: &str = "-keep";

/// Where the clients go: the project, and for each service an emulator or Google Cloud.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GcpArgs {
    /// Google Cloud project that owns every resource.
    #[arg(long, env = "GOOGLE_CLOUD_PROJECT", default_value = DEFAULT_PROJECT)]
    pub project: String,

    /// Pub/Sub emulator as host:port; unset, Pub/Sub is Google Cloud's (Application Default Credentials).
    #[arg(long, env = "PUBSUB_EMULATOR_HOST", hide_env_values = true)]
    pub pubsub_emulator_host: Option<String>,

    /// BigQuery emulator's REST API as host:port; unset, BigQuery is Google Cloud's.
    #[arg(long, env = "BIGQUERY_EMULATOR_HOST", hide_env_values = true)]
    pub bigquery_emulator_host: Option<String>,

    /// BigQuery emulator's Storage Read/Write gRPC API as host:port (defaults to Google Cloud's when BigQuery is not emulated).
    #[arg(long, env = "BIGQUERY_STORAGE_EMULATOR_HOST", hide_env_values = true)]
    pub bigquery_storage_emulator_host: Option<String>,

    /// Cloud Storage emulator as http://host:port; unset, Cloud Storage is Google Cloud's.
    #[arg(long, env = "STORAGE_EMULATOR_HOST", hide_env_values = true)]
    pub storage_emulator_host: Option<String>,
}

/// The names of the resources of the data model; override them to share one project or
/// emulator between several users or tests.
#[derive(clap::Args, Debug, Clone)]
pub struct Names {
    /// BigQuery dataset holding every table and view.
    #[arg(long, env = "INSTASHOP_DATASET", default_value = DEFAULT_DATASET)]
    pub dataset: String,

    /// Cloud Storage bucket for the CSVs (`datasets/`) and pipeline files (`pipelines/`).
    #[arg(long, env = "INSTASHOP_BUCKET", default_value = DEFAULT_BUCKET)]
    pub bucket: String,

    /// Pub/Sub topic of the order events.
    #[arg(long, env = "INSTASHOP_TOPIC", default_value = DEFAULT_TOPIC)]
    pub topic: String,

    /// The stream worker's subscription on the topic.
    #[arg(long, env = "INSTASHOP_SUBSCRIPTION", default_value = DEFAULT_SUBSCRIPTION)]
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
    /// The topic that receives messages the worker could not handle (`<topic>-dead-letter`).
    pub fn dead_letter_topic(&self) -> String {
        format!("{}{DEAD_LETTER_SUFFIX}", self.topic)
    }

    /// The subscription that keeps what lands on the dead-letter topic.
    pub fn dead_letter_subscription(&self) -> String {
        format!("{}{KEEP_SUFFIX}", self.dead_letter_topic())
    }

    /// Checks each name against the rules of its service, so a typo fails before any call.
    pub fn validate(&self) -> Result<()> {
        check_name("--dataset", &self.dataset, 1024, |c| {
            c.is_ascii_alphanumeric() || c == '_'
        })?;
        check_name("--bucket", &self.bucket, 63, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
        })?;
        if self.bucket.len() < 3 {
            return Err(setting("--bucket", &self.bucket, "must be 3 to 63 characters"));
        }
        let pubsub_char = |c: char| c.is_ascii_alphanumeric() || "-_.~+%".contains(c);
        // Pub/Sub names are 3 to 255 characters and start with a letter; the derived
        // dead-letter names add their suffixes, so leave them room.
        let max = 255 - DEAD_LETTER_SUFFIX.len() - KEEP_SUFFIX.len();
        check_name("--topic", &self.topic, max, pubsub_char)?;
        check_name("--subscription", &self.subscription, 255, pubsub_char)?;
        for (flag, v) in [("--topic", &self.topic), ("--subscription", &self.subscription)] {
            if v.len() < 3 || !v.starts_with(|c: char| c.is_ascii_alphabetic()) {
                return Err(setting(
                    flag,
                    v,
                    "must start with a letter and be at least 3 characters",
                ));
            }
        }
        Ok(())
    }
}

fn setting(name: &'static str, value: &str, reason: &str) -> Error {
    Error::Setting {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_name(flag: &'static str, v: &str, max: usize, ok: impl Fn(char) -> bool) -> Result<()> {
    if v.is_empty() || v.len() > max || !v.chars().all(ok) {
        return Err(setting(
            flag,
            v,
            &format!("not a valid name (at most {max} characters, no spaces or unusual characters)"),
        ));
    }
    Ok(())
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
    pub fn is_emulator(&self) -> bool {
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
    pub fn resolve(args: &GcpArgs) -> Result<Self> {
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
}
