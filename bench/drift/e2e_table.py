"""The table of bench/drift/e2e.sh from its results.tsv (label rows wall_s max_rss_kib;
repetitions are labelled `label#i` and their median plain `label`)."""
import json
import os
import sys

ROWS = [
    ("scheduled", "vigil-scheduled-profiles", "python-scheduled", "Vigil, from the batch profiles"),
    ("scheduled", "vigil-scheduled-log", "python-scheduled", "Vigil, from the log alone"),
    ("scheduled", "python-scheduled", None, "Python: json + pandas + scipy"),
    ("ad-hoc", "vigil-adhoc", "python-adhoc", "Vigil"),
    ("ad-hoc", "python-adhoc", None, "Python: pandas.read_csv + scipy"),
]


def main(path):
    runs = {}
    for line in open(path):
        label, rows, wall, rss = line.split()
        if "#" not in label:
            runs[(label, int(rows))] = (float(wall), int(rss) / 1024)
    print("| check | rows | run | wall s | max RSS MiB | vs Python |")
    print("|---|---:|---|---:|---:|---:|")
    for rows in sorted({r for _, r in runs}):
        for check, label, versus, name in ROWS:
            if (label, rows) not in runs:
                continue
            wall, rss = runs[(label, rows)]
            ratio = ""
            if versus and (versus, rows) in runs:
                ratio = f"{runs[(versus, rows)][0] / wall:.1f}x"
            print(f"| {check} | {rows:,} | {name} | {wall:.2f} | {rss:.0f} | {ratio} |")


def agreement(path):
    """The Python side's three largest PSIs beside Vigil's (from the profiles run's report)."""
    out_dir = os.path.dirname(path)
    measured = {line.split()[1] for line in open(path) if line.startswith("python-scheduled ")}
    for rows in sorted(measured, key=int):
        summary = os.path.join(out_dir, f"summary-{rows}.json")
        python = os.path.join(out_dir, f"python-scheduled-{rows}.out")
        report = json.load(open(json.load(open(summary))["reportUri"]))
        ours = {f["name"]: f["psi"] for f in report["features"]}
        theirs = json.loads(open(python).read())["worst_psi"]
        pairs = ", ".join(f"{k} {v:.4f} / {ours[k]:.4f}" for k, v in theirs.items())
        print(f"\nPSI, Python / Vigil, {int(rows):,} rows (the largest three): {pairs}")


if __name__ == "__main__":
    main(sys.argv[1])
    agreement(sys.argv[1])
