#!/usr/bin/env bash
# End to end: the drift check as a user runs it, against the Python a user would write.
#   scheduled: `vigil serve` logs ROWS predictions (vigil inject, Adult's test split, through
#              HTTP); then `vigil drift --config` over that store — from the batch profiles
#              the server wrote, and from the log alone (profiles moved aside) — and
#              e2e_reference.py reading the same log files with json + pandas + scipy.
#   ad-hoc:    two ROWS-row CSVs (reference sampled from train, current from test);
#              `vigil drift --reference --current` against pandas.read_csv + scipy.
# Every figure is one whole process under /usr/bin/time (wall s, max RSS); Vigil's are the
# median of REPS runs. Usage (from anywhere): bash bench/drift/e2e.sh [ROWS...]
#   default 1000000; e.g. `e2e.sh 1000000 10000000` (the 10M run skips the Python side:
#   its DataFrames would not fit in memory here). BENCH_WORK=/tmp/vb reuses run.sh's kit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_WORK:-$(mktemp -d)}
REPS=${REPS:-3}
PYTHON_MAX_ROWS=${PYTHON_MAX_ROWS:-2000000}
SIZES=("${@:-1000000}")
cd "$ROOT"

cargo build --release --bin vigil
# shellcheck source=bench/serve/kit.sh
. bench/serve/kit.sh
KIT="$WORK/bench"
PY="$KIT/venv/bin/python"
ADULT="$WORK/data/adult.csv.gz"
OUT="$WORK/e2e"
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"
PORT=18083

# measure LABEL ROWS CMD...: one process under /usr/bin/time; appends LABEL ROWS wall_s max_rss_kib.
# Exit codes 0-3 are verdicts (ad-hoc mode); anything else stops the bench.
measure() {
  local label=$1 rows=$2 code=0
  shift 2
  /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" > "$OUT/$label-$rows.out" 2> "$OUT/$label-$rows.err" || code=$?
  if [ "$code" -gt 3 ]; then
    echo "$label ($rows rows) failed with exit code $code:" >&2
    tail -5 "$OUT/$label-$rows.err" >&2
    exit 1
  fi
  echo "$label $rows $(tail -1 "$OUT/time")" | tee -a "$RESULTS"
}

# fill STORE ROWS: a server logs ROWS predictions of the test split, in passes of its 16,281 rows.
fill() {
  local store=$1 rows=$2 pass=0 left=$2
  "$VIGIL" serve --store "$store" --listen 127.0.0.1:$PORT --writer bench --max-batch 1000 \
    > "$OUT/serve.log" 2>&1 &
  local server=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$PORT/ready >/dev/null && break; sleep 0.2; done
  while [ "$left" -gt 0 ]; do
    local n=$((left < 16281 ? left : 16281))
    "$VIGIL" inject --data "$ADULT" --filter split=test --rows "$n" --url http://127.0.0.1:$PORT \
      --batch-size 1000 --no-feedback --id-prefix "p$pass" --seed "$pass" >> "$OUT/inject.log" 2>&1
    left=$((left - n))
    pass=$((pass + 1))
  done
  kill -TERM "$server"
  wait "$server" || true
}

# The median run of REPS (by wall time) of one Vigil command.
median_of() {
  local label=$1 rows=$2
  shift 2
  for rep in $(seq "$REPS"); do measure "$label#$rep" "$rows" "$@" > /dev/null; done
  grep "^$label#" "$RESULTS" | awk -v r="$rows" '$2 == r' | sort -k3 -n | awk -v n="$REPS" 'NR == int((n + 1) / 2)' \
    | sed "s/^$label#[0-9]*/$label/" | tee -a "$RESULTS"
}

for rows in "${SIZES[@]}"; do
  store="$WORK/e2e-store-$rows"
  train_into "$store"
  if [ ! -d "$store/logs" ]; then
    echo "filling $store with $rows logged predictions" >&2
    fill "$store" "$rows"
  fi
  cat > "$OUT/check-$rows.yaml" <<EOF
model: adult-income
storage: {uri: $store}
policy: {window: 7d, minSamples: 500}
EOF
  files=$(find "$store/logs" -name '*.jsonl.gz' | wc -l)
  echo "$rows rows in $files log files" >&2
  check=("$VIGIL" drift --config "$OUT/check-$rows.yaml" --termination-log "$OUT/termination")
  median_of vigil-scheduled-profiles "$rows" "${check[@]}"
  cp "$OUT/termination" "$OUT/summary-$rows.json"
  mv "$store/profiles" "$store/profiles.aside"
  median_of vigil-scheduled-log "$rows" "${check[@]}"
  mv "$store/profiles.aside" "$store/profiles"
  if [ "$rows" -le "$PYTHON_MAX_ROWS" ]; then
    measure python-scheduled "$rows" "$PY" bench/drift/e2e_reference.py --kit "$KIT" scheduled --store "$store"

    ref="$WORK/adhoc-ref-$rows.csv" cur="$WORK/adhoc-cur-$rows.csv"
    if [ ! -f "$cur" ]; then
      "$PY" - "$ADULT" "$rows" "$ref" "$cur" <<'PY'
import sys
import pandas as pd
adult, rows, ref, cur = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = pd.read_csv(adult)
for split, path, seed in (("train", ref, 1), ("test", cur, 2)):
    data[data["split"] == split].sample(rows, replace=True, random_state=seed).to_csv(path, index=False)
PY
    fi
    median_of vigil-adhoc "$rows" "$VIGIL" drift --reference "$ref" --current "$cur" \
      --schema examples/adult-schema.yaml --out "$OUT/adhoc-report" --json
    measure python-adhoc "$rows" "$PY" bench/drift/e2e_reference.py --kit "$KIT" adhoc \
      --reference "$ref" --current "$cur"
  fi
done

echo >&2
python3 bench/drift/e2e_table.py "$RESULTS"
