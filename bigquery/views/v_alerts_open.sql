-- Alerts notified and not resolved yet: for each alert_key, the latest entry of
-- alert_log (written by the alerts binary or the scheduled query), kept when it is
-- 'firing'. Grain: alert. Columns: as alert_log.
SELECT * EXCEPT (latest)
FROM (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY alert_key ORDER BY evaluated_at DESC, state DESC) AS latest
  FROM `${project_id}.${dataset_id}.alert_log`
)
WHERE latest = 1 AND state = 'firing'
