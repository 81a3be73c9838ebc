//! Shared by every binary: settings, clients, REST, retries, errors, the command-line edge, progress.

pub mod cli;
pub mod error;
pub mod gcp;
pub mod progress;
pub mod rest;
pub mod retry;
pub mod settings;
