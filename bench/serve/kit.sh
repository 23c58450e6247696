# Sourced by run.sh and logs.sh: the reference kit in $WORK/bench (a writable copy of
# ../shared/bench with its venv and request bodies) and `train_into STORE`, which trains
# the Adult model into STORE once. Needs ROOT, SHARED, WORK.
if [ ! -d "$WORK/bench/venv" ]; then
  cp -r "$SHARED/bench" "$SHARED/data" "$WORK"/ && chmod -R u+w "$WORK"
  python3 -m venv "$WORK/bench/venv"
  "$WORK/bench/venv/bin/pip" install -q -r "$WORK/bench/requirements.txt"
fi
(cd "$WORK/bench" && venv/bin/python make_bodies.py >/dev/null)

VIGIL="${CARGO_TARGET_DIR:-$ROOT/target}/release/vigil"

train_into() {
  local store=$1
  if [ ! -d "$store/models" ]; then
    sed "s#uri: out/store/adult-income#uri: $store#" examples/train-adult.yaml > "$WORK/train-$(basename "$store").yaml"
    "$VIGIL" train --config "$WORK/train-$(basename "$store").yaml" --termination-log "$WORK/termination" >/dev/null
  fi
}
