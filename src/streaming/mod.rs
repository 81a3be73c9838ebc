//! Live sales: the publisher, and the stream worker (source, transform, sink, metrics).

pub mod metrics;
pub mod publisher;
pub mod sink;
pub mod source;
pub mod transform;
pub mod worker;
