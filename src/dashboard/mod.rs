//! The numbers, read: the report definition, the facts refresh, the URL contract, the local dashboard server.

pub mod refresh;
pub mod report;
pub mod selection;
pub mod server;
