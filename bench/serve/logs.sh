#!/usr/bin/env bash
# `GET /logs` on a store of ~1.5M predictions: latency and server memory (see README.md).
# Usage: BENCH_WORK=/tmp/vb bash bench/serve/logs.sh [--rows N]  (reuses run.sh's work folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_WORK:-$(mktemp -d)}
cd "$ROOT"

cargo build --release --bin vigil
if [ ! -d "$WORK/bench/venv" ]; then
  cp -r "$SHARED/bench" "$SHARED/data" "$WORK"/ && chmod -R u+w "$WORK"
  python3 -m venv "$WORK/bench/venv"
  "$WORK/bench/venv/bin/pip" install -q -r "$WORK/bench/requirements.txt"
fi
(cd "$WORK/bench" && venv/bin/python make_bodies.py >/dev/null)

# A store of its own: the log fills it.
STORE="$WORK/logs-store"
if [ ! -d "$STORE/models" ]; then
  sed "s#uri: out/store/adult-income#uri: $STORE#" examples/train-adult.yaml > "$WORK/train-logs.yaml"
  "${CARGO_TARGET_DIR:-target}"/release/vigil train --config "$WORK/train-logs.yaml" --termination-log "$WORK/termination" >/dev/null
fi
cd bench/serve && python3 logs.py --kit "$WORK/bench" --vigil "${CARGO_TARGET_DIR:-$ROOT/target}/release/vigil" --store "$STORE" "$@"
