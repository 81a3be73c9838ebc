#!/usr/bin/env bash
# Benchmark of the dashboard on the local emulators, cold (every load queries BigQuery,
# --cache-secs 0), release build: at two history sizes with the same daily volume, the
# larger spanning five times the days (about 200 k and about 1 M order lines, plus a
# few thousand live sales), each page's data time as its browser waits for it (every
# chart's request at once, the slowest one ends it), p50 and p99 over repeated loads,
# over the page's default range and over all time; the ratio between the sizes; the
# refresh of sales_facts (every day, and the last days as the schedule runs it); and
# the dashboard process's memory. Prints one table.
#
#   scripts/bench-dashboard.sh [ORDERS] [LOADS]   # default 400000 orders (~1M lines) at the larger size, 10 loads
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ORDERS=${1:-400000}
LOADS=${2:-10}
scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo build --release --quiet --bins
PY=$ROOT/.emulators/venv/bin/python
RESULTS=$(mktemp)
TODAY=$(date -u +%F)

setup() { # LABEL ORDERS DAYS: a dataset with that history, refreshed; prints its id
  local label=$1 orders=$2 days=$3 id out t0 t1 t2
  id=benchd$(date +%s)$RANDOM
  export INSTASHOP_DATASET=$id INSTASHOP_BUCKET=$id-bucket INSTASHOP_TOPIC=$id INSTASHOP_SUBSCRIPTION=$id-worker RUST_LOG=warn
  target/release/provision >/dev/null
  out=$(mktemp -d)
  target/release/datagen --out "$out" --orders "$orders" --customers 50000 --products 2000 \
    --start "$(date -u -d "$TODAY - $((days - 1)) days" +%F)" --end "$TODAY" >/dev/null
  target/release/batch-loader --source "$out" >/dev/null
  rm -rf "$out"
  target/release/publisher --count 3000 --rate 0 --invalid-ratio 0 >/dev/null
  target/release/stream-worker --idle-timeout 10 >/dev/null 2>&1
  t0=$(date +%s%N)
  target/release/refresh --all >/dev/null
  t1=$(date +%s%N)
  target/release/refresh >/dev/null
  t2=$(date +%s%N)
  target/release/forecast >/dev/null # the Inventory page reads the latest run
  echo "$id $label $days $(((t1 - t0) / 1000000)) $(((t2 - t1) / 1000000))"
}

measure() { # ID LABEL DAYS REFRESH_ALL_MS REFRESH_LAST_MS
  local id=$1 label=$2 days=$3 port dash
  export INSTASHOP_DATASET=$id INSTASHOP_BUCKET=$id-bucket INSTASHOP_TOPIC=$id INSTASHOP_SUBSCRIPTION=$id-worker RUST_LOG=warn
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  target/release/dashboard --addr "127.0.0.1:$port" --cache-secs 0 >/dev/null 2>&1 &
  dash=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  LABEL=$label DAYS=$days PORT=$port LOADS=$LOADS DASH=$dash ID=$id RESULTS=$RESULTS \
    REFRESH_ALL=$4 REFRESH_LAST=$5 "$PY" - <<'PY'
import json, os, statistics, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

env = os.environ
port, loads, pid = env["PORT"], int(env["LOADS"]), env["DASH"]
report = json.load(open("looker/report.json"))

def get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        r.read()
        assert r.status == 200, url
    return time.perf_counter() - t

def q(sql):
    req = urllib.request.Request(f"http://{env['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{env['GOOGLE_CLOUD_PROJECT']}/queries",
        data=json.dumps({"query": sql, "useLegacySql": False}).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))["rows"][0]["f"][0]["v"]

def rss_kib(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])

lines = int(q(f"SELECT COUNT(*) FROM `{env['GOOGLE_CLOUD_PROJECT']}.{env['ID']}.v_fact_sales_all`"))
rows = []
for page in report["pages"]:
    for rng, query in (("default", ""), ("all time", "?to=2999-12-31")):
        urls = [f"http://127.0.0.1:{port}/api/pages/{page['id']}/charts/{c['id']}{query}" for c in page["charts"]]
        urls.append(f"http://127.0.0.1:{port}/api/pages/{page['id']}/freshness{query}")
        totals = []
        with ThreadPoolExecutor(len(urls)) as pool:
            get(f"http://127.0.0.1:{port}/pages/{page['id']}{query}")
            for _ in range(loads):
                t = time.perf_counter()
                list(pool.map(get, urls))
                totals.append(time.perf_counter() - t)
        totals.sort()
        p99 = totals[min(len(totals) - 1, int(round(0.99 * (len(totals) - 1))))]
        rows.append({"size": env["LABEL"], "lines": lines, "days": int(env["DAYS"]), "page": page["id"],
                     "range": page.get("default_range", "last_28_days") if rng == "default" else rng,
                     "p50": statistics.median(totals) * 1000, "p99": p99 * 1000})
with open(env["RESULTS"], "a") as f:
    f.write(json.dumps({"size": env["LABEL"], "lines": lines, "days": int(env["DAYS"]), "rows": rows,
                        "refresh_all": int(env["REFRESH_ALL"]) / 1000, "refresh_last": int(env["REFRESH_LAST"]) / 1000,
                        "rss": rss_kib("VmRSS:") / 1024, "hwm": rss_kib("VmHWM:") / 1024}) + "\n")
PY
  kill "$dash"
}

# Both histories first, then both measured, so that the emulator holds the same data
# while each is read (it slows down as its whole store grows).
SMALL=$(setup small $((ORDERS / 5)) 146)
LARGE=$(setup large "$ORDERS" 730)
# shellcheck disable=SC2086
measure $SMALL
# shellcheck disable=SC2086
measure $LARGE

RESULTS=$RESULTS LOADS=$LOADS "$PY" - <<'PY'
import json, os
runs = [json.loads(l) for l in open(os.environ["RESULTS"])]
small, large = runs
print(f"cold (--cache-secs 0), release build, {os.environ['LOADS']} loads per page and range; page data time in ms")
print(f"history: {small['lines']:,} sale lines over {small['days']} days, and {large['lines']:,} over {large['days']} days")
print()
print(f"| page | range | p50 small | p99 small | p50 large | p99 large | large / small (p50) |")
print(f"|---|---|---|---|---|---|---|")
for a, b in zip(small["rows"], large["rows"]):
    print(f"| {a['page']} | {a['range']} | {a['p50']:.0f} | {a['p99']:.0f} | {b['p50']:.0f} | {b['p99']:.0f} | {b['p50'] / a['p50']:.2f} |")
print()
for r in runs:
    print(f"{r['size']}: refresh --all {r['refresh_all']:.1f} s, refresh (last 3 days) {r['refresh_last']:.1f} s; "
          f"dashboard memory {r['rss']:.1f} MiB resident after the loads, {r['hwm']:.1f} MiB at most")
PY
rm -f "$RESULTS"
