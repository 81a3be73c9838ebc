//! The library's error type: one variant per way things go wrong, each with a message
//! that says what to do. Binaries print the chain with `{:#}` and exit non-zero.

use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the data model in `bigquery/` is missing, unreadable or malformed.
    #[error("{}: {reason}", path.display())]
    ModelFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A setting (flag or environment variable) has a value that cannot be used.
    #[error("invalid setting {name}={value:?}: {reason}")]
    Setting {
        /// The flag or environment variable.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// An emulator named by an `*_EMULATOR_HOST` variable does not answer.
    #[error(
        "the {service} emulator at {address} does not answer ({detail}): start the local stack with `scripts/emulators.sh start`, or unset {variable} to use Google Cloud"
    )]
    EmulatorUnreachable {
        /// Pub/Sub, BigQuery or Cloud Storage.
        service: &'static str,
        /// The environment variable that pointed at it.
        variable: &'static str,
        /// host:port or URL tried.
        address: String,
        /// The transport error, shortened.
        detail: String,
    },

    /// No usable Google Cloud credentials for a service that is not emulated.
    #[error(
        "no usable Google Cloud credentials for {service} ({detail}): run `gcloud auth application-default login`, or for local work run `scripts/emulators.sh start` and `eval \"$(scripts/emulators.sh env)\"`"
    )]
    Credentials {
        /// The service that needed them.
        service: &'static str,
        /// What the credential provider said.
        detail: String,
    },

    /// A Google Cloud (or emulator) API call failed.
    #[error("{service}: {operation} {resource} failed: {detail}")]
    Api {
        /// Pub/Sub, BigQuery or Cloud Storage.
        service: &'static str,
        /// What was being done, e.g. "create table".
        operation: &'static str,
        /// The resource's name.
        resource: String,
        /// The error the API returned, verbatim where possible.
        detail: String,
    },

    /// A resource exists but differs from its definition in a way that cannot be changed in place.
    #[error("{resource} exists but differs from its definition: {detail}")]
    Drift {
        /// The resource's name.
        resource: String,
        /// What differs and what to do.
        detail: String,
    },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Api`] from any displayable cause.
    pub fn api(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        detail: impl std::fmt::Display,
    ) -> Self {
        Error::Api {
            service,
            operation,
            resource: resource.into(),
            detail: detail.to_string(),
        }
    }

    /// An [`Error::ModelFile`] for `path`.
    pub fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::ModelFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
