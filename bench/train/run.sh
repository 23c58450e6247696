#!/usr/bin/env bash
# Fit time and hold-out quality: `vigil train` (linfa) vs scikit-learn
# (../shared/bench/train.py) on the same Adult split, on this machine, in one run.
#
#   bench/train/run.sh            # 3 fits per model on each side; prints a table
#
# Needs python3 (a venv is made for the reference kit) and a Rust toolchain.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-$(mktemp -d)}
REPEATS=${REPEATS:-3}

if [ ! -x "$WORK/bench/venv/bin/python" ]; then
    cp -r "$SHARED/bench" "$SHARED/data" "$WORK"/
    chmod -R u+w "$WORK"
    python3 -m venv "$WORK/bench/venv"
    "$WORK/bench/venv/bin/pip" install --quiet --disable-pip-version-check -r "$WORK/bench/requirements.txt"
fi
(cd "$ROOT" && cargo build --release --bin vigil)
python3 "$ROOT/bench/train/compare.py" \
    --vigil "$ROOT/target/release/vigil" --root "$ROOT" \
    --bench "$WORK/bench" --repeats "$REPEATS"
