-- The alerts evaluation as a BigQuery scheduled query (Terraform's
-- google_bigquery_data_transfer_config.alerts, for deployments that prefer no process to
-- run): the same judgement as the alerts binary at the views' thresholds, recorded in
-- alert_log (source scheduled_query): each alert in v_alerts that is not open is logged
-- as firing, each open alert no longer in v_alerts as resolved. It publishes nothing;
-- read alert_log or v_alerts_open, or run the alerts binary for Pub/Sub notifications.
INSERT INTO `${project_id}.${dataset_id}.alert_log`
  (alert_key, kind, subject, state, value, threshold, window_start, window_end, detail,
   evaluated_at, message_id, run_id, source)
SELECT
  a.alert_key, a.kind, a.subject, 'firing', a.value, a.threshold, a.window_start,
  a.window_end, a.detail, CURRENT_TIMESTAMP(), CAST(NULL AS STRING),
  CAST(CURRENT_TIMESTAMP() AS STRING), 'scheduled_query'
FROM `${project_id}.${dataset_id}.v_alerts` a
LEFT JOIN `${project_id}.${dataset_id}.v_alerts_open` o ON o.alert_key = a.alert_key
WHERE o.alert_key IS NULL
UNION ALL
SELECT
  o.alert_key, o.kind, o.subject, 'resolved', CAST(NULL AS NUMERIC), CAST(NULL AS NUMERIC),
  CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP),
  CONCAT(o.alert_key, ' is no longer alerting'), CURRENT_TIMESTAMP(), CAST(NULL AS STRING),
  CAST(CURRENT_TIMESTAMP() AS STRING), 'scheduled_query'
FROM `${project_id}.${dataset_id}.v_alerts_open` o
LEFT JOIN `${project_id}.${dataset_id}.v_alerts` a ON a.alert_key = o.alert_key
WHERE a.alert_key IS NULL
