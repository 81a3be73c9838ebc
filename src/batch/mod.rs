//! The history: seeded master data, historical CSVs, and their checked load into BigQuery.

pub mod catalog;
pub mod datagen;
pub mod loader;
