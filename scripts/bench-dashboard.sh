#!/usr/bin/env bash
# Benchmark of the dashboard on the local emulators: with a history of about a million
# order lines (and a few thousand live sales), each page's data time, as its browser
# waits for it (every chart's request at once, the slowest one ends it), p50 and p99 over
# repeated loads, and the dashboard process's memory; first with every load querying
# BigQuery, then with the default answer cache. Prints two tables.
#
#   scripts/bench-dashboard.sh [ORDERS] [LOADS]   # default 400000 orders (~1M lines), 30 loads
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ORDERS=${1:-400000}
LOADS=${2:-30}
scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo build --release --quiet --bins
ID=benchd$(date +%s)
export INSTASHOP_DATASET=$ID INSTASHOP_BUCKET=$ID-bucket INSTASHOP_TOPIC=$ID INSTASHOP_SUBSCRIPTION=$ID-worker RUST_LOG=warn
target/release/provision >/dev/null
OUT=$(mktemp -d)
target/release/datagen --out "$OUT" --orders "$ORDERS" --customers 50000 --products 2000 >/dev/null
target/release/batch-loader --source "$OUT" >/dev/null
rm -rf "$OUT"
target/release/publisher --count 3000 --rate 0 --invalid-ratio 0 >/dev/null
target/release/stream-worker --idle-timeout 10 >/dev/null 2>&1
lines=$(curl -s -X POST "http://$BIGQUERY_EMULATOR_HOST/bigquery/v2/projects/$GOOGLE_CLOUD_PROJECT/queries" \
  -H 'content-type: application/json' \
  -d "{\"query\": \"SELECT COUNT(*) FROM \`$GOOGLE_CLOUD_PROJECT.$ID.v_fact_sales_all\`\", \"useLegacySql\": false}" |
  "$ROOT/.emulators/venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["rows"][0]["f"][0]["v"])')

echo "history + live: $lines sale lines in v_fact_sales_all ($ORDERS orders); $LOADS loads per page"
bench() { # CACHE_SECS LABEL
  local port dash
  port=$("$ROOT/.emulators/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/dashboard --addr "127.0.0.1:$port" --cache-secs "$1" >/dev/null 2>&1 &
  dash=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  echo
  echo "== $2"
  PORT=$port LOADS=$LOADS DASH=$dash "$ROOT/.emulators/venv/bin/python" - <<'PY'
import json, os, statistics, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

port, loads, pid = os.environ["PORT"], int(os.environ["LOADS"]), os.environ["DASH"]
report = json.load(open("looker/report.json"))

def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
        assert r.status == 200, url
    return time.perf_counter() - t

def rss_kib(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])

print(f"{'page':<12} {'charts':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  slowest chart (p50 ms)")
for page in report["pages"]:
    urls = {c["id"]: f"http://127.0.0.1:{port}/api/pages/{page['id']}/charts/{c['id']}" for c in page["charts"]}
    totals, per_chart = [], {k: [] for k in urls}
    with ThreadPoolExecutor(len(urls)) as pool:
        get(f"http://127.0.0.1:{port}/pages/{page['id']}")
        for _ in range(loads):
            t = time.perf_counter()
            times = dict(zip(urls, pool.map(get, urls.values())))
            totals.append(time.perf_counter() - t)
            for k, v in times.items():
                per_chart[k].append(v)
    totals.sort()
    p99 = totals[min(len(totals) - 1, int(round(0.99 * (len(totals) - 1))))]
    slow = max(per_chart, key=lambda k: statistics.median(per_chart[k]))
    print(f"{page['id']:<12} {len(urls):>6} {statistics.median(totals)*1000:>8.0f} {p99*1000:>8.0f} "
          f"{totals[-1]*1000:>8.0f}  {slow} ({statistics.median(per_chart[slow])*1000:.0f})")
print(f"dashboard memory: {rss_kib('VmRSS:')/1024:.1f} MiB resident now, {rss_kib('VmHWM:')/1024:.1f} MiB at most")
PY
  kill "$dash"
}
bench 0 "every load queries BigQuery (--cache-secs 0)"
bench 30 "default: answers kept 30 s (live page: 2.5 s), one query in flight per SQL text"
