//! `publisher`: simulated live sales. Generates order events in the seed's shape from
//! the same master data as the batch CSVs ([`crate::batch::catalog`]), optionally malformed
//! (many kinds of defect) or duplicated, and publishes them to Pub/Sub with the client's
//! batching, at a given rate.
//!
//! [`EventGenerator`] is pure and seeded: same seed, same events (ids, orders, products,
//! quantities, prices, defects); only `event_ts` is the clock at generation time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::model::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::batch::catalog::{Catalog, Product, customer_id};
use crate::platform::error::{ApiCause, Error, Result, Status};
use crate::platform::gcp::{Gcp, PUBSUB};
use crate::platform::progress::Progress;
use crate::streaming::transform::{MAX_PAYLOAD_BYTES, RejectKind};

/// Attribute naming the defect injected into a malformed event (simulation only): lets
/// a test check that each dead letter carries the reason its defect deserves.
pub const DEFECT_ATTRIBUTE: &str = "synthetic_defect";
/// Attribute marking the second copy of a duplicated event.
pub(crate) const DUPLICATE_ATTRIBUTE: &str = "synthetic_duplicate";
/// Most publishes in flight at once: bounds memory when the server is slower than us.
const MAX_IN_FLIGHT: usize = 10_000;

/// The kinds of malformed event the publisher can inject, each with the rejection the
/// worker must give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// Truncated JSON.
    NotJson,
    /// A JSON array instead of an object.
    NotObject,
    /// A byte that is not UTF-8.
    InvalidUtf8,
    /// product_id absent.
    MissingField,
    /// customer_id null.
    NullField,
    /// qty as a string.
    QtyAsString,
    /// qty below zero.
    NegativeQty,
    /// qty with a fraction.
    FractionalQty,
    /// qty zero.
    ZeroQty,
    /// unit_price below zero.
    NegativePrice,
    /// unit_price with ten decimals.
    TooManyDecimals,
    /// unit_price "NaN".
    NanPrice,
    /// unit_price far beyond the maximum.
    HugePrice,
    /// event_id not a UUID.
    BadEventId,
    /// order_id empty.
    EmptyOrderId,
    /// product_id of 100 characters.
    OversizedId,
    /// event_ts three days ahead.
    FutureTs,
    /// event_ts in a foreign format.
    BadTsFormat,
    /// qty given twice.
    DuplicateField,
    /// A payload over the size limit.
    OversizedPayload,
}

impl Defect {
    /// Every defect.
    pub const ALL: [Defect; 20] = [
        Defect::NotJson,
        Defect::NotObject,
        Defect::InvalidUtf8,
        Defect::MissingField,
        Defect::NullField,
        Defect::QtyAsString,
        Defect::NegativeQty,
        Defect::FractionalQty,
        Defect::ZeroQty,
        Defect::NegativePrice,
        Defect::TooManyDecimals,
        Defect::NanPrice,
        Defect::HugePrice,
        Defect::BadEventId,
        Defect::EmptyOrderId,
        Defect::OversizedId,
        Defect::FutureTs,
        Defect::BadTsFormat,
        Defect::DuplicateField,
        Defect::OversizedPayload,
    ];

    /// Its name, as sent in [`DEFECT_ATTRIBUTE`].
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::NotJson => "not_json",
            Defect::NotObject => "not_object",
            Defect::InvalidUtf8 => "invalid_utf8",
            Defect::MissingField => "missing_field",
            Defect::NullField => "null_field",
            Defect::QtyAsString => "qty_as_string",
            Defect::NegativeQty => "negative_qty",
            Defect::FractionalQty => "fractional_qty",
            Defect::ZeroQty => "zero_qty",
            Defect::NegativePrice => "negative_price",
            Defect::TooManyDecimals => "too_many_decimals",
            Defect::NanPrice => "nan_price",
            Defect::HugePrice => "huge_price",
            Defect::BadEventId => "bad_event_id",
            Defect::EmptyOrderId => "empty_order_id",
            Defect::OversizedId => "oversized_id",
            Defect::FutureTs => "future_ts",
            Defect::BadTsFormat => "bad_ts_format",
            Defect::DuplicateField => "duplicate_field",
            Defect::OversizedPayload => "oversized_payload",
        }
    }

    /// The rejection the worker must give it.
    pub fn expected(self) -> RejectKind {
        match self {
            Defect::NotJson => RejectKind::InvalidJson,
            Defect::NotObject => RejectKind::NotObject,
            Defect::InvalidUtf8 => RejectKind::NotUtf8,
            Defect::MissingField | Defect::NullField => RejectKind::MissingField,
            Defect::QtyAsString => RejectKind::WrongType,
            Defect::NegativeQty | Defect::FractionalQty | Defect::ZeroQty => RejectKind::BadQty,
            Defect::NegativePrice | Defect::TooManyDecimals | Defect::NanPrice | Defect::HugePrice => {
                RejectKind::BadUnitPrice
            }
            Defect::BadEventId => RejectKind::BadEventId,
            Defect::EmptyOrderId | Defect::OversizedId => RejectKind::BadId,
            Defect::FutureTs | Defect::BadTsFormat => RejectKind::BadEventTs,
            Defect::DuplicateField => RejectKind::DuplicateField,
            Defect::OversizedPayload => RejectKind::PayloadTooLarge,
        }
    }

    /// The defect named `s`.
    pub fn parse(s: &str) -> Option<Defect> {
        Defect::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// What the generator needs.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Seed of the master data (customers, products, prices): `datagen`'s `--seed`.
    pub seed: u64,
    /// Seed of the event stream (ids, orders, quantities, defects); `None` uses `seed`.
    /// A new one per run adds new sales on top of earlier runs' instead of repeating
    /// their event ids (which the views would count once).
    pub events_seed: Option<u64>,
    /// Share of events made malformed, 0..=1.
    pub invalid_ratio: f64,
    /// Share of events published twice, 0..=1.
    pub duplicate_ratio: f64,
    /// Share of orders whose payment fails (`payment_status: "failed"`), 0..=1.
    pub payment_failure_ratio: f64,
    /// Customers in the master data (as `datagen --customers`).
    pub customers: u32,
    /// Products in the master data (as `datagen --products`).
    pub products: u32,
}

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The message data.
    pub payload: Vec<u8>,
    /// The order id (used as ordering key when asked).
    pub order_id: String,
    /// The injected defect, if malformed.
    pub defect: Option<Defect>,
    /// For a valid event: its id and exact gross amount.
    pub valid: Option<(String, Decimal)>,
    /// Whether its payment completed (it counts as revenue: docs/metrics.md).
    pub completed: bool,
    /// True for the second copy of a duplicated event.
    pub duplicate: bool,
}

/// The order whose lines are being generated: its lines share the id, the customer and
/// the payment.
#[derive(Clone)]
struct OpenOrder {
    id: String,
    customer: String,
    lines_left: u32,
    payment_method: &'static str,
    payment_status: &'static str,
}

/// Seeded generator of order events; see the module doc.
pub struct EventGenerator {
    rng: StdRng,
    products: Vec<Product>,
    customers: u32,
    config: GeneratorConfig,
    order: Option<OpenOrder>,
    order_seq: u64,
    pending_duplicate: Option<Generated>,
    ts_text: (i64, String),
}

impl EventGenerator {
    /// A generator over the master data of `config.seed`.
    pub fn new(config: GeneratorConfig) -> Self {
        let d = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("a valid date");
        let catalog = Catalog::generate(config.seed, config.customers.max(1), config.products.max(1), d, d);
        EventGenerator {
            rng: StdRng::seed_from_u64(config.events_seed.unwrap_or(config.seed) ^ 0x57BE_A000_0000_0003),
            products: catalog.products,
            customers: config.customers.max(1),
            config,
            order: None,
            order_seq: 0,
            pending_duplicate: None,
            ts_text: (i64::MIN, String::new()),
        }
    }

    /// The next message, with `now` as its event time.
    pub fn next_event(&mut self, now: DateTime<Utc>) -> Generated {
        if let Some(dup) = self.pending_duplicate.take() {
            return dup;
        }
        // An order has 1 to 4 lines that share its id; streaming order ids start with S,
        // batch ones with O, so they never collide.
        let mut order = match self.order.take() {
            Some(o) if o.lines_left > 0 => o,
            _ => {
                self.order_seq += 1;
                let tag: u32 = self.rng.random();
                let id = format!("S{:08X}-{:06}", tag, self.order_seq);
                let customer = customer_id(self.rng.random_range(1..=self.customers));
                let lines_left = self.rng.random_range(1..=4);
                let payment_method =
                    crate::batch::catalog::weighted(&mut self.rng, crate::batch::datagen::PAYMENT_METHODS);
                let failed = self.rng.random::<f64>() < self.config.payment_failure_ratio;
                OpenOrder {
                    id,
                    customer,
                    lines_left,
                    payment_method,
                    payment_status: if failed { "failed" } else { "completed" },
                }
            }
        };
        order.lines_left -= 1;
        let (order_id, customer) = (order.id.clone(), order.customer.clone());
        let (payment_method, payment_status) = (order.payment_method, order.payment_status);
        self.order = Some(order);
        let product = &self.products[self.rng.random_range(0..self.products.len())];
        let qty: i64 = crate::batch::catalog::weighted(&mut self.rng, &[(1, 60), (2, 25), (3, 10), (5, 5)]);
        let event_id = uuid::Builder::from_random_bytes(self.rng.random())
            .into_uuid()
            .hyphenated()
            .to_string();
        // The seed's timestamp text, formatted once per second of the clock.
        if self.ts_text.0 != now.timestamp() {
            self.ts_text = (now.timestamp(), now.format("%Y-%m-%d %H:%M:%S").to_string());
        }
        let ts = &self.ts_text.1;
        let mut fields: Vec<(&str, String)> = vec![
            ("event_id", format!("\"{event_id}\"")),
            ("order_id", format!("\"{order_id}\"")),
            ("customer_id", format!("\"{customer}\"")),
            ("product_id", format!("\"{}\"", product.id)),
            ("qty", qty.to_string()),
            ("unit_price", product.price.to_string()),
            ("event_ts", format!("\"{ts}\"")),
            ("payment_method", format!("\"{payment_method}\"")),
            ("payment_status", format!("\"{payment_status}\"")),
        ];
        let defect = (self.rng.random::<f64>() < self.config.invalid_ratio)
            .then(|| Defect::ALL[self.rng.random_range(0..Defect::ALL.len())]);
        let payload = match defect {
            None => render(&fields),
            Some(d) => corrupt(d, &mut fields, now),
        };
        let generated = Generated {
            payload,
            order_id,
            defect,
            valid: defect.is_none().then(|| (event_id, product.price * Decimal::from(qty))),
            completed: payment_status == "completed",
            duplicate: false,
        };
        if self.rng.random::<f64>() < self.config.duplicate_ratio {
            self.pending_duplicate = Some(Generated {
                duplicate: true,
                ..generated.clone()
            });
        }
        generated
    }
}

/// `{"k":v,...}` in one buffer.
fn render(fields: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>() + 2);
    out.push(b'{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(v.as_bytes());
    }
    out.push(b'}');
    out
}

fn set(fields: &mut [(&str, String)], name: &str, value: String) {
    if let Some(f) = fields.iter_mut().find(|f| f.0 == name) {
        f.1 = value;
    }
}

fn corrupt(d: Defect, fields: &mut Vec<(&str, String)>, now: DateTime<Utc>) -> Vec<u8> {
    match d {
        Defect::NotJson => {
            let mut p = render(fields);
            p.truncate(p.len() / 2);
            return p;
        }
        Defect::NotObject => {
            let values: Vec<&str> = fields.iter().map(|f| f.1.as_str()).collect();
            return format!("[{}]", values.join(",")).into_bytes();
        }
        Defect::InvalidUtf8 => {
            let mut p = render(fields);
            let at = p.iter().position(|&b| b == b'S').unwrap_or(1);
            p.insert(at, 0xFF);
            return p;
        }
        Defect::MissingField => fields.retain(|f| f.0 != "product_id"),
        Defect::NullField => set(fields, "customer_id", "null".into()),
        Defect::QtyAsString => set(fields, "qty", "\"2\"".into()),
        Defect::NegativeQty => set(fields, "qty", "-3".into()),
        Defect::FractionalQty => set(fields, "qty", "1.5".into()),
        Defect::ZeroQty => set(fields, "qty", "0".into()),
        Defect::NegativePrice => set(fields, "unit_price", "-19.99".into()),
        Defect::TooManyDecimals => set(fields, "unit_price", "19.9900000001".into()),
        Defect::NanPrice => set(fields, "unit_price", "\"NaN\"".into()),
        Defect::HugePrice => set(fields, "unit_price", "1e15".into()),
        Defect::BadEventId => set(fields, "event_id", "\"evt-123\"".into()),
        Defect::EmptyOrderId => set(fields, "order_id", "\"\"".into()),
        Defect::OversizedId => set(fields, "product_id", format!("\"{}\"", "P".repeat(100))),
        Defect::FutureTs => {
            let ts = (now + chrono::Duration::days(3)).format("%Y-%m-%d %H:%M:%S");
            set(fields, "event_ts", format!("\"{ts}\""));
        }
        Defect::BadTsFormat => set(fields, "event_ts", format!("\"{}\"", now.format("%d/%m/%Y %H:%M"))),
        Defect::DuplicateField => fields.push(("qty", "7".into())),
        Defect::OversizedPayload => fields.push(("notes", format!("\"{}\"", "x".repeat(MAX_PAYLOAD_BYTES + 1)))),
    }
    render(fields)
}

/// How and how much to publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// Topic id.
    pub topic: String,
    /// Stop after this many messages (duplicates included)...
    pub count: Option<u64>,
    /// ...or after this long.
    pub duration: Option<Duration>,
    /// Messages per second; 0 = as fast as possible.
    pub rate: f64,
    /// Set each message's ordering key to its order id.
    pub ordering_key: bool,
    /// The generator's settings.
    pub generator: GeneratorConfig,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Messages the server accepted.
    pub published: u64,
    /// Messages that failed after the client's retries (never counted as published).
    pub failed: u64,
    /// Valid, distinct events accepted by the server.
    pub valid_events: u64,
    /// Malformed events accepted by the server.
    pub invalid_events: u64,
    /// Second copies accepted by the server.
    pub duplicates: u64,
    /// Exact sum of gross_amount over the valid, distinct events published.
    pub gross_total: Decimal,
    /// The same over those whose payment completed: their net revenue.
    pub completed_total: Decimal,
    /// Malformed events by defect.
    pub defects: HashMap<String, u64>,
    /// Seconds the run took.
    pub seconds: f64,
    /// Published messages per second.
    pub events_per_second: f64,
}

/// Stops when the count or duration is reached.
fn done(opts: &PublishOptions, sent: u64, started: Instant) -> bool {
    opts.count.is_some_and(|c| sent >= c) || opts.duration.is_some_and(|d| started.elapsed() >= d)
}

/// Prints the events as JSON lines instead of publishing.
pub fn dry_run(opts: &PublishOptions, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut generator = EventGenerator::new(opts.generator.clone());
    let started = Instant::now();
    let mut n = 0;
    while !done(opts, n, started) && (opts.count.is_some() || opts.duration.is_some()) {
        let g = generator.next_event(Utc::now());
        out.write_all(&g.payload)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    Ok(n)
}

/// A batching publisher on `topic` (an id) of the project, after checking the topic
/// exists: a missing one is one clear sentence.
pub async fn open(gcp: &Gcp, topic: &str) -> Result<Publisher> {
    let topic = format!("projects/{}/topics/{topic}", gcp.project);
    let admin = gcp.pubsub_admin().await?;
    if let Err(e) = admin.topics.get_topic().set_topic(&topic).send().await {
        return Err(if ApiCause::status(&e).is_not_found() {
            Error::remote(
                PUBSUB,
                "find topic",
                &topic,
                Status::Http(404),
                "it does not exist: run `provision` first, or pass the right --topic",
            )
        } else {
            Error::api(PUBSUB, "find topic", &topic, e)
        });
    }
    let (endpoint, creds) = gcp.pubsub_credentials().await?;
    Publisher::builder(topic.clone())
        .with_endpoint(endpoint)
        .with_credentials(creds)
        .set_message_count_threshold(1000)
        .set_byte_threshold(4 * 1024 * 1024)
        .set_delay_threshold(Duration::from_millis(20))
        .build()
        .await
        .map_err(|e| Error::api(PUBSUB, "build", "publisher", e))
}

/// Publishes per `opts`; ends with a [`Summary`]. Checks the topic first.
pub async fn run(gcp: &Gcp, opts: &PublishOptions) -> Result<Summary> {
    let publisher = open(gcp, &opts.topic).await?;

    let mut generator = EventGenerator::new(opts.generator.clone());
    let mut summary = Summary::default();
    let mut in_flight = FuturesUnordered::new();
    let started = Instant::now();
    let progress = Progress::new("publisher", "messages", opts.count);
    let mut sent = 0u64;
    loop {
        let finished = done(opts, sent, started);
        if finished && in_flight.is_empty() {
            break;
        }
        let can_send = !finished && in_flight.len() < MAX_IN_FLIGHT;
        let due = if opts.rate > 0.0 {
            started + Duration::from_secs_f64(sent as f64 / opts.rate)
        } else {
            started
        };
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(due.into()), if can_send => {
                let g = generator.next_event(Utc::now());
                let mut attrs = HashMap::new();
                if let Some(d) = g.defect {
                    attrs.insert(DEFECT_ATTRIBUTE.to_string(), d.as_str().to_string());
                }
                if g.duplicate {
                    attrs.insert(DUPLICATE_ATTRIBUTE.to_string(), "true".to_string());
                }
                let mut msg = Message::new().set_data(bytes::Bytes::from(g.payload.clone())).set_attributes(attrs);
                if opts.ordering_key {
                    msg = msg.set_ordering_key(g.order_id.clone());
                }
                let fut = publisher.publish(msg);
                in_flight.push(async move { (fut.await, g) });
                sent += 1;
            }
            Some(r) = in_flight.next(), if !in_flight.is_empty() => account(&mut summary, r),
        }
        progress.set(summary.published + summary.failed, "");
    }
    publisher.flush().await;
    progress.finish(summary.published + summary.failed);
    summary.seconds = started.elapsed().as_secs_f64();
    summary.events_per_second = summary.published as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

fn account(s: &mut Summary, (result, g): (std::result::Result<String, impl std::fmt::Display>, Generated)) {
    match result {
        Err(error) => {
            s.failed += 1;
            tracing::warn!(message = "publish failed", %error, order_id = g.order_id);
        }
        Ok(_) => {
            s.published += 1;
            if g.duplicate {
                s.duplicates += 1;
            } else if let Some(d) = g.defect {
                s.invalid_events += 1;
                *s.defects.entry(d.as_str().to_string()).or_default() += 1;
            } else if let Some((_, gross)) = g.valid {
                s.valid_events += 1;
                s.gross_total += gross;
                if g.completed {
                    s.completed_total += gross;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::transform::validate;

    fn config(invalid: f64, dup: f64) -> GeneratorConfig {
        GeneratorConfig {
            seed: 42,
            events_seed: None,
            invalid_ratio: invalid,
            duplicate_ratio: dup,
            payment_failure_ratio: 0.06,
            customers: 500,
            products: 100,
        }
    }

    #[test]
    fn same_seed_same_events() {
        let now = Utc::now();
        let mut a = EventGenerator::new(config(0.1, 0.1));
        let mut b = EventGenerator::new(config(0.1, 0.1));
        for _ in 0..500 {
            assert_eq!(a.next_event(now), b.next_event(now));
        }
    }

    #[test]
    fn another_events_seed_gives_new_events_over_the_same_master_data() {
        let now = Utc::now();
        let mut a = EventGenerator::new(config(0.0, 0.0));
        let mut b = EventGenerator::new(GeneratorConfig {
            events_seed: Some(7),
            ..config(0.0, 0.0)
        });
        assert_eq!(a.products, b.products, "same catalogue: ids, categories, prices");
        let ids = |g: &mut EventGenerator| -> std::collections::HashSet<String> {
            (0..300).map(|_| g.next_event(now).valid.unwrap().0).collect()
        };
        assert!(ids(&mut a).is_disjoint(&ids(&mut b)), "no event id repeats");
    }

    #[test]
    fn valid_events_pass_the_worker_rules_with_the_same_gross_amount() {
        let now = Utc::now();
        let mut g = EventGenerator::new(config(0.0, 0.0));
        let mut orders = std::collections::HashSet::new();
        for _ in 0..2000 {
            let e = g.next_event(now);
            let accepted =
                validate(&e.payload, now).unwrap_or_else(|r| panic!("{r}: {:?}", String::from_utf8_lossy(&e.payload)));
            let (id, gross) = e.valid.unwrap();
            assert_eq!(accepted.sale.event_id, id);
            assert_eq!(accepted.sale.gross_amount, gross);
            assert!(accepted.sale.order_id.starts_with('S'));
            orders.insert(accepted.sale.order_id);
        }
        assert!(orders.len() < 2000, "some orders have several lines");
    }

    #[test]
    fn an_order_has_one_payment_and_the_failure_ratio_holds() {
        let now = Utc::now();
        let mut c = config(0.0, 0.0);
        c.payment_failure_ratio = 0.5;
        let mut g = EventGenerator::new(c);
        let mut payment: HashMap<String, (Option<String>, Option<&str>)> = HashMap::new();
        for _ in 0..4000 {
            let s = validate(&g.next_event(now).payload, now).unwrap().sale;
            let p = (s.payment_method, s.payment_status);
            assert!(
                p.0.is_some() && p.1.is_some(),
                "every generated line says how it was paid"
            );
            let first = payment.entry(s.order_id).or_insert_with(|| p.clone());
            assert_eq!(*first, p, "the lines of an order share its payment");
        }
        let failed = payment.values().filter(|p| p.1 == Some("failed")).count() as f64;
        let share = failed / payment.len() as f64;
        assert!(
            (0.45..0.55).contains(&share),
            "{share} of {} orders failed",
            payment.len()
        );
        let mut none = EventGenerator::new(config(0.0, 0.0));
        let mut c = config(0.0, 0.0);
        c.payment_failure_ratio = 0.0;
        none.config = c;
        assert!((0..500).all(|_| !String::from_utf8_lossy(&none.next_event(now).payload).contains("failed")));
    }

    #[test]
    fn every_defect_is_rejected_with_its_expected_kind() {
        let now = Utc::now();
        let mut seen = std::collections::HashSet::new();
        let mut g = EventGenerator::new(config(1.0, 0.0));
        for _ in 0..2000 {
            let e = g.next_event(now);
            let d = e.defect.unwrap();
            let r = validate(&e.payload, now).unwrap_err();
            assert_eq!(r.kind, d.expected(), "{d:?}: {r}");
            seen.insert(d);
        }
        assert_eq!(seen.len(), Defect::ALL.len(), "every defect is generated");
    }

    #[test]
    fn duplicates_repeat_the_same_payload() {
        let now = Utc::now();
        let mut g = EventGenerator::new(config(0.0, 0.5));
        let mut prev: Option<Generated> = None;
        let mut dups = 0;
        for _ in 0..1000 {
            let e = g.next_event(now);
            if e.duplicate {
                dups += 1;
                assert_eq!(Some(&e.payload), prev.as_ref().map(|p| &p.payload));
            }
            prev = Some(e);
        }
        assert!(dups > 200, "{dups}");
    }
}
