-- Rejected events, one row per Pub/Sub message: fact_sales_deadletter deduplicated by
-- message_id. A dead letter is written with its message id as insertId (BigQuery drops
-- a retried write within a minute), but a message redelivered later (after a nack, or a
-- worker killed before its ack) is written again; the first row written is kept.
-- Grain: rejected message. Columns: as fact_sales_deadletter.
SELECT
  message_id,
  raw_payload,
  raw_payload_text,
  payload_bytes,
  payload_sha256,
  payload_uri,
  attributes,
  publish_ts,
  ingest_ts,
  error_kind,
  error_reason
FROM `${project_id}.${dataset_id}.fact_sales_deadletter`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (PARTITION BY message_id ORDER BY ingest_ts) = 1
