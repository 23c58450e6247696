#!/usr/bin/env bash
# Vigil's drift statistics vs the SciPy reference kit (shared/bench/drift_bench.py), same
# machine, same windows (Adult: reference sampled from train, current from test).
# Usage (from the repository root):  bench/drift/run.sh [SIZES...]   (default 10000 100000 1000000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIZES=("${@:-10000 100000 1000000}")
SIZES=(${SIZES[@]})
KIT=${KIT:-$ROOT/../shared}
B=${BENCH_DIR:-$(mktemp -d)}
if [ ! -d "$B/bench" ]; then
  cp -r "$KIT/bench" "$KIT/data" "$B"/ && chmod -R u+w "$B"
fi
if [ ! -x "$B/bench/venv/bin/python" ]; then
  python3 -m venv "$B/bench/venv"
  "$B/bench/venv/bin/pip" install -q -r "$B/bench/requirements.txt"
fi
OUT="$ROOT/out/bench-drift"
mkdir -p "$OUT"
(cd "$ROOT" && cargo build --release -q -p vigil-jobs --example drift_bench)
"$ROOT/target/release/examples/drift_bench" --sizes "${SIZES[@]}" --threads 1 --out "$OUT/vigil-1thread.json"
"$ROOT/target/release/examples/drift_bench" --sizes "${SIZES[@]}" --threads 2 --out "$OUT/vigil-2threads.json"
"$ROOT/target/release/examples/drift_bench" --sizes "${SIZES[@]}" --threads 2 --values --out "$OUT/vigil-values.json"
(cd "$B/bench" && venv/bin/python drift_bench.py --sizes "${SIZES[@]}" --out "$OUT")
python3 "$ROOT/bench/drift/compare.py" "$OUT"
