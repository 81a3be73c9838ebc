//! The stream worker's source: pulls from a Pub/Sub subscription with bounded flow
//! control, keeps the leases of the messages it holds, and acks or nacks in batches.
//!
//! It speaks Pub/Sub's `pull`, `acknowledge` and `modifyAckDeadline` calls (REST), not
//! StreamingPull. The reason is the local emulator (0.8.20, from the Google Cloud SDK):
//! when a StreamingPull client goes away, the emulator fails to close its side of the
//! stream (a grpc-java mismatch inside its jar) and keeps leasing messages to the dead
//! stream, so after a worker restarts the subscription's messages never arrive again.
//! Unary pulls hold no state on the server and behave the same on Google Cloud.
//!
//! Flow control: at most `max_messages` and `max_bytes` pulled and not yet settled;
//! pulling waits for room. Leases of held messages are extended every third of the ack
//! deadline, for at most [`MAX_LEASE`], so a slow write does not cause a redelivery.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use serde_json::json;
use tokio::sync::{Mutex, Notify, mpsc};
use tokio::time::Instant;

use crate::platform::error::{Error, Result, Status};
use crate::platform::gcp::{Gcp, PUBSUB, Rest};
use crate::platform::retry::{self, RetryPolicy};

/// The longest a message is kept leased while its write is retried.
pub(crate) const MAX_LEASE: Duration = Duration::from_secs(3600);
/// Most messages asked for in one pull, and most ids in one ack call.
const PULL_BATCH: usize = 1000;
/// Pause between pulls that found nothing grows up to this.
const MAX_EMPTY_BACKOFF: Duration = Duration::from_millis(500);
/// Acks are sent at least this often.
const ACK_FLUSH: Duration = Duration::from_millis(100);

/// One pulled message.
#[derive(Debug, Clone)]
pub struct Received {
    /// Id to ack or nack it with.
    pub ack_id: String,
    /// The message data.
    pub data: bytes::Bytes,
    /// Its attributes.
    pub attributes: HashMap<String, String>,
    /// Pub/Sub message id.
    pub message_id: String,
    /// When Pub/Sub accepted it.
    pub publish_ts: Option<DateTime<Utc>>,
}

/// A pull's answer, read straight from its JSON (the fields the worker uses).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullResponse {
    #[serde(default)]
    received_messages: Vec<PulledMessage>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PulledMessage {
    ack_id: String,
    message: PubsubMessage,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PubsubMessage {
    #[serde(default)]
    data: String,
    #[serde(default)]
    attributes: HashMap<String, String>,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    publish_time: Option<String>,
}

/// The body of an acknowledge (or, with a deadline of 0, a nack) call.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Settlement<'a> {
    ack_ids: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ack_deadline_seconds: Option<i32>,
}

enum Settle {
    Ack(Vec<(String, usize)>),
    Nack(Vec<(String, usize)>),
}

/// Flow-control state shared by the puller, the acker and the lease keeper.
#[derive(Default)]
struct Outstanding {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    room: Notify,
}

/// A subscription being pulled; see the module doc.
pub struct Source {
    rest: Rest,
    subscription: String,
    ack_deadline: i64,
    max_messages: usize,
    max_bytes: usize,
    outstanding: Arc<Outstanding>,
    leases: Arc<Mutex<HashMap<String, Instant>>>,
    settle: mpsc::Sender<Settle>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    acker: Option<tokio::task::JoinHandle<()>>,
}

/// Settles messages once their rows are written; cheap to clone into write tasks.
#[derive(Clone)]
pub(crate) struct Settler {
    settle: mpsc::Sender<Settle>,
}

impl Settler {
    /// Acks messages `(ack_id, size)`.
    pub async fn ack(&self, ids: Vec<(String, usize)>) {
        if !ids.is_empty() {
            // The acker lives until Source::close; a closed channel means we are exiting,
            // and unacked messages are redelivered.
            let _ = self.settle.send(Settle::Ack(ids)).await;
        }
    }

    /// Nacks messages: Pub/Sub redelivers them after the subscription's retry backoff.
    pub(crate) async fn nack(&self, ids: Vec<(String, usize)>) {
        if !ids.is_empty() {
            let _ = self.settle.send(Settle::Nack(ids)).await;
        }
    }
}

impl Source {
    /// Opens `subscription` (an id) of the project; a missing subscription is one clear
    /// error. `lease_extensions` counts each held message's lease extended once.
    pub async fn open(
        gcp: &Gcp,
        subscription: &str,
        max_messages: usize,
        max_bytes: usize,
        lease_extensions: Counter,
    ) -> Result<Source> {
        let rest = gcp.pubsub_rest().await?;
        let path = format!("projects/{}/subscriptions/{subscription}", gcp.project);
        let sub = rest
            .get("get subscription", &format!("/{path}"))
            .await?
            .ok_or_else(|| {
                Error::remote(
                    PUBSUB,
                    "find subscription",
                    &path,
                    Status::Http(404),
                    "it does not exist: run `provision` first, or pass the right --subscription",
                )
            })?;
        let ack_deadline = sub["ackDeadlineSeconds"].as_i64().unwrap_or(10).max(10);
        let outstanding = Arc::new(Outstanding::default());
        let leases = Arc::new(Mutex::new(HashMap::new()));
        let (tx, rx) = mpsc::channel(1024);
        let acker = tokio::spawn(acker(
            rest.clone(),
            path.clone(),
            rx,
            outstanding.clone(),
            leases.clone(),
        ));
        let keeper = tokio::spawn(keep_leases(
            rest.clone(),
            path.clone(),
            ack_deadline,
            leases.clone(),
            lease_extensions,
        ));
        Ok(Source {
            rest,
            subscription: path,
            ack_deadline,
            max_messages: max_messages.max(1),
            max_bytes: max_bytes.max(1),
            outstanding,
            leases,
            settle: tx,
            tasks: vec![keeper],
            acker: Some(acker),
        })
    }

    /// The subscription's ack deadline, in seconds.
    pub(crate) fn ack_deadline(&self) -> i64 {
        self.ack_deadline
    }

    /// A handle to ack and nack with.
    pub(crate) fn settler(&self) -> Settler {
        Settler {
            settle: self.settle.clone(),
        }
    }

    /// Waits until flow control has room for another pull: fewer than `max_messages`
    /// and `max_bytes` held. Kept apart from [`Source::pull`] so that a retried pull's
    /// budget counts the pulls, not the backpressure before them.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            let notified = self.outstanding.room.notified();
            let (m, b) = (
                self.outstanding.messages.load(SeqCst),
                self.outstanding.bytes.load(SeqCst),
            );
            if m < self.max_messages && b < self.max_bytes {
                return;
            }
            notified.await;
        }
    }

    /// Pulls what is there (possibly nothing), as many messages as flow control has
    /// room for (at least one: call [`Source::wait_for_room`] first). A subscription that
    /// no longer exists is an error whose status is not found
    /// ([`crate::platform::error::Status::is_not_found`]; permanent: not retried).
    pub async fn pull(&self) -> Result<Vec<Received>> {
        let room = self.max_messages - self.outstanding.messages.load(SeqCst).min(self.max_messages);
        // A long poll: the server answers when messages arrive (or after its own wait),
        // so an idle worker sends a few requests a minute, not one every few hundred ms.
        // `returnImmediately` is deprecated, and true would make an idle worker spin.
        let body = json!({"maxMessages": room.clamp(1, PULL_BATCH), "returnImmediately": false});
        let resp: PullResponse = self
            .rest
            .post_typed("pull", &format!("/{}:pull", self.subscription), &body)
            .await?
            .ok_or_else(|| {
                Error::remote(
                    PUBSUB,
                    "pull",
                    &self.subscription,
                    Status::Http(404),
                    "the subscription no longer exists: run `provision` to create it again, or pass the right --subscription",
                )
            })?;
        let mut out = Vec::with_capacity(resp.received_messages.len());
        let now = Instant::now();
        let mut leases = self.leases.lock().await;
        leases.reserve(resp.received_messages.len());
        for m in resp.received_messages {
            let data = base64::engine::general_purpose::STANDARD
                .decode(&m.message.data)
                .map_err(|e| {
                    Error::remote(
                        PUBSUB,
                        "pull",
                        &self.subscription,
                        Status::Other,
                        format!("message data is not base64: {e}"),
                    )
                })?;
            let r = Received {
                ack_id: m.ack_id,
                data: data.into(),
                attributes: m.message.attributes,
                message_id: m.message.message_id,
                publish_ts: m
                    .message
                    .publish_time
                    .as_deref()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
            };
            self.outstanding.messages.fetch_add(1, SeqCst);
            self.outstanding.bytes.fetch_add(r.data.len(), SeqCst);
            leases.insert(r.ack_id.clone(), now);
            out.push(r);
        }
        Ok(out)
    }

    /// The subscription's full name.
    pub fn name(&self) -> &str {
        &self.subscription
    }

    /// The pause after a pull that found nothing, growing with each empty pull.
    pub(crate) fn empty_backoff(empty_pulls: u32) -> Duration {
        (Duration::from_millis(25) * 2u32.saturating_pow(empty_pulls.min(8))).min(MAX_EMPTY_BACKOFF)
    }

    /// Sends the last acks and stops the background tasks.
    pub async fn close(self) {
        let Source {
            settle, acker, tasks, ..
        } = self;
        for t in tasks {
            t.abort();
        }
        // The acker ends once every sender is gone, after sending what it holds.
        drop(settle);
        if let Some(a) = acker
            && tokio::time::timeout(Duration::from_secs(10), a).await.is_err()
        {
            tracing::warn!(message = "acks still pending after 10s; those messages will be redelivered");
        }
    }
}

/// Batches acks and nacks into acknowledge and modifyAckDeadline(0) calls.
async fn acker(
    rest: Rest,
    sub: String,
    mut rx: mpsc::Receiver<Settle>,
    outstanding: Arc<Outstanding>,
    leases: Arc<Mutex<HashMap<String, Instant>>>,
) {
    let mut acks: Vec<(String, usize)> = Vec::new();
    let mut nacks: Vec<(String, usize)> = Vec::new();
    let mut open = true;
    while open || !acks.is_empty() || !nacks.is_empty() {
        if open {
            match tokio::time::timeout(ACK_FLUSH, rx.recv()).await {
                Ok(Some(Settle::Ack(ids))) => acks.extend(ids),
                Ok(Some(Settle::Nack(ids))) => nacks.extend(ids),
                Ok(None) => open = false,
                Err(_) => {}
            }
            if open && acks.len() < PULL_BATCH && nacks.len() < PULL_BATCH {
                // Keep collecting while more arrive at once.
                while let Ok(s) = rx.try_recv() {
                    match s {
                        Settle::Ack(ids) => acks.extend(ids),
                        Settle::Nack(ids) => nacks.extend(ids),
                    }
                }
            }
        }
        for (batch, nack) in [(std::mem::take(&mut acks), false), (std::mem::take(&mut nacks), true)] {
            for chunk in batch.chunks(PULL_BATCH) {
                let body = Settlement {
                    ack_ids: chunk.iter().map(|(id, _)| id.as_str()).collect(),
                    ack_deadline_seconds: nack.then_some(0),
                };
                let (op, path) = if nack {
                    ("nack", format!("/{sub}:modifyAckDeadline"))
                } else {
                    ("acknowledge", format!("/{sub}:acknowledge"))
                };
                let ids = &body.ack_ids;
                let call = || async {
                    rest.post_typed::<_, serde::de::IgnoredAny>(op, &path, &body)
                        .await?
                        .map(drop)
                        .ok_or_else(|| {
                            Error::remote(
                                PUBSUB,
                                op,
                                &path,
                                Status::Http(404),
                                "the subscription no longer exists",
                            )
                        })
                };
                if let Err(error) = retry::retry(RetryPolicy::CONTROL, op, call, |_| {}).await {
                    tracing::warn!(message = "ack failed; the messages will be redelivered and deduplicated", error = %error.report(), op, count = ids.len());
                }
                let mut l = leases.lock().await;
                for (id, size) in chunk {
                    l.remove(id);
                    outstanding.messages.fetch_sub(1, SeqCst);
                    outstanding.bytes.fetch_sub(*size, SeqCst);
                }
                outstanding.room.notify_waiters();
            }
        }
    }
}

/// Extends the leases of held messages every third of the ack deadline.
async fn keep_leases(
    rest: Rest,
    sub: String,
    ack_deadline: i64,
    leases: Arc<Mutex<HashMap<String, Instant>>>,
    extended: Counter,
) {
    let period = Duration::from_secs((ack_deadline / 3).max(1) as u64);
    loop {
        tokio::time::sleep(period).await;
        let ids: Vec<String> = {
            let l = leases.lock().await;
            l.iter()
                .filter(|(_, t)| t.elapsed() < MAX_LEASE)
                .map(|(id, _)| id.clone())
                .collect()
        };
        for chunk in ids.chunks(PULL_BATCH) {
            let body = json!({"ackIds": chunk, "ackDeadlineSeconds": ack_deadline});
            match rest
                .post("modifyAckDeadline", &format!("/{sub}:modifyAckDeadline"), &body)
                .await
            {
                Ok(_) => {
                    extended.inc_by(chunk.len() as u64);
                }
                Err(error) => {
                    tracing::warn!(message = "lease extension failed", error = %error.report(), count = chunk.len());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_pulls_back_off_up_to_a_bound() {
        assert_eq!(Source::empty_backoff(0), Duration::from_millis(25));
        assert_eq!(Source::empty_backoff(2), Duration::from_millis(100));
        assert_eq!(Source::empty_backoff(50), MAX_EMPTY_BACKOFF);
    }

    #[test]
    fn a_pull_answer_is_read_with_its_optional_fields_and_an_empty_one_is_no_messages() {
        let answer = br#"{"receivedMessages": [
            {"ackId": "a1", "message": {"data": "eyJ4IjoxfQ==", "attributes": {"k": "v"}, "messageId": "7",
             "publishTime": "2026-11-23T01:02:03.456Z"}, "deliveryAttempt": 2},
            {"ackId": "a2", "message": {"messageId": "8"}}]}"#;
        let r: PullResponse = serde_json::from_slice(answer).unwrap();
        assert_eq!(r.received_messages.len(), 2);
        let (m1, m2) = (&r.received_messages[0], &r.received_messages[1]);
        assert_eq!((m1.ack_id.as_str(), m1.message.message_id.as_str()), ("a1", "7"));
        assert_eq!(m1.message.data, "eyJ4IjoxfQ==");
        assert_eq!(m1.message.attributes["k"], "v");
        assert_eq!(m1.message.publish_time.as_deref(), Some("2026-11-23T01:02:03.456Z"));
        assert!(m2.message.data.is_empty() && m2.message.attributes.is_empty() && m2.message.publish_time.is_none());
        let empty: PullResponse = serde_json::from_slice(b"{}").unwrap();
        assert!(empty.received_messages.is_empty());
    }

    #[test]
    fn acks_and_nacks_serialise_as_the_api_wants() {
        let ack = Settlement {
            ack_ids: vec!["a", "b"],
            ack_deadline_seconds: None,
        };
        assert_eq!(serde_json::to_string(&ack).unwrap(), r#"{"ackIds":["a","b"]}"#);
        let nack = Settlement {
            ack_ids: vec!["a"],
            ack_deadline_seconds: Some(0),
        };
        assert_eq!(
            serde_json::to_string(&nack).unwrap(),
            r#"{"ackIds":["a"],"ackDeadlineSeconds":0}"#
        );
    }
}
