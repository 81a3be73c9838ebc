//! The stream worker's transform: validate one order event and compute its sale row.
//! Pure (no I/O, the clock is a parameter), so it is unit-tested rule by rule and
//! benchmarked (`cargo bench`).
//!
//! # Validation rules
//! An event is accepted only if every rule holds; the first that fails names the
//! [`RejectKind`] and a reason, and the event goes to the dead-letter table.
//!
//! 1. The payload is at most [`MAX_PAYLOAD_BYTES`] (`payload_too_large`).
//! 2. It is UTF-8 (`not_utf8`) and JSON (`invalid_json`) holding an object (`not_object`).
//! 3. A field appears at most once (`duplicate_field`); unknown fields are ignored and
//!    counted in [`Accepted::unknown_fields`].
//! 4. `event_id`, `order_id`, `customer_id`, `product_id`, `qty`, `unit_price`, `event_ts`
//!    are present and not null (`missing_field`) and of the right JSON type (`wrong_type`).
//! 5. `event_id` is a UUID (`bad_event_id`), stored in its canonical lowercase form.
//! 6. The ids are 1 to [`MAX_ID_LEN`] characters with no control characters and no
//!    leading or trailing space (`bad_id`).
//! 7. `qty` is a JSON integer from 1 to [`MAX_QTY`] (`bad_qty`): `2.0`, `-1`, `"2"` are refused.
//! 8. `unit_price` is a JSON number or a decimal string, parsed exactly from its text
//!    (never through `f64`), finite, from 0 to [`MAX_UNIT_PRICE`], with at most
//!    [`MAX_PRICE_SCALE`] fraction digits, BigQuery NUMERIC's scale (`bad_unit_price`).
//! 9. `event_ts` is `YYYY-MM-DD HH:MM:SS` (UTC, the seed's format, optional fraction) or
//!    RFC 3339 with an offset (converted to UTC), not before [`MIN_EVENT_YEAR`] and not
//!    more than [`MAX_FUTURE_SKEW_SECS`] ahead of the worker's clock (`bad_event_ts`).
//! 10. The optional InstaShop payment fields, when present and not null, are strings
//!     (`wrong_type`): `payment_method` a lowercase name of 1 to [`MAX_ID_LEN`] letters,
//!     digits and `_` (`credit_card`), `payment_status` one of [`PAYMENT_STATUSES`]
//!     (`bad_payment`). The failed-payment alert reads them; an event without them is a
//!     sale whose payment is not reported.
//!
//! `gross_amount = qty × unit_price`, exact.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Largest payload accepted: an order line is a few hundred bytes.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest id accepted (order, customer, product).
pub(crate) const MAX_ID_LEN: usize = 64;
/// Largest quantity on one order line.
pub(crate) const MAX_QTY: i64 = 10_000;
/// Largest unit price: 10 million, in the shop's currency.
pub(crate) const MAX_UNIT_PRICE: Decimal = Decimal::from_parts(10_000_000, 0, 0, false, 0);
/// Fraction digits of BigQuery NUMERIC.
pub(crate) const MAX_PRICE_SCALE: u32 = crate::model::NUMERIC_SCALE;
/// Events from before this year are refused as corrupt.
pub(crate) const MIN_EVENT_YEAR: i32 = 2000;
/// How far ahead of the worker's clock an event may be (clock skew between producers).
pub(crate) const MAX_FUTURE_SKEW_SECS: i64 = 24 * 3600;
/// The values of `payment_status`: the words of the batch `orders.status`. Only a
/// `completed` sale counts as revenue (docs/metrics.md); a shop that streams a refund
/// sends the order's lines as `refunded`.
pub(crate) const PAYMENT_STATUSES: [&str; 3] = ["completed", "failed", "refunded"];

/// Why an event was refused: the `error_kind` column of the dead-letter table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// Rule 1.
    PayloadTooLarge,
    /// Rule 2: not UTF-8.
    NotUtf8,
    /// Rule 2: not JSON.
    InvalidJson,
    /// Rule 2: JSON, but not an object.
    NotObject,
    /// Rule 3.
    DuplicateField,
    /// Rule 4: absent or null.
    MissingField,
    /// Rule 4: present with the wrong JSON type.
    WrongType,
    /// Rule 5.
    BadEventId,
    /// Rule 6.
    BadId,
    /// Rule 7.
    BadQty,
    /// Rule 8.
    BadUnitPrice,
    /// Rule 9.
    BadEventTs,
    /// Rule 10.
    BadPayment,
    /// Valid by these rules, but BigQuery refused to store its row (AppendRows
    /// `row_errors`, insertAll `insertErrors`); the reason is BigQuery's.
    RefusedByBigQuery,
}

impl RejectKind {
    /// Every kind, for metrics.
    pub const ALL: [RejectKind; 14] = [
        RejectKind::PayloadTooLarge,
        RejectKind::NotUtf8,
        RejectKind::InvalidJson,
        RejectKind::NotObject,
        RejectKind::DuplicateField,
        RejectKind::MissingField,
        RejectKind::WrongType,
        RejectKind::BadEventId,
        RejectKind::BadId,
        RejectKind::BadQty,
        RejectKind::BadUnitPrice,
        RejectKind::BadEventTs,
        RejectKind::BadPayment,
        RejectKind::RefusedByBigQuery,
    ];

    /// The snake_case name stored in `error_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::PayloadTooLarge => "payload_too_large",
            RejectKind::NotUtf8 => "not_utf8",
            RejectKind::InvalidJson => "invalid_json",
            RejectKind::NotObject => "not_object",
            RejectKind::DuplicateField => "duplicate_field",
            RejectKind::MissingField => "missing_field",
            RejectKind::WrongType => "wrong_type",
            RejectKind::BadEventId => "bad_event_id",
            RejectKind::BadId => "bad_id",
            RejectKind::BadQty => "bad_qty",
            RejectKind::BadUnitPrice => "bad_unit_price",
            RejectKind::BadEventTs => "bad_event_ts",
            RejectKind::BadPayment => "bad_payment",
            RejectKind::RefusedByBigQuery => "refused_by_bigquery",
        }
    }
}

/// A refused event: its kind and a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Machine-readable kind.
    pub kind: RejectKind,
    /// What was wrong, for a person.
    pub reason: String,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.reason)
    }
}

fn reject(kind: RejectKind, reason: impl Into<String>) -> Reject {
    Reject {
        kind,
        reason: reason.into(),
    }
}

/// A valid sale, ready to be written to `fact_sales_streaming`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// Canonical lowercase UUID.
    pub event_id: String,
    /// Order id.
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Product id.
    pub product_id: String,
    /// Units, 1..=MAX_QTY.
    pub qty: i64,
    /// Exact unit price.
    pub unit_price: Decimal,
    /// qty × unit_price, exact.
    pub gross_amount: Decimal,
    /// When the sale happened, UTC.
    pub event_ts: DateTime<Utc>,
    /// How it was paid, when the producer says (`credit_card`, `paypal`, ...).
    pub payment_method: Option<String>,
    /// `completed` or `failed`, when the producer says.
    pub payment_status: Option<&'static str>,
}

/// The outcome of validating an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The sale.
    pub sale: Sale,
    /// Fields present that the event shape does not know (ignored).
    pub unknown_fields: u32,
}

/// The fields of an event, as raw JSON text, borrowed from the payload.
#[derive(Default)]
struct RawEvent<'a> {
    payment_method: Option<&'a RawValue>,
    payment_status: Option<&'a RawValue>,
    event_id: Option<&'a RawValue>,
    order_id: Option<&'a RawValue>,
    customer_id: Option<&'a RawValue>,
    product_id: Option<&'a RawValue>,
    qty: Option<&'a RawValue>,
    unit_price: Option<&'a RawValue>,
    event_ts: Option<&'a RawValue>,
    unknown: u32,
    duplicate: Option<&'static str>,
}

struct RawEventVisitor;

impl<'de> Visitor<'de> for RawEventVisitor {
    type Value = RawEvent<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ev = RawEvent::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let (slot, name) = match key.as_ref() {
                "event_id" => (&mut ev.event_id, "event_id"),
                "order_id" => (&mut ev.order_id, "order_id"),
                "customer_id" => (&mut ev.customer_id, "customer_id"),
                "product_id" => (&mut ev.product_id, "product_id"),
                "qty" => (&mut ev.qty, "qty"),
                "unit_price" => (&mut ev.unit_price, "unit_price"),
                "event_ts" => (&mut ev.event_ts, "event_ts"),
                "payment_method" => (&mut ev.payment_method, "payment_method"),
                "payment_status" => (&mut ev.payment_status, "payment_status"),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    ev.unknown += 1;
                    continue;
                }
            };
            let value: &'de RawValue = map.next_value()?;
            if slot.is_some() {
                ev.duplicate.get_or_insert(name);
            }
            *slot = Some(value);
        }
        Ok(ev)
    }
}

impl<'de> serde::Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawEventVisitor)
    }
}

/// Validates one payload against the rules above, with `now` as the worker's clock.
pub fn validate(payload: &[u8], now: DateTime<Utc>) -> Result<Accepted, Reject> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(reject(
            RejectKind::PayloadTooLarge,
            format!("payload is {} bytes; the limit is {MAX_PAYLOAD_BYTES}", payload.len()),
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| {
        reject(
            RejectKind::NotUtf8,
            format!("payload is not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
        )
    })?;
    let first = text.trim_start().chars().next();
    if first != Some('{') {
        // Tell "valid JSON but not an object" from "not JSON".
        return Err(match serde_json::from_str::<de::IgnoredAny>(text) {
            Ok(_) => reject(RejectKind::NotObject, "payload is JSON but not an object"),
            Err(e) => reject(RejectKind::InvalidJson, format!("payload is not JSON: {e}")),
        });
    }
    let raw: RawEvent = serde_json::from_str(text)
        .map_err(|e| reject(RejectKind::InvalidJson, format!("payload is not valid JSON: {e}")))?;
    if let Some(name) = raw.duplicate {
        return Err(reject(
            RejectKind::DuplicateField,
            format!("field {name} appears more than once"),
        ));
    }

    let event_id = string_field("event_id", raw.event_id)?;
    let event_id = uuid::Uuid::try_parse(&event_id)
        .map_err(|_| {
            reject(
                RejectKind::BadEventId,
                format!("event_id {:?} is not a UUID", truncate(&event_id)),
            )
        })?
        .hyphenated()
        .to_string();
    let order_id = id_field("order_id", raw.order_id)?;
    let customer_id = id_field("customer_id", raw.customer_id)?;
    let product_id = id_field("product_id", raw.product_id)?;
    let qty = qty_field(raw.qty)?;
    let unit_price = price_field(raw.unit_price)?;
    let event_ts = ts_field(raw.event_ts, now)?;
    let payment_method = payment_method_field(raw.payment_method)?;
    let payment_status = payment_status_field(raw.payment_status)?;
    let gross_amount = unit_price
        .checked_mul(Decimal::from(qty))
        .ok_or_else(|| reject(RejectKind::BadUnitPrice, "qty × unit_price does not fit a NUMERIC"))?;
    Ok(Accepted {
        sale: Sale {
            event_id,
            order_id,
            customer_id,
            product_id,
            qty,
            unit_price,
            gross_amount,
            event_ts,
            payment_method,
            payment_status,
        },
        unknown_fields: raw.unknown,
    })
}

/// At most 40 characters of a value, for reasons.
fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

fn present<'a>(name: &str, raw: Option<&'a RawValue>) -> Result<&'a str, Reject> {
    match raw.map(RawValue::get) {
        None => Err(reject(
            RejectKind::MissingField,
            format!("required field {name} is missing"),
        )),
        Some("null") => Err(reject(
            RejectKind::MissingField,
            format!("required field {name} is null"),
        )),
        Some(text) => Ok(text),
    }
}

fn json_type(text: &str) -> &'static str {
    match text.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

fn string_field(name: &str, raw: Option<&RawValue>) -> Result<String, Reject> {
    let text = present(name, raw)?;
    if !text.starts_with('"') {
        return Err(reject(
            RejectKind::WrongType,
            format!("{name} must be a string, not {}", json_type(text)),
        ));
    }
    // No escapes (the usual case): the text between the quotes is the value.
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Ok(inner.to_string());
    }
    serde_json::from_str::<String>(text).map_err(|e| reject(RejectKind::InvalidJson, format!("{name}: {e}")))
}

fn id_field(name: &str, raw: Option<&RawValue>) -> Result<String, Reject> {
    let v = string_field(name, raw)?;
    let chars = v.chars().count();
    if chars == 0 || chars > MAX_ID_LEN {
        return Err(reject(
            RejectKind::BadId,
            format!("{name} must be 1 to {MAX_ID_LEN} characters, got {chars}"),
        ));
    }
    if v.chars().any(char::is_control) || v.trim() != v {
        return Err(reject(
            RejectKind::BadId,
            format!("{name} {:?} has control characters or surrounding spaces", truncate(&v)),
        ));
    }
    Ok(v)
}

fn qty_field(raw: Option<&RawValue>) -> Result<i64, Reject> {
    let text = present("qty", raw)?;
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(reject(
            RejectKind::WrongType,
            format!("qty must be a number, not {}", json_type(text)),
        ));
    }
    if !text.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) {
        return Err(reject(
            RejectKind::BadQty,
            format!("qty must be a whole number, got {}", truncate(text)),
        ));
    }
    match text.parse::<i64>() {
        Ok(q) if (1..=MAX_QTY).contains(&q) => Ok(q),
        _ => Err(reject(
            RejectKind::BadQty,
            format!("qty must be from 1 to {MAX_QTY}, got {}", truncate(text)),
        )),
    }
}

fn price_field(raw: Option<&RawValue>) -> Result<Decimal, Reject> {
    let text = present("unit_price", raw)?;
    let literal = match text.as_bytes()[0] {
        b'"' => {
            let s = string_field("unit_price", raw)?;
            // A decimal string must look like a JSON number: "NaN", "Infinity", "1,5" are not.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
                return Err(reject(
                    RejectKind::BadUnitPrice,
                    format!("unit_price {:?} is not a finite decimal number", truncate(&s)),
                ));
            }
            s
        }
        b'-' | b'0'..=b'9' => text.to_string(),
        _ => {
            return Err(reject(
                RejectKind::WrongType,
                format!(
                    "unit_price must be a number or a decimal string, not {}",
                    json_type(text)
                ),
            ));
        }
    };
    let bad = |why: &str| {
        reject(
            RejectKind::BadUnitPrice,
            format!("unit_price {}: {why}", truncate(&literal)),
        )
    };
    let price = if literal.contains(['e', 'E']) {
        Decimal::from_scientific(&literal).map_err(|_| bad("is not a decimal NUMERIC can hold"))?
    } else {
        Decimal::from_str_exact(&literal).map_err(|_| bad("is not a decimal NUMERIC can hold"))?
    };
    if price.is_sign_negative() && !price.is_zero() {
        return Err(bad("must not be negative"));
    }
    if price.normalize().scale() > MAX_PRICE_SCALE {
        return Err(bad(&format!("has more than {MAX_PRICE_SCALE} decimal places")));
    }
    if price > MAX_UNIT_PRICE {
        return Err(bad(&format!("exceeds the maximum of {MAX_UNIT_PRICE}")));
    }
    Ok(price.normalize())
}

fn ts_field(raw: Option<&RawValue>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Reject> {
    let s = string_field("event_ts", raw)?;
    let bad = |why: String| reject(RejectKind::BadEventTs, why);
    let ts = crate::model::parse_utc_ts(&s).ok_or_else(|| {
        bad(format!(
            "event_ts {:?} is neither \"YYYY-MM-DD HH:MM:SS\" (UTC) nor RFC 3339 with an offset",
            truncate(&s)
        ))
    })?;
    if chrono::Datelike::year(&ts) < MIN_EVENT_YEAR {
        return Err(bad(format!("event_ts {s} is before {MIN_EVENT_YEAR}")));
    }
    if (ts - now).num_seconds() > MAX_FUTURE_SKEW_SECS {
        return Err(bad(format!(
            "event_ts {s} is more than {}h in the future",
            MAX_FUTURE_SKEW_SECS / 3600
        )));
    }
    Ok(ts)
}

/// An optional field: `None` when absent or null.
fn optional(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

fn payment_method_field(raw: Option<&RawValue>) -> Result<Option<String>, Reject> {
    let Some(raw) = optional(raw) else { return Ok(None) };
    let v = string_field("payment_method", Some(raw))?;
    let ok = (1..=MAX_ID_LEN).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !ok {
        return Err(reject(
            RejectKind::BadPayment,
            format!(
                "payment_method {:?} must be 1 to {MAX_ID_LEN} lowercase letters, digits or _",
                truncate(&v)
            ),
        ));
    }
    Ok(Some(v))
}

fn payment_status_field(raw: Option<&RawValue>) -> Result<Option<&'static str>, Reject> {
    let Some(raw) = optional(raw) else { return Ok(None) };
    let v = string_field("payment_status", Some(raw))?;
    match PAYMENT_STATUSES.iter().find(|s| **s == v) {
        Some(s) => Ok(Some(s)),
        None => Err(reject(
            RejectKind::BadPayment,
            format!(
                "payment_status {:?} must be one of {}",
                truncate(&v),
                PAYMENT_STATUSES.join(", ")
            ),
        )),
    }
}

impl FromStr for RejectKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        RejectKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 9, 15, 15, 0, 0).unwrap()
    }

    const GOOD: &str = r#"{"event_id":"123e4567-e89b-12d3-a456-426614174000","order_id":"O1234","customer_id":"C054","product_id":"P002","qty":2,"unit_price":120.50,"event_ts":"2025-09-15 14:23:55"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(GOOD).unwrap();
        v.remove(field);
        let rest = serde_json::to_string(&v).unwrap();
        format!("{{\"{field}\":{value},{}", &rest[1..])
    }

    fn without(field: &str) -> String {
        let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(GOOD).unwrap();
        v.remove(field);
        serde_json::to_string(&v).unwrap()
    }

    fn kind(payload: &[u8]) -> RejectKind {
        validate(payload, now()).unwrap_err().kind
    }

    #[test]
    fn the_seed_event_is_accepted_with_exact_gross_amount() {
        let a = validate(GOOD.as_bytes(), now()).unwrap();
        assert_eq!(a.sale.gross_amount.to_string(), "241.0");
        assert_eq!(a.sale.unit_price, Decimal::from_str("120.5").unwrap());
        assert_eq!(a.sale.event_ts, Utc.with_ymd_and_hms(2025, 9, 15, 14, 23, 55).unwrap());
        assert_eq!(a.sale.event_id, "123e4567-e89b-12d3-a456-426614174000");
        assert_eq!(a.unknown_fields, 0);
    }

    #[test]
    fn prices_are_parsed_exactly_never_through_floats() {
        let a = validate(with("unit_price", "0.1").as_bytes(), now()).unwrap();
        assert_eq!((a.sale.gross_amount).to_string(), "0.2");
        let a = validate(with("unit_price", "\"1465.680000001\"").as_bytes(), now()).unwrap();
        assert_eq!(a.sale.gross_amount.to_string(), "2931.360000002");
        let a = validate(with("unit_price", "1.5e2").as_bytes(), now()).unwrap();
        assert_eq!(a.sale.unit_price.to_string(), "150");
        let a = validate(with("unit_price", "0").as_bytes(), now()).unwrap();
        assert!(a.sale.gross_amount.is_zero());
    }

    #[test]
    fn rule_1_payload_size() {
        let big = with("order_id", &format!("\"{}\"", "x".repeat(MAX_PAYLOAD_BYTES)));
        assert_eq!(kind(big.as_bytes()), RejectKind::PayloadTooLarge);
    }

    #[test]
    fn rule_2_utf8_json_object() {
        assert_eq!(kind(b"\xff\xfe{}"), RejectKind::NotUtf8);
        assert_eq!(kind(b"not json"), RejectKind::InvalidJson);
        assert_eq!(kind(b"{\"event_id\": "), RejectKind::InvalidJson);
        assert_eq!(kind(b"[1,2]"), RejectKind::NotObject);
        assert_eq!(kind(b"42"), RejectKind::NotObject);
        assert_eq!(kind(b""), RejectKind::InvalidJson);
    }

    #[test]
    fn rule_3_duplicates_refused_unknown_fields_counted() {
        let dup = format!("{},\"qty\":3}}", &GOOD[..GOOD.len() - 1]);
        assert_eq!(kind(dup.as_bytes()), RejectKind::DuplicateField);
        let extra = format!("{},\"coupon\":\"X\",\"meta\":{{\"a\":[1]}}}}", &GOOD[..GOOD.len() - 1]);
        assert_eq!(validate(extra.as_bytes(), now()).unwrap().unknown_fields, 2);
    }

    #[test]
    fn rule_4_required_fields_and_types() {
        for f in [
            "event_id",
            "order_id",
            "customer_id",
            "product_id",
            "qty",
            "unit_price",
            "event_ts",
        ] {
            assert_eq!(kind(without(f).as_bytes()), RejectKind::MissingField, "{f} missing");
            assert_eq!(kind(with(f, "null").as_bytes()), RejectKind::MissingField, "{f} null");
        }
        assert_eq!(kind(with("order_id", "1234").as_bytes()), RejectKind::WrongType);
        assert_eq!(kind(with("qty", "\"2\"").as_bytes()), RejectKind::WrongType);
        assert_eq!(kind(with("unit_price", "true").as_bytes()), RejectKind::WrongType);
        assert_eq!(kind(with("event_ts", "1694787835").as_bytes()), RejectKind::WrongType);
        assert_eq!(kind(with("customer_id", "[\"C1\"]").as_bytes()), RejectKind::WrongType);
    }

    #[test]
    fn rule_5_event_id_is_a_uuid() {
        assert_eq!(kind(with("event_id", "\"evt-1\"").as_bytes()), RejectKind::BadEventId);
        assert_eq!(kind(with("event_id", "\"\"").as_bytes()), RejectKind::BadEventId);
        let a = validate(
            with("event_id", "\"123E4567E89B12D3A456426614174000\"").as_bytes(),
            now(),
        )
        .unwrap();
        assert_eq!(
            a.sale.event_id, "123e4567-e89b-12d3-a456-426614174000",
            "canonical form"
        );
    }

    #[test]
    fn rule_6_ids() {
        assert_eq!(kind(with("order_id", "\"\"").as_bytes()), RejectKind::BadId);
        assert_eq!(
            kind(with("product_id", &format!("\"{}\"", "P".repeat(65))).as_bytes()),
            RejectKind::BadId
        );
        assert_eq!(kind(with("customer_id", "\"C\\u0000\"").as_bytes()), RejectKind::BadId);
        assert_eq!(kind(with("customer_id", "\" C1\"").as_bytes()), RejectKind::BadId);
        let a = validate(with("customer_id", "\"Cñ\\u00e9\"").as_bytes(), now()).unwrap();
        assert_eq!(a.sale.customer_id, "Cñé");
    }

    #[test]
    fn rule_7_qty() {
        for bad in ["0", "-1", "2.0", "1.5", "1e2", "10001", "99999999999999999999"] {
            assert_eq!(kind(with("qty", bad).as_bytes()), RejectKind::BadQty, "qty {bad}");
        }
        assert_eq!(
            validate(with("qty", "10000").as_bytes(), now()).unwrap().sale.qty,
            10_000
        );
    }

    #[test]
    fn rule_8_unit_price() {
        for bad in [
            "-0.01",
            "\"NaN\"",
            "\"Infinity\"",
            "1e400",
            "0.0000000001",
            "10000000.01",
            "\"12,50\"",
            "\"\"",
            "123456789012345678901234567890",
        ] {
            assert_eq!(
                kind(with("unit_price", bad).as_bytes()),
                RejectKind::BadUnitPrice,
                "price {bad}"
            );
        }
        let a = validate(with("unit_price", "0.000000001").as_bytes(), now()).unwrap();
        assert_eq!(a.sale.unit_price.to_string(), "0.000000001");
        let a = validate(with("unit_price", "12.500000000000").as_bytes(), now()).unwrap();
        assert_eq!(
            a.sale.unit_price.to_string(),
            "12.5",
            "trailing zeros are not extra decimals"
        );
    }

    #[test]
    fn rule_10_optional_payment_fields() {
        let sale = |field: &str, value: &str| validate(with(field, value).as_bytes(), now()).map(|a| a.sale);
        let plain = validate(GOOD.as_bytes(), now()).unwrap().sale;
        assert_eq!((plain.payment_method, plain.payment_status), (None, None));
        assert_eq!(
            sale("payment_status", "\"failed\"").unwrap().payment_status,
            Some("failed")
        );
        assert_eq!(
            sale("payment_status", "\"completed\"").unwrap().payment_status,
            Some("completed")
        );
        assert_eq!(
            sale("payment_status", "\"refunded\"").unwrap().payment_status,
            Some("refunded")
        );
        assert_eq!(sale("payment_status", "null").unwrap().payment_status, None);
        assert_eq!(
            sale("payment_method", "\"credit_card\"")
                .unwrap()
                .payment_method
                .as_deref(),
            Some("credit_card")
        );
        for bad in ["\"FAILED\"", "\"refund\"", "\"\""] {
            let r = sale("payment_status", bad).unwrap_err();
            assert_eq!(r.kind, RejectKind::BadPayment, "{bad}");
            assert!(r.reason.contains("completed, failed, refunded"), "{}", r.reason);
        }
        for bad in ["\"Credit Card\"", "\"\"", "\"card-1\""] {
            assert_eq!(
                sale("payment_method", bad).unwrap_err().kind,
                RejectKind::BadPayment,
                "{bad}"
            );
        }
        assert_eq!(kind(with("payment_status", "1").as_bytes()), RejectKind::WrongType);
        assert_eq!(kind(with("payment_method", "true").as_bytes()), RejectKind::WrongType);
    }

    #[test]
    fn rule_9_event_ts() {
        let ok = |ts: &str| {
            validate(with("event_ts", &format!("\"{ts}\"")).as_bytes(), now())
                .unwrap()
                .sale
                .event_ts
        };
        assert_eq!(
            ok("2025-09-15T11:23:55-03:00"),
            Utc.with_ymd_and_hms(2025, 9, 15, 14, 23, 55).unwrap()
        );
        assert_eq!(
            ok("2025-09-15T14:23:55Z"),
            Utc.with_ymd_and_hms(2025, 9, 15, 14, 23, 55).unwrap()
        );
        assert_eq!(
            ok("2025-09-16 14:59:59"),
            Utc.with_ymd_and_hms(2025, 9, 16, 14, 59, 59).unwrap()
        );
        for bad in [
            "2025-09-15",
            "15/09/2025 14:23:55",
            "2025-09-15T14:23:55",
            "2025-02-30 10:00:00",
            "1999-12-31 23:59:59",
            "2025-09-16 15:00:01",
            "2125-01-01 00:00:00",
            "",
        ] {
            assert_eq!(
                kind(with("event_ts", &format!("\"{bad}\"")).as_bytes()),
                RejectKind::BadEventTs,
                "{bad}"
            );
        }
    }

    #[test]
    fn every_reject_kind_has_a_distinct_name_that_round_trips() {
        let names: std::collections::HashSet<&str> = RejectKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), RejectKind::ALL.len());
        for k in RejectKind::ALL {
            assert_eq!(RejectKind::from_str(k.as_str()), Ok(k));
        }
    }
}
