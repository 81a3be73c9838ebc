-- The current alerts, live: every row of the v_alert_* views (critical stock, failed
-- payments, revenue anomaly, stock-out risk) at the deployment's thresholds. The dashboard and Looker
-- Studio show it; the alerts binary notifies each new one once (alert_log).
-- Grain: alert. Columns: alert_key, kind, subject, value, threshold, window_start,
-- window_end, detail.
SELECT * FROM `${project_id}.${dataset_id}.v_alert_critical_stock`
UNION ALL
SELECT * FROM `${project_id}.${dataset_id}.v_alert_failed_payments`
UNION ALL
SELECT * FROM `${project_id}.${dataset_id}.v_alert_revenue_anomaly`
UNION ALL
SELECT * FROM `${project_id}.${dataset_id}.v_alert_stockout_risk`
