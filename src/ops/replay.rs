//! `replay`: dead letters back into the flow after a fix.
//!
//! Reads the dead letters of `v_dead_letters` (one row per rejected message) that a
//! selection names (error kinds, a time range, message ids; all by default), skips those
//! already replayed (recorded in `fact_sales_replay`), runs each raw payload through
//! today's rules ([`crate::streaming::transform::validate`]), optionally after explicit repairs
//! ([`Repair`]), and republishes the ones that now pass to the orders topic: the same
//! bytes when nothing was repaired, with their attributes plus [`REPLAY_ATTRIBUTE`]
//! naming the dead letter. Each outcome is recorded in `fact_sales_replay` after the
//! publish, so a run killed midway republishes at most what it had not recorded; the
//! views count each `event_id` once, so results stay exact either way.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use google_cloud_pubsub::model::Message;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::platform::error::{Error, Result, Status};
use crate::platform::gcp::{BIGQUERY, BigQuery, Gcp, PUBSUB};
use crate::streaming::transform::{Reject, RejectKind};

/// The table of what replays did.
pub(crate) const REPLAY_TABLE: &str = "fact_sales_replay";
/// Attribute of a republished message: the message id of the dead letter it came from.
pub(crate) const REPLAY_ATTRIBUTE: &str = "instashop_replay_of";
/// Attribute of a republished message whose payload was repaired: the repairs.
pub(crate) const REPAIR_ATTRIBUTE: &str = "instashop_repaired";
/// How long a selection query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// An explicit repair of a common, fixable defect, applied only when asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Repair {
    /// `qty` or `unit_price` sent as a JSON string holding a plain number (`"3"`,
    /// `"12.50"`, or with a decimal comma `"12,50"`): made that number, digits unchanged.
    NumericStrings,
    /// `event_ts` written day first, `DD/MM/YYYY HH:MM[:SS]` (UTC): rewritten as
    /// `YYYY-MM-DD HH:MM:SS`.
    DayFirstTs,
}

impl Repair {
    /// Its name, as the flag and the records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Repair::NumericStrings => "numeric-strings",
            Repair::DayFirstTs => "day-first-ts",
        }
    }

    /// Repairs one field of the event in place; says what changed.
    fn apply(self, fields: &mut [(String, Box<RawValue>)]) -> Vec<String> {
        let mut changes = Vec::new();
        for (name, value) in fields.iter_mut() {
            let Ok(text) = serde_json::from_str::<String>(value.get()) else {
                continue; // only strings are repaired
            };
            let fixed = match (self, name.as_str()) {
                (Repair::NumericStrings, "qty") if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(text.clone())
                }
                (Repair::NumericStrings, "unit_price") => plain_decimal(&text.replace(',', ".")),
                (Repair::DayFirstTs, "event_ts") => day_first(&text).map(|t| format!("\"{t}\"")),
                _ => None,
            };
            if let Some(fixed) = fixed.and_then(|f| RawValue::from_string(f).ok()) {
                changes.push(format!("{name} {} -> {}", value.get(), fixed.get()));
                *value = fixed;
            }
        }
        changes
    }
}

/// `text` if it is a plain decimal number (digits, at most one point).
fn plain_decimal(text: &str) -> Option<String> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && digits(int) && digits(frac) && !text.ends_with('.')).then(|| text.to_string())
}

/// A day-first timestamp as the rules' `YYYY-MM-DD HH:MM:SS`.
fn day_first(text: &str) -> Option<String> {
    NaiveDateTime::parse_from_str(text, "%d/%m/%Y %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%d/%m/%Y %H:%M"))
        .ok()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Applies `repairs` to a JSON object payload; `None` when none of them changed anything
/// (or the payload is not a JSON object, which no repair fixes). Field order is kept.
pub fn repair(payload: &[u8], repairs: &[Repair]) -> Option<(Vec<u8>, Vec<String>)> {
    if repairs.is_empty() {
        return None;
    }
    // Each value's exact text (prices stay exact), in the fields' order.
    let mut fields = ordered_fields(payload)?;
    let mut changes = Vec::new();
    for r in repairs {
        changes.extend(r.apply(&mut fields).into_iter().map(|c| format!("{}: {c}", r.as_str())));
    }
    if changes.is_empty() {
        return None;
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).expect("a string serialises"), v.get()))
        .collect();
    Some((format!("{{{}}}", body.join(",")).into_bytes(), changes))
}

/// The top-level fields of a JSON object, in the order written, each value as its raw
/// text; `None` when the payload is not a JSON object.
fn ordered_fields(payload: &[u8]) -> Option<Vec<(String, Box<RawValue>)>> {
    struct Fields;
    impl<'de> serde::de::Visitor<'de> for Fields {
        type Value = Vec<(String, Box<RawValue>)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(entry) = m.next_entry::<String, Box<RawValue>>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    serde::Deserializer::deserialize_map(&mut de, Fields).ok()
}

/// One dead letter as read back.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterRow {
    /// Pub/Sub message id of the rejected message: the dead letter's key.
    pub message_id: String,
    /// The payload exactly as received.
    pub payload: Vec<u8>,
    /// Its attributes.
    pub attributes: HashMap<String, String>,
    /// Why it was rejected then.
    pub error_kind: String,
    /// The whole payload's size when `payload` is only its first 64 KiB (the worker kept
    /// the rest in the bucket, at the row's `payload_uri`).
    pub cut_from: Option<u64>,
}

/// What replay does with one dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// It passes today's rules: publish these bytes (repaired, if the list says so).
    Publish {
        /// The payload to publish.
        payload: Vec<u8>,
        /// The repairs made, empty when the bytes are unchanged.
        repairs: Vec<String>,
    },
    /// It still fails, for this reason.
    StillInvalid(Reject),
}

/// Today's verdict on one dead letter, with `repairs` applied if they change it.
///
/// A payload the row holds only the start of was over 64 KiB, so it fails rule 1 as it
/// did then, whatever the repairs: judged by its recorded size, never by the start
/// (which may well be a valid event followed by the bulk that made it too large).
pub(crate) fn decide(row: &DeadLetterRow, repairs: &[Repair], now: DateTime<Utc>) -> Decision {
    if let Some(size) = row.cut_from {
        return Decision::StillInvalid(Reject {
            kind: RejectKind::PayloadTooLarge,
            reason: format!(
                "payload is {size} bytes, over the {} an event may have (the dead letter holds its first {} bytes; payload_uri has it whole)",
                crate::streaming::transform::MAX_PAYLOAD_BYTES,
                crate::streaming::sink::DEAD_LETTER_INLINE_BYTES
            ),
        });
    }
    let (payload, changes) = repair(&row.payload, repairs).unwrap_or_else(|| (row.payload.clone(), Vec::new()));
    match crate::streaming::transform::validate(&payload, now) {
        Ok(_) => Decision::Publish {
            payload,
            repairs: changes,
        },
        Err(reject) => Decision::StillInvalid(reject),
    }
}

/// Which dead letters to consider; empty means all.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Error kinds (`bad_event_ts`, ...).
    pub kinds: Vec<RejectKind>,
    /// Written at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Written before this.
    pub until: Option<DateTime<Utc>>,
    /// These message ids only.
    pub message_ids: Vec<String>,
}

impl Selection {
    /// The WHERE clause (values are checked: kinds are known names, ids are plain).
    pub(crate) fn where_sql(&self) -> Result<String> {
        let mut parts = vec!["TRUE".to_string()];
        if !self.kinds.is_empty() {
            let kinds: Vec<String> = self.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect();
            parts.push(format!("error_kind IN ({})", kinds.join(", ")));
        }
        let at = |t: &DateTime<Utc>| format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"));
        if let Some(t) = &self.since {
            parts.push(format!("ingest_ts >= {}", at(t)));
        }
        if let Some(t) = &self.until {
            parts.push(format!("ingest_ts < {}", at(t)));
        }
        if !self.message_ids.is_empty() {
            for id in &self.message_ids {
                if id.is_empty()
                    || id.len() > 128
                    || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(Error::Setting {
                        name: "--message-id",
                        value: id.clone(),
                        reason: "a message id is letters, digits, - and _".into(),
                    });
                }
            }
            let ids: Vec<String> = self.message_ids.iter().map(|i| format!("'{i}'")).collect();
            parts.push(format!("message_id IN ({})", ids.join(", ")));
        }
        Ok(parts.join(" AND "))
    }
}

/// What one replay run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Dataset of the dead letters and the replay records.
    pub dataset: String,
    /// Topic to republish to.
    pub topic: String,
    /// Which dead letters.
    pub selection: Selection,
    /// Repairs to apply.
    pub repairs: Vec<Repair>,
    /// Decide and report, publish and record nothing.
    pub dry_run: bool,
    /// Replay the messages Pub/Sub itself dead-lettered (delivery failures), from the
    /// dead-letter topic's keep-subscription, instead of the worker's dead-letter rows.
    pub from_topic: bool,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Republished (or would be).
    pub replayed: u64,
    /// Of those, repaired first.
    pub repaired: u64,
    /// Still invalid, by error kind.
    pub still_invalid: BTreeMap<String, u64>,
    /// Selected but replayed by an earlier run.
    pub already_replayed: u64,
    /// Whether nothing was published or recorded.
    pub dry_run: bool,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let invalid: u64 = self.still_invalid.values().sum();
        let kinds: Vec<String> = self.still_invalid.iter().map(|(k, n)| format!("{k} {n}")).collect();
        write!(
            f,
            "{}{} {} ({} repaired), {} still invalid{}, {} already replayed",
            if self.dry_run {
                "dry run, nothing published: "
            } else {
                ""
            },
            self.replayed,
            if self.dry_run { "would be replayed" } else { "replayed" },
            self.repaired,
            invalid,
            if kinds.is_empty() {
                String::new()
            } else {
                format!(" ({})", kinds.join(", "))
            },
            self.already_replayed
        )
    }
}

/// Reads the selected dead letters and the ids already replayed.
async fn read(gcp: &Gcp, bq: &BigQuery, opts: &Options) -> Result<(Vec<DeadLetterRow>, BTreeSet<String>)> {
    let (p, d) = (&gcp.project, &opts.dataset);
    let sql = format!(
        "SELECT message_id, raw_payload, TO_JSON_STRING(attributes) AS attributes_json, error_kind, payload_bytes \
         FROM `{p}.{d}.v_dead_letters` WHERE {} ORDER BY ingest_ts, message_id",
        opts.selection.where_sql()?
    );
    let rows = bq.query(p, &sql, QUERY_TIMEOUT).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut letters = Vec::new();
    for r in rows.rows {
        let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let payload = b64.decode(cell(1)).map_err(|e| {
            Error::remote(
                BIGQUERY,
                "read dead letters",
                d,
                Status::Other,
                format!("raw_payload is not base64: {e}"),
            )
        })?;
        let attributes: HashMap<String, String> = serde_json::from_str::<Value>(&cell(2))
            .ok()
            .and_then(|v| {
                // TO_JSON_STRING of a JSON column holding a JSON text gives that text quoted.
                let v = match v {
                    Value::String(s) => serde_json::from_str(&s).ok()?,
                    other => other,
                };
                serde_json::from_value(v).ok()
            })
            .unwrap_or_default();
        // A row of an older worker has no size: its payload is whole.
        let size: Option<u64> = r.get(4).cloned().flatten().and_then(|n| n.parse().ok());
        let cut_from = size.filter(|&n| n > payload.len() as u64);
        letters.push(DeadLetterRow {
            message_id: cell(0),
            payload,
            attributes,
            error_kind: cell(3),
            cut_from,
        });
    }
    let done = replayed_ids(gcp, bq, opts).await?;
    Ok((letters, done))
}

/// Runs one replay: selects, decides, publishes what now passes, records every outcome.
pub async fn run(gcp: &Gcp, opts: &Options) -> Result<Summary> {
    if opts.from_topic {
        return from_subscription(gcp, opts).await;
    }
    let run = Run::open(gcp, opts).await?;
    let (letters, done) = read(gcp, &run.bq, opts).await?;
    replay_letters(gcp, &run, opts, letters, &done)
        .await
        .map(|(summary, _)| summary)
}

/// The ids of the dead letters already replayed.
async fn replayed_ids(gcp: &Gcp, bq: &BigQuery, opts: &Options) -> Result<BTreeSet<String>> {
    let (p, d) = (&gcp.project, &opts.dataset);
    let sql =
        format!("SELECT DISTINCT dead_letter_message_id FROM `{p}.{d}.{REPLAY_TABLE}` WHERE outcome = 'replayed'");
    Ok(bq
        .query(p, &sql, QUERY_TIMEOUT)
        .await?
        .rows
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

/// Replays `letters` (skipping the `done` ones); returns the summary and, per letter, whether
/// it is settled (replayed now or before) rather than still invalid.
/// What one run shares across its batches: one BigQuery client, one publisher, one run id.
struct Run {
    bq: BigQuery,
    publisher: Option<google_cloud_pubsub::client::Publisher>,
    run_id: String,
    actor: String,
    now: DateTime<Utc>,
}

impl Run {
    async fn open(gcp: &Gcp, opts: &Options) -> Result<Run> {
        Ok(Run {
            bq: gcp.bigquery().await?,
            publisher: if opts.dry_run {
                None
            } else {
                Some(crate::streaming::publisher::open(gcp, &opts.topic).await?)
            },
            run_id: uuid::Uuid::new_v4().to_string(),
            actor: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| "unknown".into()),
            now: Utc::now(),
        })
    }
}

async fn replay_letters(
    gcp: &Gcp,
    run: &Run,
    opts: &Options,
    letters: Vec<DeadLetterRow>,
    done: &BTreeSet<String>,
) -> Result<(Summary, Vec<(String, bool)>)> {
    let mut settled = Vec::new();
    let Run {
        bq,
        publisher,
        run_id,
        actor,
        now,
    } = run;
    let now = *now;
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    for letter in letters {
        if done.contains(&letter.message_id) {
            summary.already_replayed += 1;
            settled.push((letter.message_id.clone(), true));
            continue;
        }
        let decision = decide(&letter, &opts.repairs, now);
        settled.push((letter.message_id.clone(), matches!(decision, Decision::Publish { .. })));
        let record = match &decision {
            Decision::Publish { payload, repairs } => {
                summary.replayed += 1;
                summary.repaired += u64::from(!repairs.is_empty());
                let Some(publisher) = publisher else {
                    tracing::info!(
                        message = "would replay",
                        dead_letter = letter.message_id,
                        was = letter.error_kind,
                        repairs = repairs.join("; ")
                    );
                    continue;
                };
                let mut attributes = letter.attributes.clone();
                attributes.insert(REPLAY_ATTRIBUTE.into(), letter.message_id.clone());
                if !repairs.is_empty() {
                    attributes.insert(REPAIR_ATTRIBUTE.into(), repairs.join("; "));
                }
                let msg = Message::new()
                    .set_data(bytes::Bytes::from(payload.clone()))
                    .set_attributes(attributes);
                let new_id = publisher
                    .publish(msg)
                    .await
                    .map_err(|e| Error::remote(PUBSUB, "publish", &opts.topic, Status::Other, e.to_string()))?;
                tracing::info!(
                    message = "replayed",
                    dead_letter = letter.message_id,
                    new_message_id = new_id,
                    repairs = repairs.join("; ")
                );
                json!({"outcome": "replayed", "new_message_id": new_id, "repairs": (!repairs.is_empty()).then(|| repairs.join("; "))})
            }
            Decision::StillInvalid(reject) => {
                *summary
                    .still_invalid
                    .entry(reject.kind.as_str().to_string())
                    .or_default() += 1;
                if opts.dry_run {
                    continue;
                }
                json!({"outcome": "still_invalid", "reason": reject.to_string()})
            }
        };
        let mut row = json!({
            "dead_letter_message_id": letter.message_id,
            "error_kind": letter.error_kind,
            "replayed_at": now.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            "run_id": run_id,
            "actor": actor,
        });
        for (k, v) in record.as_object().expect("an object") {
            row[k] = v.clone();
        }
        record_outcome(bq, gcp, opts, run_id, &letter.message_id, row).await?;
    }
    Ok((summary, settled))
}

/// Replays what Pub/Sub moved to the dead-letter topic (`--from-topic`): pulls the
/// keep-subscription through the worker's [`Source`](crate::streaming::source::Source) (pulls
/// retried, leases extended while the letters are replayed, acks batched), replays each
/// message like a dead-letter row (error kind `delivery_failure`), acks what is settled
/// (republished now or before) and hands the rest back at once, for a later run. Stops
/// when a pull brings nothing new.
async fn from_subscription(gcp: &Gcp, opts: &Options) -> Result<Summary> {
    use crate::platform::retry::{RetryPolicy, retry};
    let subscription = format!(
        "{}{}{}",
        opts.topic,
        crate::platform::settings::DEAD_LETTER_SUFFIX,
        crate::platform::settings::KEEP_SUFFIX
    );
    let source = crate::streaming::source::Source::open(gcp, &subscription, 500, 64 << 20, Default::default()).await?;
    let settler = source.settler();
    let run = Run::open(gcp, opts).await?;
    let done = replayed_ids(gcp, &run.bq, opts).await?;
    let mut summary = Summary {
        dry_run: opts.dry_run,
        ..Summary::default()
    };
    let mut seen = BTreeSet::new();
    let result = async {
        loop {
            source.wait_for_room().await;
            // A long poll, cut short: an empty subscription holds a pull for a long while.
            let pulled = retry(RetryPolicy::CONTROL, "pull", || source.pull(), |_| {});
            let received = match tokio::time::timeout(Duration::from_secs(10), pulled).await {
                Err(_) => break,
                Ok(received) => received?,
            };
            let mut letters = Vec::new();
            let mut leases = HashMap::new();
            let mut again = Vec::new();
            for m in received {
                let lease = (m.ack_id, m.data.len());
                if !seen.insert(m.message_id.clone()) {
                    // Handled earlier in this run and left unacked: hand it back.
                    again.push(lease);
                    continue;
                }
                leases.insert(m.message_id.clone(), lease);
                letters.push(DeadLetterRow {
                    message_id: m.message_id,
                    payload: m.data.to_vec(),
                    attributes: m.attributes.into_iter().collect(),
                    error_kind: "delivery_failure".into(),
                    cut_from: None,
                });
            }
            if letters.is_empty() {
                settler.nack(again).await;
                break;
            }
            let (part, settled) = replay_letters(gcp, &run, opts, letters, &done).await?;
            summary.replayed += part.replayed;
            summary.repaired += part.repaired;
            summary.already_replayed += part.already_replayed;
            for (k, n) in part.still_invalid {
                *summary.still_invalid.entry(k).or_default() += n;
            }
            let mut ack = Vec::new();
            for (id, ok) in settled {
                if let Some(lease) = leases.remove(&id) {
                    if ok && !opts.dry_run {
                        ack.push(lease)
                    } else {
                        again.push(lease)
                    }
                }
            }
            // Whatever the replay did not settle goes back too, never left leased.
            again.extend(leases.into_values());
            settler.ack(ack).await;
            settler.nack(again).await;
        }
        Ok::<_, Error>(())
    }
    .await;
    source.close().await;
    result.map(|()| summary)
}

/// Writes one outcome to `fact_sales_replay` (insertId: run and dead letter, so a retried
/// write is dropped by BigQuery's best-effort deduplication).
async fn record_outcome(
    bq: &crate::platform::gcp::BigQuery,
    gcp: &Gcp,
    opts: &Options,
    run_id: &str,
    id: &str,
    row: Value,
) -> Result<()> {
    bq.insert_rows(
        &gcp.project,
        &opts.dataset,
        REPLAY_TABLE,
        vec![(Some(format!("{run_id}:{id}")), row)],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: &str) -> DeadLetterRow {
        DeadLetterRow {
            message_id: "1".into(),
            payload: payload.as_bytes().to_vec(),
            attributes: HashMap::new(),
            error_kind: "x".into(),
            cut_from: None,
        }
    }

    #[test]
    fn a_dead_letter_cut_to_its_first_64_kib_is_judged_by_its_size_not_its_start() {
        // The start is a valid event; the whole was 6 MB of it and padding.
        let mut cut = letter(&event("2", "1.50", "2026-11-01 10:00:00"));
        assert!(matches!(decide(&cut, &[], Utc::now()), Decision::Publish { .. }));
        cut.cut_from = Some(6_000_000);
        match decide(&cut, &[], Utc::now()) {
            Decision::StillInvalid(r) => {
                assert_eq!(r.kind, RejectKind::PayloadTooLarge);
                assert!(r.reason.contains("6000000 bytes"), "{}", r.reason);
            }
            other => panic!("{other:?}"),
        }
    }

    const EVENT: &str = r#"{"event_id":"118137f0-91c0-4797-bc34-99f43d452f31","order_id":"S1","customer_id":"C1","product_id":"P1","qty":QTY,"unit_price":PRICE,"event_ts":"TS"}"#;

    fn event(qty: &str, price: &str, ts: &str) -> String {
        EVENT.replace("QTY", qty).replace("PRICE", price).replace("TS", ts)
    }

    #[test]
    fn repairs_change_only_what_they_name_and_keep_digits_exact() {
        let bad = event("\"3\"", "\"12,345\"", "2026-11-20 10:00:00");
        let (fixed, changes) = repair(bad.as_bytes(), &[Repair::NumericStrings]).unwrap();
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            event("3", "12.345", "2026-11-20 10:00:00")
        );
        assert_eq!(
            changes,
            [
                "numeric-strings: qty \"3\" -> 3",
                "numeric-strings: unit_price \"12,345\" -> 12.345"
            ]
        );
        let ts = event("3", "12.5", "20/11/2026 10:05");
        let (fixed, changes) = repair(ts.as_bytes(), &[Repair::DayFirstTs]).unwrap();
        assert_eq!(
            String::from_utf8(fixed).unwrap(),
            event("3", "12.5", "2026-11-20 10:05:00")
        );
        assert_eq!(changes.len(), 1);
        // Not asked, or nothing to do: no repair.
        assert!(repair(bad.as_bytes(), &[]).is_none());
        assert!(repair(bad.as_bytes(), &[Repair::DayFirstTs]).is_none());
        assert!(repair(b"not json", &[Repair::NumericStrings]).is_none());
        // A string that is not a plain number stays a string.
        assert!(repair(event("\"three\"", "\"1e3\"", "x").as_bytes(), &[Repair::NumericStrings]).is_none());
    }

    #[test]
    fn a_dead_letter_is_replayed_only_when_todays_rules_pass_it() {
        let now = "2026-11-22T00:00:00Z".parse().unwrap();
        let valid = event("2", "10.50", "2026-11-20 10:00:00");
        assert_eq!(
            decide(&letter(&valid), &[], now),
            Decision::Publish {
                payload: valid.as_bytes().to_vec(),
                repairs: vec![]
            },
            "unchanged bytes when nothing is repaired"
        );
        let wrong_type = event("\"2\"", "10.50", "2026-11-20 10:00:00");
        match decide(&letter(&wrong_type), &[], now) {
            Decision::StillInvalid(r) => assert_eq!(r.kind, RejectKind::WrongType),
            other => panic!("{other:?}"),
        }
        match decide(&letter(&wrong_type), &[Repair::NumericStrings], now) {
            Decision::Publish { repairs, .. } => assert_eq!(repairs.len(), 1),
            other => panic!("{other:?}"),
        }
        match decide(&letter("{oops"), &[Repair::NumericStrings, Repair::DayFirstTs], now) {
            Decision::StillInvalid(r) => assert_eq!(r.kind, RejectKind::InvalidJson),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_selection_is_checked_sql() {
        let s = Selection {
            kinds: vec![RejectKind::BadEventTs, RejectKind::WrongType],
            since: Some("2026-11-20T10:00:00Z".parse().unwrap()),
            until: None,
            message_ids: vec!["123".into()],
        };
        assert_eq!(
            s.where_sql().unwrap(),
            "TRUE AND error_kind IN ('bad_event_ts', 'wrong_type') AND ingest_ts >= TIMESTAMP '2026-11-20 10:00:00.000000+00' AND message_id IN ('123')"
        );
        let bad = Selection {
            message_ids: vec!["1' OR '1'='1".into()],
            ..Selection::default()
        };
        assert!(bad.where_sql().unwrap_err().to_string().contains("--message-id"));
        assert_eq!(Selection::default().where_sql().unwrap(), "TRUE");
    }

    #[test]
    fn the_summary_reads_as_one_line() {
        let s = Summary {
            replayed: 10,
            repaired: 7,
            still_invalid: BTreeMap::from([("invalid_json".to_string(), 3)]),
            already_replayed: 2,
            dry_run: false,
        };
        assert_eq!(
            s.to_string(),
            "10 replayed (7 repaired), 3 still invalid (invalid_json 3), 2 already replayed"
        );
    }
}
