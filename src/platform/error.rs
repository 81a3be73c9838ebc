//! The library's error type: one variant per way things go wrong, each with a message
//! that says what to do. Binaries print the chain with `{:#}` and exit non-zero.
//!
//! An API failure keeps what the server or the transport said ([`Status`]) and the
//! original error as its `#[source]`, so callers can tell a missing resource (404,
//! `NOT_FOUND`) from a transient failure (429, 5xx, `UNAVAILABLE`, a dropped connection)
//! from a permanent one. [`Status::is_transient`] and [`Status::is_not_found`] are the one
//! place where those two questions are answered; [`crate::platform::retry`] retries only the former.

use std::fmt;
use std::path::PathBuf;

/// A boxed cause.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a failed call got back: an HTTP status, a gRPC code, a transport failure, or
/// nothing classifiable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The server answered with this HTTP status.
    Http(u16),
    /// The server answered with this gRPC status code.
    Grpc(tonic::Code),
    /// No answer: the connection was refused, reset or timed out.
    Transport,
    /// The call went through but its outcome could not be classified (a malformed
    /// answer, a local encoding problem): not worth retrying.
    Other,
}

impl Status {
    /// Worth retrying: 408, 429 and 5xx; gRPC `UNAVAILABLE`, `DEADLINE_EXCEEDED`,
    /// `RESOURCE_EXHAUSTED` and `CANCELLED`; connection failures.
    ///
    /// `CANCELLED` is here because this program never cancels a call and then looks at
    /// its result (a dropped call has none): one that comes back cancelled was cut by the
    /// server or by its connection closing mid-call (a restarting backend, a redeploy),
    /// which is what retrying is for. The row may have been written before the cut;
    /// analytics remove such duplicates by `event_id`.
    pub(crate) fn is_transient(self) -> bool {
        match self {
            Status::Http(code) => code == 408 || code == 429 || (500..=599).contains(&code),
            Status::Grpc(code) => matches!(
                code,
                tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::ResourceExhausted
                    | tonic::Code::Cancelled
            ),
            Status::Transport => true,
            Status::Other => false,
        }
    }

    /// The resource does not exist: HTTP 404 or gRPC `NOT_FOUND`.
    pub(crate) fn is_not_found(self) -> bool {
        matches!(self, Status::Http(404) | Status::Grpc(tonic::Code::NotFound))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Http(code) => write!(f, "HTTP {code}"),
            Status::Grpc(code) => write!(f, "gRPC {code:?}"),
            Status::Transport => f.write_str("no answer"),
            Status::Other => f.write_str("unexpected answer"),
        }
    }
}

/// A message from a server (or about its answer) used as an error's source when no
/// richer error value exists.
#[derive(Debug, Clone)]
pub(crate) struct Remote(pub String);

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Remote {}

/// An error from a client library or transport, classified into a [`Status`].
pub trait ApiCause {
    /// What the server or transport said.
    fn status(&self) -> Status;
    /// The error itself, boxed as the source.
    fn into_source(self) -> BoxError;
}

impl ApiCause for reqwest::Error {
    fn status(&self) -> Status {
        match self.status() {
            Some(s) => Status::Http(s.as_u16()),
            None if self.is_timeout() || self.is_connect() || self.is_request() || self.is_body() => Status::Transport,
            None => Status::Other,
        }
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for google_cloud_gax::error::Error {
    fn status(&self) -> Status {
        if let Some(code) = self.http_status_code() {
            return Status::Http(code);
        }
        if let Some(s) = self.status() {
            return Status::Grpc(tonic::Code::from_i32(s.code as i32));
        }
        if self.is_timeout() || self.is_connect() || self.is_io() || self.is_transport() {
            return Status::Transport;
        }
        Status::Other
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for tonic::Status {
    fn status(&self) -> Status {
        grpc_status(self)
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

/// A gRPC status as the server gave it, or [`Status::Transport`] when tonic made it
/// itself out of a failed connection: `UNKNOWN` with the transport or I/O error as its
/// source (a connection cut mid-call, "broken pipe"). The server never answered that
/// call, so it is worth retrying like any connection failure.
fn grpc_status(status: &tonic::Status) -> Status {
    if status.code() == tonic::Code::Unknown {
        let mut cause = std::error::Error::source(status);
        while let Some(c) = cause {
            if c.is::<tonic::transport::Error>() || c.is::<std::io::Error>() {
                return Status::Transport;
            }
            cause = c.source();
        }
    }
    Status::Grpc(status.code())
}

impl ApiCause for gcp_bigquery_client::error::BQError {
    fn status(&self) -> Status {
        use gcp_bigquery_client::error::BQError;
        match self {
            BQError::RequestError(e) => ApiCause::status(e),
            BQError::ResponseError { error } => u16::try_from(error.error.code).map_or(Status::Other, Status::Http),
            BQError::TonicStatusError(s) => grpc_status(s),
            BQError::TonicTransportError(_) => Status::Transport,
            _ => Status::Other,
        }
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for tonic::transport::Error {
    fn status(&self) -> Status {
        Status::Transport
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for google_cloud_gax::client_builder::Error {
    fn status(&self) -> Status {
        Status::Other
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for String {
    fn status(&self) -> Status {
        Status::Other
    }
    fn into_source(self) -> BoxError {
        Box::new(Remote(self))
    }
}

impl ApiCause for &str {
    fn status(&self) -> Status {
        Status::Other
    }
    fn into_source(self) -> BoxError {
        self.to_string().into_source()
    }
}

impl ApiCause for tonic::metadata::errors::InvalidMetadataValue {
    fn status(&self) -> Status {
        Status::Other
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

impl ApiCause for Remote {
    fn status(&self) -> Status {
        Status::Other
    }
    fn into_source(self) -> BoxError {
        Box::new(self)
    }
}

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

    /// A user's input (a CSV of the history, say) cannot be used as a whole.
    #[error("{file}: {reason}")]
    Input {
        /// The file, local path or `gs://` URI.
        file: String,
        /// What is wrong with it and what to do.
        reason: String,
    },

    /// A local file could not be read or written.
    #[error("cannot {operation} {}", path.display())]
    Io {
        /// What was being done: "create", "write", "read".
        operation: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A server of ours could not listen on its address.
    #[error("cannot listen on {addr} (is another process using the port? pick another with {flag})")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The flag that sets it.
        flag: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
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
    #[error("{service}: {operation} {resource} failed ({status})")]
    Api {
        /// Pub/Sub, BigQuery or Cloud Storage.
        service: &'static str,
        /// What was being done, e.g. "create table".
        operation: &'static str,
        /// The resource's name.
        resource: String,
        /// What the server or the transport said.
        status: Status,
        /// The client library's or transport's error, or the server's message.
        #[source]
        source: BoxError,
    },

    /// BigQuery refused every write to a table for longer than the worker waits.
    #[error(
        "BigQuery refused every write to {table} for {seconds} s ({cause}): {action}; the messages stay unacked in the subscription and are delivered again once the worker restarts"
    )]
    SinkDown {
        /// The table written to.
        table: String,
        /// How long every write failed.
        seconds: u64,
        /// The last error, on one line.
        cause: String,
        /// What to do.
        action: &'static str,
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
    /// An [`Error::Api`] from a client library's or transport's error.
    pub fn api(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        cause: impl ApiCause,
    ) -> Self {
        Error::Api {
            service,
            operation,
            resource: resource.into(),
            status: cause.status(),
            source: cause.into_source(),
        }
    }

    /// An [`Error::Api`] whose server answered `status` with `message`.
    pub(crate) fn remote(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        status: Status,
        message: impl Into<String>,
    ) -> Self {
        Error::Api {
            service,
            operation,
            resource: resource.into(),
            status,
            source: Box::new(Remote(message.into())),
        }
    }

    /// An [`Error::ModelFile`] for `path`.
    pub fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::ModelFile {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Input`] for `file`.
    pub fn input(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Input {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Io`] for `path`.
    pub fn io(operation: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            operation,
            path: path.into(),
            source,
        }
    }

    /// What the server said, for an API error.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Worth retrying (see [`Status::is_transient`]); only API errors can be.
    pub(crate) fn is_transient(&self) -> bool {
        self.status().is_some_and(Status::is_transient)
    }

    /// For a failed write of rows, whether it fails for the whole table rather than for
    /// these rows, and if so what to do: the credentials or the role are refused (401,
    /// 403), the table or dataset is gone (404), or (Storage Write) the table's schema no
    /// longer takes the rows' schema. Every later write would fail the same way, so the
    /// worker stops taking messages instead of letting them run out of delivery attempts.
    pub(crate) fn sink_wide(&self) -> Option<&'static str> {
        let Error::Api { status, source, .. } = self else {
            return None;
        };
        match status {
            Status::Http(401) | Status::Grpc(tonic::Code::Unauthenticated) => {
                Some("its credentials are refused: check the service account the worker runs as")
            }
            Status::Http(403) | Status::Grpc(tonic::Code::PermissionDenied) => Some(
                "grant the worker's account roles/bigquery.dataEditor on the table again (`terraform apply` restores it)",
            ),
            Status::Http(404) | Status::Grpc(tonic::Code::NotFound) => {
                Some("the table or its dataset is gone: create it again with `provision` or `terraform apply`")
            }
            Status::Grpc(tonic::Code::InvalidArgument) if source.to_string().to_lowercase().contains("schema") => Some(
                "the table's schema no longer takes the worker's rows: restore it from bigquery/schemas (`provision` reports the drift)",
            ),
            _ => None,
        }
    }

    /// The error and its causes on one line (`a: b: c`), for logs.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_not_found_are_decided_by_status() {
        for s in [
            Status::Http(408),
            Status::Http(429),
            Status::Http(500),
            Status::Http(503),
            Status::Grpc(tonic::Code::Unavailable),
            Status::Grpc(tonic::Code::DeadlineExceeded),
            Status::Grpc(tonic::Code::Cancelled),
            Status::Transport,
        ] {
            assert!(s.is_transient(), "{s}");
        }
        for s in [
            Status::Http(400),
            Status::Http(403),
            Status::Http(404),
            Status::Http(409),
            Status::Grpc(tonic::Code::InvalidArgument),
            Status::Grpc(tonic::Code::NotFound),
            Status::Grpc(tonic::Code::PermissionDenied),
            Status::Other,
        ] {
            assert!(!s.is_transient(), "{s}");
        }
        assert!(Status::Http(404).is_not_found() && Status::Grpc(tonic::Code::NotFound).is_not_found());
        assert!(!Status::Http(403).is_not_found());
    }

    #[test]
    fn a_table_wide_refusal_is_told_from_a_bad_row_or_an_outage() {
        let wide =
            |status: Status, message: &str| Error::remote("BigQuery", "AppendRows", "t", status, message).sink_wide();
        assert!(
            wide(Status::Http(403), "Permission bigquery.tables.updateData denied")
                .unwrap()
                .contains("roles/bigquery.dataEditor")
        );
        assert!(wide(Status::Grpc(tonic::Code::PermissionDenied), "denied").is_some());
        assert!(
            wide(Status::Http(404), "Not found: Table p:d.t")
                .unwrap()
                .contains("`provision`")
        );
        assert!(wide(Status::Grpc(tonic::Code::NotFound), "no table").is_some());
        assert!(wide(Status::Http(401), "").is_some());
        assert!(
            wide(
                Status::Grpc(tonic::Code::InvalidArgument),
                "Input schema has more fields than BigQuery schema"
            )
            .unwrap()
            .contains("schema")
        );
        // A bad row, an over-size request, an outage: not the whole table's fault.
        assert!(wide(Status::Grpc(tonic::Code::InvalidArgument), "row 3: invalid NUMERIC").is_none());
        assert!(wide(Status::Http(400), "Request payload size exceeds the limit").is_none());
        assert!(wide(Status::Http(503), "backend error").is_none());
        assert!(wide(Status::Transport, "").is_none());
        assert!(wide(Status::Other, "3 rows refused").is_none());
    }

    #[test]
    fn a_grpc_call_cut_by_its_connection_is_a_transport_failure_not_the_servers_unknown() {
        let cut = tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "stream closed because of a broken pipe",
        )));
        assert_eq!(cut.code(), tonic::Code::Unknown);
        assert_eq!(ApiCause::status(&cut), Status::Transport);
        assert!(ApiCause::status(&cut).is_transient());
        // UNKNOWN that the server sent (no local cause) stays what it is: not retried.
        let answered = tonic::Status::unknown("the server could not say");
        assert_eq!(ApiCause::status(&answered), Status::Grpc(tonic::Code::Unknown));
        assert!(!ApiCause::status(&answered).is_transient());
    }

    #[test]
    fn an_api_error_keeps_its_status_and_cause() {
        let e = Error::remote("BigQuery", "insertAll", "t", Status::Http(503), "backend unavailable");
        assert!(e.is_transient() && !e.status().unwrap().is_not_found());
        assert_eq!(e.to_string(), "BigQuery: insertAll t failed (HTTP 503)");
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "backend unavailable"
        );
        assert_eq!(
            e.report(),
            "BigQuery: insertAll t failed (HTTP 503): backend unavailable"
        );
        let g = Error::api("BigQuery", "AppendRows", "s", tonic::Status::not_found("no table"));
        assert!(g.status().unwrap().is_not_found() && !g.is_transient());
    }
}
