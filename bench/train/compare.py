"""Runs scikit-learn's train.py and `vigil train` on the same data; prints fit times,
their ratio and the hold-out quality side by side. Called by run.sh."""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile

CONFIGS = {
    "logreg": ("examples/train-adult.yaml", "logreg"),
    "decision_tree_d10": ("examples/train-adult-tree.yaml", "decision_tree_d10"),
}


def run_vigil(vigil, root, config, repeats):
    fits, metrics = [], None
    with open(os.path.join(root, config)) as f:
        text = f.read()
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as store:
            cfg = re.sub(r"^  uri: .*$", f"  uri: {store}", text, count=1, flags=re.M)
            cfg = cfg.replace("uri: examples/data/", f"uri: {root}/examples/data/")
            path = os.path.join(store, "config.yaml")
            with open(path, "w") as f:
                f.write(cfg)
            out = os.path.join(store, "result.json")
            subprocess.run([vigil, "train", "--config", path, "--termination-log", out],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(out) as f:
                summary = json.load(f)
            with open(os.path.join(store, "models", summary["version"], "model.json")) as f:
                model = json.load(f)
            fits.append(model["lineage"]["fitSeconds"])
            metrics = model["metrics"]
    return statistics.median(fits), fits, metrics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    subprocess.run([os.path.join(a.bench, "venv/bin/python"), "train.py", "--out", "out",
                    "--repeats", str(a.repeats)], cwd=a.bench, check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(a.bench, "out/train.json")) as f:
        sk = json.load(f)

    rows = []
    for name, (config, sk_name) in CONFIGS.items():
        fit, fits, m = run_vigil(a.vigil, a.root, config, a.repeats)
        s = sk["models"][sk_name]
        rows.append(dict(model=name, vigil_fit_s=fit, vigil_fits=fits,
                         sklearn_fit_s=s["fit_s_median"], sklearn_fit_cpu_s=s["fit_cpu_s_median"],
                         ratio_vigil_over_sklearn=fit / s["fit_s_median"],
                         vigil_accuracy=m["accuracy"], vigil_roc_auc=m["rocAuc"],
                         sklearn_accuracy=s["accuracy"], sklearn_roc_auc=s["roc_auc"]))
    print(f"scikit-learn {sk['sklearn']} ({sk['threads']} BLAS threads) vs vigil (linfa, 1 thread); "
          f"train {sk['n_train']} rows, test {sk['n_test']} rows; median of {a.repeats} fits")
    print(f"| model | vigil fit s | sklearn fit s (CPU s) | vigil / sklearn | vigil acc / AUC | sklearn acc / AUC |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['vigil_fit_s']:.2f} | {r['sklearn_fit_s']:.2f} ({r['sklearn_fit_cpu_s']:.2f}) "
              f"| {r['ratio_vigil_over_sklearn']:.1f}× | {r['vigil_accuracy']:.4f} / {r['vigil_roc_auc']:.4f} "
              f"| {r['sklearn_accuracy']:.4f} / {r['sklearn_roc_auc']:.4f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
