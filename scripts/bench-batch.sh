#!/usr/bin/env bash
# Benchmark of the batch pipeline on the local emulators: datagen rows/s, then
# batch-loader for about a million order lines, split into checking, upload and load job.
#
#   scripts/bench-batch.sh [ORDERS]   # default 400000 orders, about 1,000,000 order lines
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ORDERS=${1:-400000}
scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo build --release --quiet --bins
ID=benchb$(date +%s)
export INSTASHOP_DATASET=$ID INSTASHOP_BUCKET=$ID-bucket INSTASHOP_TOPIC=$ID INSTASHOP_SUBSCRIPTION=$ID-worker RUST_LOG=warn
target/release/provision >/dev/null
OUT=$(mktemp -d)
echo "== datagen ($ORDERS orders)"
target/release/datagen --out "$OUT" --orders "$ORDERS" --customers 50000 --products 2000
echo "== batch-loader"
start=$(date +%s%N)
target/release/batch-loader --source "$OUT"
echo "batch-loader wall time: $(( ($(date +%s%N) - start) / 1000000 )) ms"
rm -rf "$OUT"
