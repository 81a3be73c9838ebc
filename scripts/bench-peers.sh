#!/usr/bin/env bash
# Ours side by side with what a user would pick instead, on this machine, the same
# emulator stack and the same events: the official Python Pub/Sub client (the seed's
# publisher.py shape), a Faker script for the history, the streaming job as an Apache
# Beam pipeline on the DirectRunner (streaming mode) and as the Python subscriber client,
# both with the same rules and batched insertAll writes, and the rules alone in plain
# Python. Prints one table and writes it as
# JSON to target/bench-peers.json. Not part of scripts/test.sh.
#
#   scripts/bench-peers.sh [EVENTS] [ORDERS]   # default 50000 events, 100000 orders
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
EVENTS=${1:-50000}
ORDERS=${2:-100000}
VENV=$ROOT/.emulators/peers-venv
if ! "$VENV/bin/python" -c 'import apache_beam, faker, google.cloud.pubsub' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "google-cloud-pubsub==2.44.0" "faker==40.54.0" "apache-beam[gcp]==2.77.0"
fi
scripts/emulators.sh start >/dev/null
eval "$(scripts/emulators.sh env)"
cargo build --release --quiet --bins
cargo bench --quiet --bench transform -- --noplot >/dev/null 2>&1
ID=peers$(date +%s)
export RUST_LOG=warn
for side in ours theirs beam; do
  INSTASHOP_DATASET=${ID}_$side INSTASHOP_BUCKET=$ID-$side INSTASHOP_TOPIC=$ID-$side INSTASHOP_SUBSCRIPTION=$ID-$side-worker \
    target/release/provision --ack-deadline-secs 60 >/dev/null
done
EVENTS=$EVENTS ORDERS=$ORDERS ID=$ID VENV=$VENV "$VENV/bin/python" scripts/peers/measure.py
