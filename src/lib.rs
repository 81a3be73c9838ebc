//! InstaShop Analytics: e-commerce analytics on Google Cloud that joins history (batch
//! CSVs in Cloud Storage, loaded into BigQuery) with live sales (order events through
//! Pub/Sub, streamed into BigQuery), read by Looker Studio through BigQuery views.
//!
//! # Layout
//! One folder per part of the flow. They stack: each imports only from the folders
//! above it in this list, never back up.
//!
//! - [`platform`], shared by every binary:
//!   - [`platform::settings`]: flags and environment variables, each declared once
//!     (project, `*_EMULATOR_HOST`, resource names with their naming rules, the
//!     reporting time zone); the one place that picks emulator or cloud.
//!   - [`platform::gcp`]: builds the Pub/Sub, BigQuery and Cloud Storage clients from
//!     the settings, checking within seconds that each can be reached; the one query
//!     path (pages, polling, job locations) and the one insertAll path.
//!   - [`platform::rest`]: the JSON REST client for what the typed clients cannot
//!     reach, and object name encoding.
//!   - [`platform::retry`]: the one retry policy (exponential backoff, full jitter, a
//!     budget, transient errors only).
//!   - [`platform::error`]: the library's error type; API errors keep their status and
//!     cause.
//!   - [`platform::cli`]: what every binary does at its edge (logging as text or Cloud
//!     Logging JSON, exit codes, the HTTP servers' bind and serve).
//!   - [`platform::progress`]: a progress bar on a terminal, plain periodic lines
//!     otherwise.
//! - [`model`]: the data model read from `bigquery/` (table schemas, table options, view
//!   SQL and its template variables, the alerts' [`model::Thresholds`]), shared with
//!   Terraform.
//!   - [`model::provision`]: creates every resource of the data model, idempotently.
//! - [`batch`], the history:
//!   - [`batch::catalog`]: seeded master data shared by batch and streaming.
//!   - [`batch::datagen`]: historical CSVs and their manifest.
//!   - [`batch::loader`]: checks CSVs against the schemas and the keys, and loads them
//!     with load jobs (`--append` replaces by key).
//! - [`streaming`], live sales:
//!   - [`streaming::publisher`]: simulated live sales to Pub/Sub.
//!   - [`streaming::transform`]: validation of one event and its sale row (pure).
//!   - [`streaming::source`]: Pub/Sub pull with flow control, leases and batched acks.
//!   - [`streaming::sink`]: BigQuery writes (Storage Write API, insertAll, dead letters).
//!   - [`streaming::worker`]: the stream worker: source → transform → sink, ack after
//!     write.
//!   - [`streaming::metrics`]: the worker's Prometheus metrics, stats line, health, and
//!     the server of `/metrics`, `/healthz` and `/readyz`.
//! - [`ops`], operations:
//!   - [`ops::replay`]: dead letters back into the flow after a fix (selection, explicit
//!     repairs, today's rules, republish, a record of each outcome).
//!   - [`ops::alerts`]: the InstaShop alerts (critical stock, failed payments, revenue
//!     anomaly, stock-out risk) evaluated from their views at given thresholds, each new
//!     one published once to the alerts topic and logged in `alert_log`.
//!   - [`ops::forecast`]: the demand forecast per product (MSTL with an ETS trend, from
//!     the `augurs` crate), written to `forecast_demand` by run day, which
//!     `v_inventory_forecast` turns into days of cover, stock-out dates and reorders.
//! - [`dashboard`], the numbers read:
//!   - [`dashboard::report`]: the report definition (`looker/report.json`): pages,
//!     charts, the one query each chart implies for a period and a slice, number
//!     formats, the Looker Studio link.
//!   - [`dashboard::refresh`]: brings `sales_facts`, the date-partitioned facts the
//!     charts read, up to date, with the tables kept from it and the live units counted
//!     against the stock (`customer_months`, `customer_lifetime`, `inventory_sold`; the
//!     scheduled query's SQL, run locally).
//!   - [`dashboard::selection`]: the URL contract of a page and of the chart API
//!     (`from`, `to`, `compare`, `source`, `country`, `category`, `plan`), parsed
//!     strictly; presets and compared periods.
//!   - [`dashboard::server`]: the local dashboard server (axum): the pages, their data,
//!     vendored charting assets.
//!
//! Binaries in `src/bin/` are thin: parse arguments, call one function here.

// The module docs are for who maintains this crate and link what is crate-private
// (`cargo doc --document-private-items` renders those links).
#![allow(rustdoc::private_intra_doc_links)]

pub mod batch;
pub mod dashboard;
pub mod model;
pub mod ops;
pub mod platform;
pub mod streaming;

pub use platform::error::{Error, Result};
