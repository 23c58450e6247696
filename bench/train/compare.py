"""Runs scikit-learn (sklearn_fit.py) and `vigil train` on the same data and split; prints
fit times, their ratio and the hold-out quality side by side. Called by run.sh."""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# (data set, model): Vigil config (relative to the repository root), data file key.
CASES = [
    ("Adult", "logistic regression", "examples/train-adult.yaml", "adult"),
    ("Adult", "decision tree, depth 10", "examples/train-adult-tree.yaml", "adult"),
    ("ACS-like", "logistic regression", "bench/train/acs-like-logreg.yaml", "acs"),
    ("ACS-like", "decision tree, depth 10", "bench/train/acs-like-tree.yaml", "acs"),
]


def config_for(root, config, data, store):
    """The config with its store in `store` and its data at `data`; written to store."""
    with open(os.path.join(root, config)) as f:
        text = f.read()
    text = re.sub(r"^  uri: .*$", f"  uri: {store}", text, count=1, flags=re.M)
    text = re.sub(r"data: \{uri: [^,]*,", f"data: {{uri: {data},", text)
    path = os.path.join(store, "config.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def run_vigil(vigil, root, config, data, repeats):
    fits, model = [], None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as store:
            path = config_for(root, config, data, store)
            out = os.path.join(store, "result.json")
            subprocess.run([vigil, "train", "--config", path, "--termination-log", out],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(out) as f:
                summary = json.load(f)
            with open(os.path.join(store, "models", summary["version"], "model.json")) as f:
                model = json.load(f)
            with open(os.path.join(store, "reports", "training",
                                   summary["version"] + ".json")) as f:
                convergence = json.load(f).get("convergence")
            fits.append(model["lineage"]["fitSeconds"])
    m = model["metrics"]
    return dict(fit_s_median=statistics.median(fits), fit_s_all=fits, accuracy=m["accuracy"],
                roc_auc=m["rocAuc"], log_loss=m["logLoss"], convergence=convergence)


def run_sklearn(python, root, config, data, repeats):
    with tempfile.TemporaryDirectory() as store:
        path = config_for(root, config, data, store)
        out = subprocess.run([python, os.path.join(HERE, "sklearn_fit.py"), "--config", path,
                              "--data", data, "--repeats", str(repeats)],
                             check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def verdict(model, v, s):
    """The issue's bar: LR within 2x at equal quality; the tree within 2x, AUC >= sklearn - 0.002."""
    fast = v["fit_s_median"] <= 2 * s["fit_s_median"]
    if model.startswith("logistic"):
        good = (abs(v["roc_auc"] - s["roc_auc"]) <= 0.005
                and v["log_loss"] <= 1.01 * s["log_loss"])
    else:
        good = v["roc_auc"] >= s["roc_auc"] - 0.002
    return "yes" if fast and good else "NO"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--python", required=True, help="the reference venv's python")
    ap.add_argument("--root", required=True)
    ap.add_argument("--adult", required=True)
    ap.add_argument("--acs", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    data = {"adult": a.adult, "acs": a.acs}

    load_before = os.getloadavg()
    rows, sk = [], None
    for dataset, model, config, key in CASES:
        sk = run_sklearn(a.python, a.root, config, data[key], a.repeats)
        v = run_vigil(a.vigil, a.root, config, data[key], a.repeats)
        rows.append(dict(dataset=dataset, model=model, rows=f"{sk['n_train']} / {sk['n_test']}",
                         columns=sk["encoded_columns"], vigil=v, sklearn=sk,
                         ratio=v["fit_s_median"] / sk["fit_s_median"],
                         meets_bar=verdict(model, v, sk)))
    load_after = os.getloadavg()
    print(f"scikit-learn {sk['sklearn']} ({sk['threads']} BLAS threads) vs vigil (1 thread); "
          f"median of {a.repeats} fits each; load average (1/5/15 min) before "
          f"{'/'.join(f'{x:.2f}' for x in load_before)}, after "
          f"{'/'.join(f'{x:.2f}' for x in load_after)}")
    print("| data set | model | train / test rows | encoded columns | vigil fit s | sklearn fit s "
          "| vigil / sklearn | vigil acc / AUC / log loss | sklearn acc / AUC / log loss "
          "| meets the bar |")
    print("|---|---|---|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        v, s = r["vigil"], r["sklearn"]
        print(f"| {r['dataset']} | {r['model']} | {r['rows']} | {r['columns']} "
              f"| {v['fit_s_median']:.3f} | {s['fit_s_median']:.3f} | {r['ratio']:.2f} "
              f"| {v['accuracy']:.4f} / {v['roc_auc']:.4f} / {v['log_loss']:.4f} "
              f"| {s['accuracy']:.4f} / {s['roc_auc']:.4f} / {s['log_loss']:.4f} "
              f"| {r['meets_bar']} |")
    for r in rows:
        c = r["vigil"]["convergence"]
        if c:
            print(f"{r['dataset']} {r['model']}: vigil Newton {c['iterations']} iterations, "
                  f"gradient {c['gradientNorm']:.1e}, converged {c['converged']}; "
                  f"sklearn lbfgs {r['sklearn']['iterations']} iterations")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
