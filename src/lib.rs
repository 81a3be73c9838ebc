//! InstaShop Analytics: e-commerce analytics on Google Cloud that joins history (batch
//! CSVs in Cloud Storage, loaded into BigQuery) with live sales (order events through
//! Pub/Sub, streamed into BigQuery), read by Looker Studio through BigQuery views.
//!
//! # Layout
//! - [`settings`]: flags and environment variables shared by every binary (project,
//!   `*_EMULATOR_HOST`, resource names); the one place that picks emulator or cloud.
//! - [`gcp`]: builds the Pub/Sub, BigQuery and Cloud Storage clients from the settings,
//!   checking within seconds that each can be reached.
//! - [`model`]: the data model read from `bigquery/` (table schemas, table options, view
//!   SQL), shared with Terraform.
//! - [`provision`]: creates every resource of the data model, idempotently.
//! - [`catalog`]: seeded master data shared by batch and streaming.
//! - [`datagen`]: historical CSVs and their manifest.
//! - [`batch`]: checks CSVs against the schemas and loads them with load jobs.
//! - [`publisher`]: simulated live sales to Pub/Sub.
//! - [`transform`]: validation of one event and its sale row (pure).
//! - [`source`]: Pub/Sub pull with flow control, leases and batched acks.
//! - [`sink`]: BigQuery writes (Storage Write API, insertAll, dead letters).
//! - [`worker`]: the stream worker: source → transform → sink, ack after write.
//! - [`metrics`]: counters, stats line, Prometheus endpoint.
//! - [`error`]: the library's error type.
//! - [`cli`]: what every binary does at its edge (logging, exit codes).
//!
//! Binaries in `src/bin/` are thin: parse arguments, call one function here.

pub mod batch;
pub mod catalog;
pub mod cli;
pub mod datagen;
pub mod error;
pub mod gcp;
pub mod metrics;
pub mod model;
pub mod provision;
pub mod publisher;
pub mod settings;
pub mod sink;
pub mod source;
pub mod transform;
pub mod worker;

pub use error::{Error, Result};
