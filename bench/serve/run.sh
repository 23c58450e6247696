#!/usr/bin/env bash
# Load benchmark of `vigil serve` against the FastAPI reference and a bare axum echo.
# Usage (from anywhere): bash bench/serve/run.sh [extra bench.py args, e.g. --duration 10]
# Needs: ../shared/bench next to the repository, python3, wrk (apt-get install -y wrk), taskset.
# About 10 minutes with the defaults (3 servers x 2 endpoints x 3 concurrencies x 5 s,
# plus the builds, the Python venv and training).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_WORK:-$(mktemp -d)}
cd "$ROOT"

command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --bin vigil
cargo build --release -p vigil-inference --example echo

# shellcheck source=bench/serve/kit.sh
. bench/serve/kit.sh
(cd "$WORK/bench" && { [ -f out/model_adult.joblib ] || venv/bin/python train.py >/dev/null; })
STORE="$WORK/store"
train_into "$STORE"

python3 bench/serve/bench.py --kit "$WORK/bench" --vigil "$VIGIL" \
  --echo "${CARGO_TARGET_DIR:-$ROOT/target}"/release/examples/echo --store "$STORE" --out "$WORK/results" "$@"
echo "results: $WORK/results/results.json" >&2
