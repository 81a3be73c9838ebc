//! Operations: dead-letter replay, alerts, the demand forecast.

pub mod alerts;
pub mod forecast;
pub mod replay;
