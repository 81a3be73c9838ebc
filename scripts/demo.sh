#!/usr/bin/env bash
# The main job on the local stack, no Google account needed: installs and starts the
# Pub/Sub, BigQuery and Cloud Storage emulators on 127.0.0.1, builds the binaries,
# provisions every resource of the data model, lists what now exists, generates and
# loads the history (datagen -> Cloud Storage -> batch-loader), then runs the
# streaming pipeline (publisher -> Pub/Sub -> stream-worker -> BigQuery) for about 20 s
# and prints revenue and orders per source from the views, a replay dry run,
# the demand forecast with the products first to run out, and the alerts; last, it
# starts the local dashboard and prints its address.
# The stack and the dashboard stay up for you to explore; `scripts/emulators.sh stop`
# stops them.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n== %s\n' "$*"; }

step "local Google Cloud stack"
scripts/emulators.sh install
scripts/emulators.sh start
eval "$(scripts/emulators.sh env)"
STATE=${EMULATORS_STATE_DIR:-$ROOT/.emulators/stack}
# The seed's shop is in Santiago: its days are Santiago's (provision puts the zone into
# the views; alerts reads it too). Override with INSTASHOP_TIME_ZONE.
export INSTASHOP_TIME_ZONE=${INSTASHOP_TIME_ZONE:-America/Santiago}

step "build"
cargo build --quiet --bins

step "provision"
target/debug/provision

step "what now exists in project $GOOGLE_CLOUD_PROJECT"
DATASET=${INSTASHOP_DATASET:-data_ecommerce_demo} BUCKET=${INSTASHOP_BUCKET:-ecommerce-demo-bucket} \
  "$ROOT/.emulators/venv/bin/python" - <<'PY'
import json, os, urllib.request
p, ds, bucket = os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["DATASET"], os.environ["BUCKET"]
def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)
bq = f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{p}"
ps = f"http://{os.environ['PUBSUB_EMULATOR_HOST']}/v1/projects/{p}"
gcs = os.environ["STORAGE_EMULATOR_HOST"]
print(f"BigQuery dataset {p}.{ds}:")
for t in get(f"{bq}/datasets/{ds}/tables").get("tables", []):
    print(f"  {t['type'].lower():<6} {t['tableReference']['tableId']}")
print("Pub/Sub:")
for t in get(f"{ps}/topics").get("topics", []):
    print(f"  topic        {t['name'].split('/')[-1]}")
for s in get(f"{ps}/subscriptions").get("subscriptions", []):
    extra = ""
    if "deadLetterPolicy" in s:
        d = s["deadLetterPolicy"]
        extra = f"  (dead letters to {d['deadLetterTopic'].split('/')[-1]} after {d.get('maxDeliveryAttempts', 5)} attempts)"
    print(f"  subscription {s['name'].split('/')[-1]} <- {s['topic'].split('/')[-1]}{extra}")
print(f"Cloud Storage gs://{bucket}:")
for o in get(f"{gcs}/storage/v1/b/{bucket}/o").get("items", []):
    print(f"  {o['name']}")
PY

step "history: datagen -> gs://\$BUCKET/datasets/ -> batch-loader (load jobs)"
# One seed for the history and the live sales: the publisher sells the same products
# (same prices) to the same customers. --events-seed only makes each run's sales new.
SEED=${DEMO_SEED:-42}
target/debug/datagen --out data/out --seed "$SEED" --orders "${DEMO_ORDERS:-20000}"
target/debug/batch-loader --source data/out

step "live sales: stream-worker + publisher for ${DEMO_SECONDS:-20}s"
target/debug/stream-worker --stats-interval-secs 5 --metrics-addr 127.0.0.1:9464 &
WORKER=$!
trap 'kill -TERM $WORKER 2>/dev/null || true' EXIT
target/debug/publisher --duration "${DEMO_SECONDS:-20}" --rate 200 --invalid-ratio 0.02 --duplicate-ratio 0.01 \
  --seed "$SEED" --events-seed "$(date +%s)"
sleep 3 # the worker flushes about every second
echo "metrics: $(curl -s 127.0.0.1:9464/metrics | grep -E '^instashop_worker_(received|written|dead_lettered)_total' | tr '\n' ' ')"
kill -TERM $WORKER && wait $WORKER
trap - EXIT

step "refresh: sales_facts, the dashboard's date-partitioned facts (every day, after loading history)"
target/debug/refresh --all

step "KPIs from the views (batch next to streaming)"
"$ROOT/.emulators/venv/bin/python" - <<'PY'
import json, os, urllib.request
from decimal import Decimal
p, ds = os.environ["GOOGLE_CLOUD_PROJECT"], os.environ.get("INSTASHOP_DATASET", "data_ecommerce_demo")
def q(sql):
    req = urllib.request.Request(f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{p}/queries",
        data=json.dumps({"query": sql, "useLegacySql": False}).encode(), headers={"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=60))
    return [[c["v"] for c in row["f"]] for row in r.get("rows", [])]
# Every CAST is aliased: the emulator names an unaliased column after its input, and an
# ORDER BY on that name would then sort the text.
def money(v):  # exact NUMERIC text -> 30,233,626.82
    return "-" if v is None else f"{Decimal(v):,.2f}"
def count(v):
    return "-" if v is None else f"{int(v):,}"
def pct(v):
    return "-" if v is None else f"{Decimal(v):+.1f}%"
rows = {r[0]: r for r in q(f"SELECT source, CAST(revenue AS STRING), orders, unique_clients, CAST(aov AS STRING) FROM `{p}.{ds}.v_kpi_by_source`")}
print(f"{'source':<10} {'revenue':>18} {'orders':>9} {'clients':>8} {'AOV':>10}")
for s in ("batch", "streaming"):
    r = rows.get(s, [s, None, None, None, None])
    print(f"{s:<10} {money(r[1]):>18} {count(r[2]):>9} {count(r[3]):>8} {money(r[4]):>10}")
ov = q(f"SELECT CAST(revenue AS STRING), orders, unique_clients, CAST(aov AS STRING), CAST(failed_amount AS STRING) AS f, CAST(refunded_amount AS STRING) AS r FROM `{p}.{ds}.v_kpi_overview`")[0]
print(f"\noverall (net, completed sales; days in {os.environ['INSTASHOP_TIME_ZONE']}): revenue {money(ov[0])}, orders {count(ov[1])}, unique clients {count(ov[2])}, AOV {money(ov[3])}")
print(f"not revenue: failed payments {money(ov[4])}, refunded {money(ov[5])} (docs/metrics.md)")
g = q(f"SELECT CAST(revenue_30d AS STRING), CAST(revenue_prev_30d AS STRING), CAST(growth_pct AS STRING) FROM `{p}.{ds}.v_revenue_30d`")[0]
print(f"last 30 days: {money(g[0])} against {money(g[1])} the 30 before ({pct(g[2])} growth)")
print("top categories:", ", ".join(f"{c} {money(r)}" for c, r in q(f"SELECT category, CAST(revenue AS STRING) AS revenue_text FROM `{p}.{ds}.v_revenue_by_category` ORDER BY revenue DESC LIMIT 3")))
print("top countries:", ", ".join(f"{c} {money(r)}" for c, r in q(f"SELECT country, CAST(revenue AS STRING) AS revenue_text FROM `{p}.{ds}.v_revenue_by_country` ORDER BY revenue DESC LIMIT 3")))
print("inventory:", ", ".join(f"{s} {count(n)}" for s, n in q(f"SELECT status, COUNT(*) FROM `{p}.{ds}.v_inventory_status` GROUP BY status ORDER BY status")))
dl = q(f"SELECT error_kind, COUNT(*) FROM `{p}.{ds}.fact_sales_deadletter` GROUP BY error_kind ORDER BY 2 DESC")
print("dead letters by reason:", ", ".join(f"{k} {count(n)}" for k, n in dl) or "none")
PY

step "replay, dry run: the dead letters today's rules and the explicit repairs would bring back"
target/debug/replay --dry-run --repair numeric-strings --repair day-first-ts

step "forecast: each product's demand for the next 28 days (MSTL + ETS) -> forecast_demand"
target/debug/forecast
"$ROOT/.emulators/venv/bin/python" - <<'PY'
import json, os, urllib.request
p, ds = os.environ["GOOGLE_CLOUD_PROJECT"], os.environ.get("INSTASHOP_DATASET", "data_ecommerce_demo")
req = urllib.request.Request(f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{p}/queries",
    data=json.dumps({"query": f"SELECT product_id, stock, FORMAT('%.1f', units_per_day) AS upd, FORMAT('%.1f', days_of_cover) AS cover, CAST(stockout_date AS STRING) AS out_on, reorder_qty FROM `{p}.{ds}.v_inventory_forecast` WHERE days_of_cover IS NOT NULL ORDER BY days_of_cover LIMIT 5", "useLegacySql": False}).encode(),
    headers={"Content-Type": "application/json"})
rows = [[c["v"] for c in r["f"]] for r in json.load(urllib.request.urlopen(req, timeout=60)).get("rows", [])]
print("first to run out (v_inventory_forecast):")
for r in rows:
    print(f"  {r[0]}: {r[1]} on hand, {r[2]} a day, {r[3]} days of cover, out on {r[4] or 'not within the horizon'}, reorder {r[5]}")
PY

step "alerts: critical stock, failed payments, revenue anomaly, stock-out risk -> Pub/Sub orders-alerts (each once)"
target/debug/alerts --once 2>"$STATE/logs/alerts.log" || { cat "$STATE/logs/alerts.log" >&2; exit 1; }
echo "(one line per alert in $STATE/logs/alerts.log; a second run notifies nothing new. To see failed payments fire:"
echo " target/debug/publisher --count 300 --payment-failure-ratio 0.6, stream them, then alerts --once again)"

step "dashboard (the report's pages, looker/report.json)"
DASHBOARD_ADDR=127.0.0.1:${DASHBOARD_PORT:-8080}
if [ -f "$STATE/run/dashboard.pid" ] && kill -0 "$(cat "$STATE/run/dashboard.pid")" 2>/dev/null; then
  kill -TERM "$(cat "$STATE/run/dashboard.pid")" # the previous demo's, on the same stack
  sleep 0.5
fi
nohup target/debug/dashboard --addr "$DASHBOARD_ADDR" >"$STATE/logs/dashboard.log" 2>&1 &
echo $! >"$STATE/run/dashboard.pid"
for _ in $(seq 1 100); do
  curl -sf "http://$DASHBOARD_ADDR/" >/dev/null && break
  kill -0 "$(cat "$STATE/run/dashboard.pid")" 2>/dev/null || { cat "$STATE/logs/dashboard.log" >&2; exit 1; }
  sleep 0.1
done
echo "dashboard: http://$DASHBOARD_ADDR/ (Batch, Streaming, InstaShop KPIs; the Streaming page refreshes itself)"
echo "  for a period and a slice: http://$DASHBOARD_ADDR/pages/batch?from=$(date -u -d '-29 days' +%F)&to=$(date -u +%F)&compare=previous&country=Chile"
echo "Looker Studio: target/debug/dashboard --looker-url prints the link that creates the same report"

cat <<EOF

The stack and the dashboard are still running. Open http://$DASHBOARD_ADDR/ and, to see
live sales arrive, publish more from this shell:
  eval "\$(scripts/emulators.sh env)"
  target/debug/stream-worker & target/debug/publisher --duration 60 --rate 50 --events-seed \$RANDOM
The live figures show them at once; the charts of a period once sales_facts is refreshed:
  target/debug/refresh
Stop everything with: scripts/emulators.sh stop
EOF
