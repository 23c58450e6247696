#!/usr/bin/env bash
# `GET /logs` on a store of ~1.5M predictions: latency and server memory (see README.md).
# Usage: BENCH_WORK=/tmp/vb bash bench/serve/logs.sh [--rows N]  (reuses run.sh's work folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_WORK:-$(mktemp -d)}
cd "$ROOT"

cargo build --release --bin vigil
# shellcheck source=bench/serve/kit.sh
. bench/serve/kit.sh
# A store of its own, its log written afresh: the calls read the last hour.
train_into "$WORK/logs-store"
rm -rf "$WORK/logs-store/logs" "$WORK/logs-store/profiles"
cd bench/serve && python3 logs.py --kit "$WORK/bench" --vigil "$VIGIL" --store "$WORK/logs-store" "$@"
