#!/usr/bin/env bash
# The main job on the local stack, no Google account needed: installs and starts the
# Pub/Sub, BigQuery and Cloud Storage emulators on 127.0.0.1, builds the binaries,
# provisions every resource of the data model, and lists what now exists.
# The stack stays up for you to explore; `scripts/emulators.sh stop` stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n== %s\n' "$*"; }

step "local Google Cloud stack"
scripts/emulators.sh install
scripts/emulators.sh start
eval "$(scripts/emulators.sh env)"

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

cat <<EOF

The stack is still running. Use it from this shell with:
  eval "\$(scripts/emulators.sh env)"
Stop it with: scripts/emulators.sh stop
EOF
