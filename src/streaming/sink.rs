//! The stream worker's sink: writes sale rows to `fact_sales_streaming` and rejected
//! events to `fact_sales_deadletter`, retrying with backoff.
//!
//! Sale rows go through the BigQuery Storage Write API (`AppendRows` on the table's
//! `_default` stream, rows as protobuf) or, with [`WriteMethod::InsertAll`], through
//! `tabledata.insertAll` with `insertId = event_id`. Dead letters, few and irregular, always
//! go through insertAll. Either way a write returns only once BigQuery holds the rows.
//! Encoding a row is a pure function ([`encode_sale`], [`sale_json`]), benchmarked.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use gcp_bigquery_client::google::cloud::bigquery::storage::v1 as storage;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto};
use serde_json::{Value, json};
use storage::big_query_write_client::BigQueryWriteClient;

use crate::platform::error::{Error, Result, Status};
use crate::platform::gcp::{BIGQUERY, BigQuery, CloudStorage, Gcp, RowRefusal};
use crate::platform::retry::{self, RetryPolicy};
use crate::streaming::metrics::Metrics;
use crate::streaming::transform::{Reject, Sale};

/// The streaming fact table.
pub(crate) const SALES_TABLE: &str = "fact_sales_streaming";
/// The dead-letter table.
pub(crate) const DEAD_LETTER_TABLE: &str = "fact_sales_deadletter";
/// Largest AppendRows request we send (the API's limit is 10 MB).
const MAX_APPEND_BYTES: usize = 8 * 1024 * 1024;
/// Most of a rejected payload a dead-letter row holds: a larger one is cut there (its
/// size and SHA-256 say what it was) and kept whole in the bucket.
pub(crate) const DEAD_LETTER_INLINE_BYTES: usize = 64 * 1024;
/// Where in the bucket whole payloads of dead letters too large for their row are kept.
pub(crate) const DEAD_LETTER_PREFIX: &str = "pipelines/dead-letters/";

/// How sale rows reach BigQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteMethod {
    /// Storage Write API, default stream (at-least-once; duplicates removed in the views).
    StorageWrite,
    /// tabledata.insertAll with insertId = event_id (best-effort dedup by BigQuery too).
    InsertAll,
}

/// Where a row came from in Pub/Sub.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delivery {
    /// Pub/Sub message id.
    pub message_id: String,
    /// When Pub/Sub accepted the message.
    pub publish_ts: Option<DateTime<Utc>>,
}

/// A valid sale and its delivery.
#[derive(Debug, Clone)]
pub struct SaleRow {
    /// The sale.
    pub sale: Sale,
    /// Its delivery.
    pub delivery: Delivery,
}

/// A rejected event, kept whole.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetter {
    /// The payload exactly as received.
    pub raw: bytes::Bytes,
    /// The message attributes.
    pub attributes: HashMap<String, String>,
    /// Why.
    pub reject: Reject,
    /// Its delivery.
    pub delivery: Delivery,
}

/// The writer schema of a `fact_sales_streaming` row, sent with each AppendRows stream:
/// proto2, every field optional (an absent field is NULL); NUMERIC travels as its
/// decimal string, TIMESTAMP as microseconds since the epoch (the API's encodings).
pub(crate) fn sale_descriptor() -> DescriptorProto {
    let field = |name: &str, number: i32, ty: Type| FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        ..Default::default()
    };
    DescriptorProto {
        name: Some("SaleProto".into()),
        field: vec![
            field("event_id", 1, Type::String),
            field("order_id", 2, Type::String),
            field("customer_id", 3, Type::String),
            field("product_id", 4, Type::String),
            field("qty", 5, Type::Int64),
            field("unit_price", 6, Type::String),
            field("gross_amount", 7, Type::String),
            field("event_ts", 8, Type::Int64),
            field("publish_ts", 9, Type::Int64),
            field("ingest_ts", 10, Type::Int64),
            field("message_id", 11, Type::String),
            field("payment_method", 12, Type::String),
            field("payment_status", 13, Type::String),
        ],
        ..Default::default()
    }
}

/// One sale row as Storage Write API bytes in the [`sale_descriptor`] layout, written
/// field by field from the row (no intermediate message, no copies of the strings).
pub fn encode_sale(row: &SaleRow, ingest_ts: DateTime<Utc>, buf: &mut Vec<u8>) {
    use prost::encoding::{int64, string};
    let s = &row.sale;
    buf.clear();
    string::encode(1, &s.event_id, buf);
    string::encode(2, &s.order_id, buf);
    string::encode(3, &s.customer_id, buf);
    string::encode(4, &s.product_id, buf);
    int64::encode(5, &s.qty, buf);
    string::encode(6, &s.unit_price.to_string(), buf);
    string::encode(7, &s.gross_amount.to_string(), buf);
    int64::encode(8, &s.event_ts.timestamp_micros(), buf);
    if let Some(p) = row.delivery.publish_ts {
        int64::encode(9, &p.timestamp_micros(), buf);
    }
    int64::encode(10, &ingest_ts.timestamp_micros(), buf);
    string::encode(11, &row.delivery.message_id, buf);
    if let Some(m) = &s.payment_method {
        string::encode(12, m, buf);
    }
    if let Some(p) = s.payment_status {
        encode_str(13, p, buf);
    }
}

/// A string field from a `&str` (prost's `string::encode` wants a `&String`).
fn encode_str(tag: u32, value: &str, buf: &mut Vec<u8>) {
    use prost::encoding::{WireType, encode_key, encode_varint};
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(value.len() as u64, buf);
    buf.extend_from_slice(value.as_bytes());
}

fn ts_json(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// One sale row as insertAll JSON (NUMERIC as a decimal string: exact).
pub fn sale_json(row: &SaleRow, ingest_ts: DateTime<Utc>) -> Value {
    let s = &row.sale;
    json!({
        "event_id": s.event_id,
        "order_id": s.order_id,
        "customer_id": s.customer_id,
        "product_id": s.product_id,
        "qty": s.qty,
        "unit_price": s.unit_price.to_string(),
        "gross_amount": s.gross_amount.to_string(),
        "event_ts": ts_json(s.event_ts),
        "publish_ts": row.delivery.publish_ts.map(ts_json),
        "ingest_ts": ts_json(ingest_ts),
        "message_id": row.delivery.message_id,
        "payment_method": s.payment_method,
        "payment_status": s.payment_status,
    })
}

/// The insertId of a dead letter: its message id (none for a message without one).
pub(crate) fn dead_letter_insert_id(d: &DeadLetter) -> Option<String> {
    Some(d.delivery.message_id.clone()).filter(|id| !id.is_empty())
}

/// The object name under [`DEAD_LETTER_PREFIX`] of a dead letter's whole payload: its
/// message id, or the payload's SHA-256 for a message without one.
pub(crate) fn dead_letter_object(d: &DeadLetter) -> String {
    let id = match d.delivery.message_id.as_str() {
        "" => sha256_hex(&d.raw),
        id => id.to_string(),
    };
    format!("{DEAD_LETTER_PREFIX}{id}")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(data))
}

/// Whether a dead letter's payload is too large for its row (and goes to the bucket).
pub(crate) fn is_oversized(d: &DeadLetter) -> bool {
    d.raw.len() > DEAD_LETTER_INLINE_BYTES
}

/// One dead letter as insertAll JSON: the payload whole up to
/// [`DEAD_LETTER_INLINE_BYTES`], else its first bytes and `payload_uri`, where the whole
/// of it was written; its size and SHA-256 either way.
pub(crate) fn dead_letter_json(d: &DeadLetter, payload_uri: Option<&str>, ingest_ts: DateTime<Utc>) -> Value {
    let kept = &d.raw[..d.raw.len().min(DEAD_LETTER_INLINE_BYTES)];
    let text = match std::str::from_utf8(kept) {
        Ok(t) => Some(t),
        // A cut through a character: the text up to it, if the rest is valid UTF-8.
        Err(e) if is_oversized(d) && e.error_len().is_none() => std::str::from_utf8(&kept[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    json!({
        "message_id": d.delivery.message_id,
        "raw_payload": base64::engine::general_purpose::STANDARD.encode(kept),
        "raw_payload_text": text,
        "payload_bytes": d.raw.len(),
        "payload_sha256": sha256_hex(&d.raw),
        "payload_uri": payload_uri,
        // A JSON column takes a JSON document as a string.
        "attributes": serde_json::to_string(&d.attributes).unwrap_or_else(|_| "{}".into()),
        "publish_ts": d.delivery.publish_ts.map(ts_json),
        "ingest_ts": ts_json(ingest_ts),
        "error_kind": d.reject.kind.as_str(),
        "error_reason": d.reject.reason,
    })
}

/// Cuts encoded rows into AppendRows requests of at most `max_bytes` (a row over the
/// bound alone): the ranges of indexes each request carries.
pub(crate) fn append_requests(encoded: &[Vec<u8>], max_bytes: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, row) in encoded.iter().enumerate() {
        if i > start && size + row.len() > max_bytes {
            out.push(start..i);
            (start, size) = (i, 0);
        }
        size += row.len();
    }
    if start < encoded.len() {
        out.push(start..encoded.len());
    }
    out
}

/// Writes rows to BigQuery (and the whole payloads of oversized dead letters to the
/// bucket).
#[derive(Clone)]
pub(crate) struct Sink {
    bq: BigQuery,
    gcp: Gcp,
    /// Connected at the first oversized dead letter: most runs never need it.
    storage: Arc<tokio::sync::OnceCell<CloudStorage>>,
    bucket: String,
    project: String,
    dataset: String,
    write: Option<WriteApi>,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
}

#[derive(Clone)]
struct WriteApi {
    client: BigQueryWriteClient<tonic::transport::Channel>,
    stream: String,
    auth: Option<google_cloud_auth::credentials::Credentials>,
    /// The one connection of the worker, opened by the first append.
    conn: Arc<tokio::sync::Mutex<Option<Connection>>>,
    /// Connections opened so far.
    opened: Arc<std::sync::atomic::AtomicU64>,
}

impl Sink {
    /// A sink for `dataset` (whole payloads of oversized dead letters to `bucket`);
    /// connects lazily. Failed and retried attempts are counted in `metrics`.
    pub async fn new(
        gcp: &Gcp,
        dataset: &str,
        bucket: &str,
        method: WriteMethod,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        let bq = gcp.bigquery().await?;
        let write = match method {
            WriteMethod::InsertAll => None,
            WriteMethod::StorageWrite => {
                let (channel, auth) = gcp.bigquery_write_channel().await?;
                Some(WriteApi {
                    client: BigQueryWriteClient::new(channel).max_decoding_message_size(64 * 1024 * 1024),
                    stream: format!(
                        "projects/{}/datasets/{dataset}/tables/{SALES_TABLE}/streams/_default",
                        gcp.project
                    ),
                    auth,
                    conn: Arc::new(tokio::sync::Mutex::new(None)),
                    opened: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                })
            }
        };
        Ok(Sink {
            bq,
            gcp: gcp.clone(),
            storage: Arc::new(tokio::sync::OnceCell::new()),
            bucket: bucket.to_string(),
            project: gcp.project.clone(),
            dataset: dataset.to_string(),
            write,
            retry,
            metrics,
        })
    }

    /// Checks that BigQuery answers and holds both tables the worker writes; a missing
    /// one is one clear error (transient failures are retried for a few seconds).
    pub(crate) async fn check_tables(&self) -> Result<()> {
        for table in [SALES_TABLE, DEAD_LETTER_TABLE] {
            let path = format!("/projects/{}/datasets/{}/tables/{table}", self.project, self.dataset);
            let found = crate::platform::retry::retry(
                RetryPolicy::CONTROL,
                "get table",
                || self.bq.rest.get("get table", &path),
                |_| {},
            )
            .await?;
            if found.is_none() {
                return Err(Error::remote(
                    BIGQUERY,
                    "find table",
                    format!("{}.{}.{table}", self.project, self.dataset),
                    Status::Http(404),
                    "it does not exist: run `provision` first, or pass the right --dataset",
                ));
            }
        }
        Ok(())
    }

    /// Writes sale rows. Errs on a permanent error, or when the retry budget is spent:
    /// then BigQuery may or may not hold the rows, and the caller must not ack them (a
    /// redelivery is deduplicated by event_id).
    ///
    /// A row BigQuery refuses to store (AppendRows `row_errors`, insertAll `insertErrors`)
    /// fails its whole request; it is left out, the rest of the request is sent again,
    /// and it comes back among the refused rows (by index in `rows`, with BigQuery's
    /// reason) for the caller to dead-letter. Every row not refused is written.
    pub(crate) async fn write_sales(&self, rows: &[SaleRow]) -> Result<Vec<RowRefusal>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now();
        let Some(api) = &self.write else {
            let json: Vec<(Option<String>, Value)> = rows
                .iter()
                .map(|r| (Some(r.sale.event_id.clone()), sale_json(r, now)))
                .collect();
            return self.insert_all(SALES_TABLE, &json).await;
        };
        let encoded: Vec<Vec<u8>> = rows
            .iter()
            .map(|r| {
                let mut buf = Vec::with_capacity(160);
                encode_sale(r, now, &mut buf);
                buf
            })
            .collect();
        let mut refused = Vec::new();
        for request in append_requests(&encoded, MAX_APPEND_BYTES) {
            // Indexes into `rows` still to append.
            let mut left: Vec<usize> = request.collect();
            while !left.is_empty() {
                let serialized: Vec<Vec<u8>> = left.iter().map(|&i| encoded[i].clone()).collect();
                let mut named = self.retry("AppendRows", || api.append(serialized.clone())).await?;
                if named.is_empty() {
                    break;
                }
                named.retain(|(i, _)| *i < left.len());
                if named.is_empty() {
                    return Err(Error::remote(
                        BIGQUERY,
                        "AppendRows",
                        &api.stream,
                        Status::Other,
                        "row errors that name no row of the request",
                    ));
                }
                named.sort_unstable_by_key(|(i, _)| *i);
                named.dedup_by_key(|(i, _)| *i);
                for (i, reason) in named.into_iter().rev() {
                    refused.push(RowRefusal {
                        index: left.remove(i),
                        reason,
                    });
                }
            }
        }
        refused.sort_unstable_by_key(|r| r.index);
        Ok(refused)
    }

    /// Writes dead letters (insertAll), each with its Pub/Sub message id as insertId: a
    /// chunk retried after an answer was lost is dropped by BigQuery's best-effort
    /// deduplication, and `v_dead_letters` removes what is written again later (a
    /// redelivery after the window, or on the emulator, which ignores insertId).
    ///
    /// A payload over [`DEAD_LETTER_INLINE_BYTES`] is first written whole to
    /// `gs://BUCKET/pipelines/dead-letters/<message id>` (the same name again on a
    /// redelivery), and its row keeps the first bytes and that URI; if the bucket
    /// refuses, the write fails and the messages are not acked.
    pub(crate) async fn write_dead_letters(&self, rows: &[DeadLetter]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut json = Vec::with_capacity(rows.len());
        for d in rows {
            let uri = if is_oversized(d) {
                Some(self.keep_whole(d).await?)
            } else {
                None
            };
            json.push((dead_letter_insert_id(d), dead_letter_json(d, uri.as_deref(), now)));
        }
        let refused = self.insert_all(DEAD_LETTER_TABLE, &json).await?;
        match refused.first() {
            None => Ok(()),
            // Nothing to dead-letter a dead letter to: not acked, so kept in Pub/Sub.
            Some(first) => Err(Error::remote(
                BIGQUERY,
                "insertAll",
                DEAD_LETTER_TABLE,
                Status::Other,
                format!(
                    "BigQuery refused {} dead letter(s), first: message {}: {}",
                    refused.len(),
                    rows[first.index].delivery.message_id,
                    first.reason
                ),
            )),
        }
    }

    /// Writes an oversized dead letter's whole payload to the bucket; its `gs://` URI.
    async fn keep_whole(&self, d: &DeadLetter) -> Result<String> {
        let gcs = self.storage.get_or_try_init(|| self.gcp.storage()).await?;
        let object = dead_letter_object(d);
        let bucket = &self.bucket;
        let uri = format!("gs://{bucket}/{object}");
        // Only if absent (generation 0): the worker may create objects, not replace them,
        // and a redelivered message has the same name and payload.
        self.retry("upload", || gcs.write(bucket, &object, d.raw.clone(), true))
            .await?;
        Ok(uri)
    }

    /// insertAll through the one path ([`BigQuery::insert_all`]), under the worker's
    /// write policy, each failed attempt and retry counted; the rows BigQuery refused.
    async fn insert_all(&self, table: &'static str, rows: &[(Option<String>, Value)]) -> Result<Vec<RowRefusal>> {
        self.bq
            .insert_all(
                &self.project,
                &self.dataset,
                table,
                rows,
                self.retry,
                &|_| {
                    self.metrics.write_errors.inc();
                },
                &|_| {
                    self.metrics.retried.inc();
                },
            )
            .await
    }

    /// One write under the retry policy; every failed attempt and every retry is counted.
    async fn retry<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let attempt = || {
            let fut = op();
            async {
                let r = fut.await;
                if r.is_err() {
                    self.metrics.write_errors.inc();
                }
                r
            }
        };
        retry::retry(self.retry, what, attempt, |_| {
            self.metrics.retried.inc();
        })
        .await
    }
}

/// What answers one AppendRows request: BigQuery's response, or why none came.
type Answer = std::result::Result<storage::AppendRowsResponse, tonic::Status>;

/// One `AppendRows` connection kept open across batches: requests go out in order and
/// BigQuery answers them in that order, so each request's responder waits in `pending`.
/// A connection that fails (the stream ends or errs) answers every waiting request with
/// that failure and is `broken`; the next append opens a new one.
struct Connection {
    /// Requests to send; the first carried the stream and the writer schema.
    tx: futures::channel::mpsc::Sender<storage::AppendRowsRequest>,
    /// Responders of requests sent and not yet answered, oldest first; `None` once
    /// the connection broke (nothing more may wait on it).
    pending: Arc<std::sync::Mutex<Option<std::collections::VecDeque<tokio::sync::oneshot::Sender<Answer>>>>>,
    /// Ends once BigQuery closes the stream (after `tx` is dropped, at the latest), so
    /// the answers to requests already sent still arrive after the connection is let go.
    _reader: tokio::task::JoinHandle<()>,
    /// Which connection of the worker this is.
    id: u64,
}

impl WriteApi {
    /// The request for `serialized_rows`. Each names the stream (BigQuery needs it on
    /// the first of a connection and takes it on later ones; the emulator needs it on
    /// every one); only the first carries the writer schema, which BigQuery keeps for
    /// the connection.
    fn request(&self, serialized_rows: Vec<Vec<u8>>, first: bool) -> storage::AppendRowsRequest {
        storage::AppendRowsRequest {
            write_stream: self.stream.clone(),
            rows: Some(storage::append_rows_request::Rows::ProtoRows(
                storage::append_rows_request::ProtoData {
                    writer_schema: first.then(|| storage::ProtoSchema {
                        proto_descriptor: Some(sale_descriptor()),
                    }),
                    rows: Some(storage::ProtoRows { serialized_rows }),
                },
            )),
            ..Default::default()
        }
    }

    /// Opens a connection whose first request is `first`, answered to `answer`.
    async fn open(
        &self,
        first: storage::AppendRowsRequest,
        answer: tokio::sync::oneshot::Sender<Answer>,
    ) -> Result<Connection> {
        // Room for the writes in flight; a full channel makes a sender wait.
        let (mut tx, rx) = futures::channel::mpsc::channel(8);
        futures::SinkExt::send(&mut tx, first)
            .await
            .map_err(|e| Error::api(BIGQUERY, "AppendRows", &self.stream, e.to_string()))?;
        let mut request = tonic::Request::new(rx);
        let params = format!("write_stream={}", self.stream);
        let md = request.metadata_mut();
        md.insert(
            "x-goog-request-params",
            params
                .parse()
                .map_err(|e| Error::api(BIGQUERY, "AppendRows", &self.stream, e))?,
        );
        if let Some(creds) = &self.auth {
            let headers = match creds.headers(http::Extensions::new()).await {
                Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => data,
                Ok(_) => http::HeaderMap::new(),
                Err(e) => {
                    return Err(Error::Credentials {
                        service: BIGQUERY,
                        detail: e.to_string(),
                    });
                }
            };
            if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
                md.insert(
                    "authorization",
                    v.parse()
                        .map_err(|e| Error::api(BIGQUERY, "AppendRows", &self.stream, e))?,
                );
            }
        }
        tracing::debug!(message = "AppendRows connection opened", stream = %self.stream);
        let pending = Arc::new(std::sync::Mutex::new(Some(std::collections::VecDeque::from([answer]))));
        let mut client = self.client.clone();
        let waiting = pending.clone();
        let reader = tokio::spawn(async move {
            let failure = match client.append_rows(request).await {
                Err(status) => status,
                Ok(resp) => {
                    let mut responses = resp.into_inner();
                    loop {
                        match responses.message().await {
                            Ok(Some(r)) => {
                                let next = waiting
                                    .lock()
                                    .expect("never held across a panic")
                                    .as_mut()
                                    .and_then(|q| q.pop_front());
                                if let Some(answer) = next {
                                    let _ = answer.send(Ok(r));
                                }
                            }
                            Ok(None) => break tonic::Status::unavailable("the AppendRows stream closed"),
                            // A connection cut mid-stream reads as Unknown: it is a
                            // transport failure, retried on a new connection.
                            Err(status) if status.code() == tonic::Code::Unknown => {
                                break tonic::Status::unavailable(format!(
                                    "the AppendRows connection broke: {}",
                                    status.message()
                                ));
                            }
                            Err(status) => break status,
                        }
                    }
                }
            };
            tracing::debug!(message = "AppendRows connection ended", %failure);
            // Broken: whoever waits gets the failure, and no one may wait any more.
            let left = waiting.lock().expect("never held across a panic").take();
            for answer in left.into_iter().flatten() {
                let _ = answer.send(Err(failure.clone()));
            }
        });
        Ok(Connection {
            tx,
            pending,
            _reader: reader,
            id: self.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Appends `serialized_rows` on the worker's connection (opened, or opened again
    /// after a failure, on the way) and waits for BigQuery's answer. Requests of
    /// concurrent writes are pipelined on the one connection.
    ///
    /// A request BigQuery appended answers no row errors; one it refused appended none of
    /// its rows and answers the rows at fault, by index in the request, with the reason.
    async fn append(&self, serialized_rows: Vec<Vec<u8>>) -> Result<Vec<(usize, String)>> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let id = {
            let mut conn = self.conn.lock().await;
            // Queued on the open connection, if there is one that has not broken.
            let mut answer = Some(answer);
            if let Some(c) = conn.as_ref()
                && let Some(q) = c.pending.lock().expect("never held across a panic").as_mut()
            {
                q.push_back(answer.take().expect("not queued yet"));
            }
            match answer {
                None => {
                    let c = conn.as_mut().expect("queued on it above");
                    let req = self.request(serialized_rows, false);
                    if futures::SinkExt::send(&mut c.tx, req).await.is_err() {
                        *conn = None;
                        return Err(Error::remote(
                            BIGQUERY,
                            "AppendRows",
                            &self.stream,
                            Status::Transport,
                            "the connection closed; opened again on the next try",
                        ));
                    }
                }
                Some(answer) => *conn = Some(self.open(self.request(serialized_rows, true), answer).await?),
            }
            conn.as_ref().expect("open or opened above").id
        };
        let answered = answered.await;
        let failed = match &answered {
            Ok(Ok(r)) => {
                matches!(r.response, Some(storage::append_rows_response::Response::Error(_)))
            }
            _ => true,
        };
        if failed {
            // After a failure the next try opens a connection of its own (a table made
            // again, say, is seen afresh); answers to what else was sent on this one
            // still arrive.
            let mut conn = self.conn.lock().await;
            if conn.as_ref().is_some_and(|c| c.id == id) {
                *conn = None;
            }
        }
        let grpc_err = |e: tonic::Status| Error::api(BIGQUERY, "AppendRows", &self.stream, e);
        let answer_err = |status: Status, m: String| Error::remote(BIGQUERY, "AppendRows", &self.stream, status, m);
        let resp = answered
            .map_err(|_| answer_err(Status::Transport, "the connection closed without an answer".into()))?
            .map_err(grpc_err)?;
        if let Some(storage::append_rows_response::Response::Error(status)) = &resp.response {
            return Err(answer_err(
                Status::Grpc(tonic::Code::from_i32(status.code)),
                status.message.clone(),
            ));
        }
        // Row errors: none of the request's rows were appended; these are at fault.
        Ok(resp
            .row_errors
            .iter()
            .filter_map(|e| Some((usize::try_from(e.index).ok()?, e.message.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streaming::transform::{RejectKind, validate};
    use chrono::TimeZone;

    /// A decoded field value.
    #[derive(Debug, PartialEq)]
    enum Val {
        S(String),
        I(i64),
    }

    /// Decodes what [`encode_sale`] wrote by the field numbers and types of
    /// [`sale_descriptor`] (what BigQuery reads it with), keyed by column name. A field
    /// number or type that disagrees with the descriptor fails here.
    fn decode_by_descriptor(mut buf: &[u8]) -> HashMap<String, Val> {
        use prost::encoding::{DecodeContext, WireType, decode_key, int64, string};
        let d = sale_descriptor();
        let mut out = HashMap::new();
        while !buf.is_empty() {
            let (tag, wire) = decode_key(&mut buf).unwrap();
            let f = d
                .field
                .iter()
                .find(|f| f.number == Some(tag as i32))
                .unwrap_or_else(|| panic!("field number {tag} is not in the descriptor"));
            let name = f.name.clone().unwrap();
            let val = match Type::try_from(f.r#type.unwrap()).unwrap() {
                Type::String => {
                    assert_eq!(wire, WireType::LengthDelimited, "{name}");
                    let mut v = String::new();
                    string::merge(wire, &mut v, &mut buf, DecodeContext::default()).unwrap();
                    Val::S(v)
                }
                Type::Int64 => {
                    assert_eq!(wire, WireType::Varint, "{name}");
                    let mut v = 0i64;
                    int64::merge(wire, &mut v, &mut buf, DecodeContext::default()).unwrap();
                    Val::I(v)
                }
                other => panic!("{name}: unexpected type {other:?}"),
            };
            assert!(out.insert(name.clone(), val).is_none(), "{name} written twice");
        }
        out
    }

    fn row() -> SaleRow {
        let now = Utc.with_ymd_and_hms(2025, 9, 15, 15, 0, 0).unwrap();
        let p = br#"{"event_id":"123e4567-e89b-12d3-a456-426614174000","order_id":"O1","customer_id":"C1","product_id":"P1","qty":3,"unit_price":"0.333333333","event_ts":"2025-09-15 14:23:55","payment_method":"paypal","payment_status":"failed"}"#;
        SaleRow {
            sale: validate(p, now).unwrap().sale,
            delivery: Delivery {
                message_id: "m1".into(),
                publish_ts: Some(now),
            },
        }
    }

    #[test]
    fn proto_rows_round_trip_with_exact_decimals_and_microsecond_timestamps() {
        let r = row();
        let ingest = Utc.with_ymd_and_hms(2025, 9, 15, 15, 0, 1).unwrap();
        let mut buf = Vec::new();
        encode_sale(&r, ingest, &mut buf);
        let back = decode_by_descriptor(&buf);
        let s = |v: &str| Val::S(v.to_string());
        assert_eq!(back["event_id"], s("123e4567-e89b-12d3-a456-426614174000"));
        assert_eq!(back["order_id"], s("O1"));
        assert_eq!(back["customer_id"], s("C1"));
        assert_eq!(back["product_id"], s("P1"));
        assert_eq!(back["gross_amount"], s("0.999999999"));
        assert_eq!(back["unit_price"], s("0.333333333"));
        assert_eq!(back["event_ts"], Val::I(r.sale.event_ts.timestamp_micros()));
        assert_eq!(
            back["publish_ts"],
            Val::I(r.delivery.publish_ts.unwrap().timestamp_micros())
        );
        assert_eq!(back["ingest_ts"], Val::I(ingest.timestamp_micros()));
        assert_eq!(back["message_id"], s("m1"));
        assert_eq!(back["qty"], Val::I(3));
        assert_eq!(back["payment_method"], s("paypal"));
        assert_eq!(back["payment_status"], s("failed"));
        assert_eq!(back.len(), sale_descriptor().field.len(), "every column is written");
    }

    #[test]
    fn the_descriptor_names_every_column_of_the_table_schema() {
        let model =
            crate::model::DataModel::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery")).unwrap();
        let columns: Vec<String> = model
            .table(SALES_TABLE)
            .unwrap()
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let fields: Vec<String> = sale_descriptor()
            .field
            .iter()
            .map(|f| f.name.clone().unwrap())
            .collect();
        assert_eq!(fields, columns);
        let dl: Vec<String> = model
            .table(DEAD_LETTER_TABLE)
            .unwrap()
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let d = DeadLetter {
            raw: bytes::Bytes::from_static(b"\xff{"),
            attributes: HashMap::from([("k".into(), "v".into())]),
            reject: Reject {
                kind: RejectKind::NotUtf8,
                reason: "r".into(),
            },
            delivery: Delivery::default(),
        };
        let v = dead_letter_json(&d, None, Utc::now());
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        let mut dl_sorted = dl.clone();
        keys.sort();
        dl_sorted.sort();
        assert_eq!(keys, dl_sorted);
        assert_eq!(v["raw_payload"], "/3s=");
        assert!(v["raw_payload_text"].is_null());
        assert_eq!(v["payload_bytes"], 2);
        // sha256sum of the bytes ff 7b.
        assert_eq!(
            v["payload_sha256"],
            "b26f99543485cab0666a50160ed4281d01669a10feb99985525b10dd791f1e9d"
        );
        assert!(v["payload_uri"].is_null());
        assert_eq!(dead_letter_insert_id(&d), None, "no message id, no insertId");
        let mut redelivered = d.clone();
        redelivered.delivery.message_id = "17".into();
        assert_eq!(dead_letter_insert_id(&redelivered).as_deref(), Some("17"));
        let sj = sale_json(&row(), Utc::now());
        let mut keys: Vec<String> = sj.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut cols = columns.clone();
        cols.sort();
        assert_eq!(keys, cols);
        assert_eq!(sj["gross_amount"], "0.999999999");
    }

    #[test]
    fn an_oversized_dead_letter_keeps_its_first_64_kib_its_size_and_hash_and_points_at_the_rest() {
        // 70,000 bytes of text whose 64 KiB cut falls inside a two-byte character.
        let mut raw = vec![b'a'; DEAD_LETTER_INLINE_BYTES - 1];
        raw.extend("é".repeat(3000).as_bytes());
        let d = DeadLetter {
            raw: raw.clone().into(),
            attributes: HashMap::new(),
            reject: Reject {
                kind: RejectKind::PayloadTooLarge,
                reason: "r".into(),
            },
            delivery: Delivery {
                message_id: "42".into(),
                publish_ts: None,
            },
        };
        assert!(is_oversized(&d));
        assert_eq!(dead_letter_object(&d), "pipelines/dead-letters/42");
        let v = dead_letter_json(&d, Some("gs://b/pipelines/dead-letters/42"), Utc::now());
        let kept = base64::engine::general_purpose::STANDARD
            .decode(v["raw_payload"].as_str().unwrap())
            .unwrap();
        assert_eq!(kept, raw[..DEAD_LETTER_INLINE_BYTES]);
        // The text stops before the character the cut went through.
        assert_eq!(
            v["raw_payload_text"].as_str().unwrap().len(),
            DEAD_LETTER_INLINE_BYTES - 1
        );
        assert_eq!(v["payload_bytes"], raw.len());
        use sha2::Digest;
        assert_eq!(v["payload_sha256"], format!("{:x}", sha2::Sha256::digest(&raw)));
        assert_eq!(v["payload_uri"], "gs://b/pipelines/dead-letters/42");
        // At the bound it is kept whole.
        let whole = DeadLetter {
            raw: raw[..DEAD_LETTER_INLINE_BYTES].to_vec().into(),
            ..d.clone()
        };
        assert!(!is_oversized(&whole));
        // A payload with no message id is named by its hash.
        let anonymous = DeadLetter {
            delivery: Delivery::default(),
            ..d
        };
        assert_eq!(
            dead_letter_object(&anonymous),
            format!("pipelines/dead-letters/{:x}", sha2::Sha256::digest(&raw))
        );
    }
}
