"""Ratio table: SciPy kit (drift.json) vs Vigil (vigil-*.json) in one folder."""
import json
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "out/bench-drift")
scipy = {r["rows_per_window"]: r for r in json.loads((out / "drift.json").read_text())}
runs = [("1 thread, columnar", "vigil-1thread.json"), ("2 threads, columnar", "vigil-2threads.json"),
        ("2 threads, Vec<Value>", "vigil-values.json")]
print("| rows/window | SciPy wall s | SciPy peak extra MiB | Vigil run | wall s | speed-up | peak extra MiB | memory ratio |")
print("|---:|---:|---:|---|---:|---:|---:|---:|")
for label, name in runs:
    path = out / name
    if not path.exists():
        continue
    for r in json.loads(path.read_text()):
        n = r["rows_per_window"]
        s = scipy.get(n)
        if not s:
            continue
        extra = max(r["peak_extra_mib"], 0.1)
        print(f"| {n:,} | {s['wall_s_median']:.3f} | {s['peak_extra_mib']:.0f} | {label} | {r['wall_s_median']:.4f} "
              f"| {s['wall_s_median'] / r['wall_s_median']:.1f}x | {r['peak_extra_mib']:.1f} "
              f"| {s['peak_extra_mib'] / extra:.1f}x |")
