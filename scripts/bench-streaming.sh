#!/usr/bin/env bash
# Benchmark of the streaming pipeline on the local emulators: publisher -> Pub/Sub ->
# stream-worker -> BigQuery, for N events (default 20000) published at RATE/s (default
# 0: as fast as possible, so the worker drains a backlog). Prints a table: events/s,
# worker CPU seconds per 1,000 events, peak RSS, and publish-to-written latency.
#
#   scripts/bench-streaming.sh [N] [RATE] [WRITE_METHOD]
#   WORKER_FLAGS="--concurrent-writes 1" scripts/bench-streaming.sh   # extra worker flags
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
N=${1:-20000}
RATE=${2:-0}
METHOD=${3:-storage-write}
IDLE=5

scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo build --release --quiet --bins
BIN=target/release
ID=bench$(date +%s)
export INSTASHOP_DATASET=$ID INSTASHOP_BUCKET=$ID-bucket INSTASHOP_TOPIC=$ID INSTASHOP_SUBSCRIPTION=$ID-worker
export RUST_LOG=warn
$BIN/provision >/dev/null
OUT=$(mktemp -d)

# The worker runs under /usr/bin/time for its CPU and peak RSS; it exits IDLE s after the last message.
/usr/bin/time -v -o "$OUT/time" $BIN/stream-worker --write-method "$METHOD" --idle-timeout $IDLE ${WORKER_FLAGS:-} 2>"$OUT/worker.log" &
WORKER=$!
start=$(date +%s.%N)
$BIN/publisher --count "$N" --rate "$RATE" --seed 7 >"$OUT/publisher.txt"
wait $WORKER
end=$(date +%s.%N)

"$ROOT/.emulators/venv/bin/python" - "$OUT" "$N" "$start" "$end" "$IDLE" "$METHOD" <<'PY'
import json, os, re, sys, urllib.request
out, n, start, end, idle, method = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
t = open(f"{out}/time").read()
cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
p, ds = os.environ["GOOGLE_CLOUD_PROJECT"], os.environ["INSTASHOP_DATASET"]
sql = (f"SELECT TIMESTAMP_DIFF(ingest_ts, publish_ts, MILLISECOND) AS ms FROM `{p}.{ds}.fact_sales_streaming`")
req = urllib.request.Request(f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{p}/queries",
    data=json.dumps({"query": sql, "useLegacySql": False, "maxResults": 1000000, "timeoutMs": 120000}).encode(),
    headers={"Content-Type": "application/json"})
rows = json.load(urllib.request.urlopen(req, timeout=180)).get("rows", [])
lat = sorted(int(r["f"][0]["v"]) for r in rows)
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
wall = end - start - idle
print(f"| metric | value |\n|---|---|")
print(f"| write method | {method} |")
print(f"| events published | {n} |")
print(f"| rows written | {len(lat)} |")
print(f"| end-to-end events/s (publish start to last row) | {n / wall:,.0f} |")
print(f"| worker CPU s per 1,000 events | {1000 * cpu / n:.3f} ({1e6 * cpu / n:.1f} us/event) |")
print(f"| worker peak RSS | {rss / 1024:.1f} MiB |")
print(f"| publish -> row written p50 | {pct(0.50)} ms |")
print(f"| publish -> row written p99 | {pct(0.99)} ms |")
PY
echo "(publisher: $(cat "$OUT/publisher.txt"))"
rm -rf "$OUT"
