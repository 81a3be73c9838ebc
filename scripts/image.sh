#!/usr/bin/env bash
# Builds the container image (every binary; the stream worker is the entrypoint) and
# runs `stream-worker --help` in it. Needs docker or podman whose daemon runs and can
# pull the base images; where there is none, it says so in one line and exits 0.
#
#   scripts/image.sh                       # builds instashop-analytics:dev
#   IMAGE=REGION-docker.pkg.dev/PROJECT/instashop/instashop-analytics:v1 scripts/image.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IMAGE=${IMAGE:-instashop-analytics:dev}
RUST_VERSION=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
BASES=("rust:${RUST_VERSION}-slim-bookworm" "gcr.io/distroless/cc-debian12:nonroot")

engine=""
for e in docker podman; do
  if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
done
if [ -z "$engine" ]; then
  echo "image: no running docker or podman on this machine: the Dockerfile is linted (hadolint), not built"
  exit 0
fi
for base in "${BASES[@]}"; do
  if ! "$engine" image inspect "$base" >/dev/null 2>&1 && ! "$engine" pull --quiet "$base" >/dev/null 2>&1; then
    echo "image: $engine cannot pull the base image $base here: the Dockerfile is linted (hadolint), not built"
    exit 0
  fi
done
"$engine" build --tag "$IMAGE" .
help=$("$engine" run --rm "$IMAGE" --help)
grep -q -- "--subscription" <<<"$help" || { echo "image: stream-worker --help in $IMAGE did not list its flags:"; echo "$help"; exit 1; }
echo "image: built $IMAGE; stream-worker --help runs in it as $("$engine" run --rm --entrypoint /usr/local/bin/stream-worker "$IMAGE" --version)"
