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
//! - [`error`]: the library's error type.
//! - [`cli`]: what every binary does at its edge (logging, exit codes).
//!
//! Binaries in `src/bin/` are thin: parse arguments, call one function here.

pub mod catalog;
pub mod cli;
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
