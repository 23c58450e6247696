#!/usr/bin/env bash
# Fit time and hold-out quality: `vigil train` vs scikit-learn on the same data and split,
# on this machine, in one run: Adult (examples/data) and the ACS-like set of
# make_acs_like.py, logistic regression and a depth-10 tree on each.
#
#   bench/train/run.sh            # 5 fits per model on each side; prints a table
#   REPEATS=3 bench/train/run.sh
#
# Needs python3 (a venv is made with the reference kit's pinned packages) and a Rust
# toolchain. CARGO (default cargo) and CARGO_TARGET_DIR are honoured.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${WORK:-$(mktemp -d)}
REPEATS=${REPEATS:-5}
CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if [ ! -x "$WORK/venv/bin/python" ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check \
        -r "$SHARED/bench/requirements.txt" pyyaml==6.0.2
fi
[ -f "$WORK/acs_like.csv.gz" ] || "$WORK/venv/bin/python" "$ROOT/bench/train/make_acs_like.py" "$WORK/acs_like.csv.gz"
(cd "$ROOT" && "$CARGO" build --release --bin vigil)
"$WORK/venv/bin/python" "$ROOT/bench/train/compare.py" \
    --vigil "$TARGET/release/vigil" --python "$WORK/venv/bin/python" --root "$ROOT" \
    --adult "$ROOT/examples/data/adult.csv.gz" --acs "$WORK/acs_like.csv.gz" \
    --repeats "$REPEATS"
