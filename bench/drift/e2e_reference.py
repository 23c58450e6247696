"""The Python reference of bench/drift/e2e.sh: what a user of pandas + scipy would run.

scheduled: read every prediction-log file `vigil serve` wrote (gzip JSON Lines, one
           record a line) with json + pandas, read the model's reference sample from
           the store, and run the kit's drift statistics (drift.py: KS + PSI per numeric
           feature, chi-square + PSI per categorical one, chi-square on predicted classes).
adhoc:     pandas.read_csv of the two CSVs, then the same statistics (the label column
           stands in for the predicted classes: the ad-hoc check has no model).

Run as one process per measurement (the bench times the whole process, imports included,
as it times `vigil drift`). Prints one JSON line: rows and a digest of the results, so
the run can be compared with Vigil's report.
"""
import argparse
import glob
import gzip
import json
import os
import sys

import numpy as np
import pandas as pd

NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "race",
               "sex", "native_country"]
CLASSES = ["<=50K", ">50K"]


def categorical_strings(frame):
    for c in CATEGORICAL:
        frame[c] = frame[c].fillna("missing").astype(str)
    return frame


def read_log(store):
    features, predicted = [], []
    files = sorted(glob.glob(os.path.join(store, "logs", "**", "*.jsonl.gz"), recursive=True))
    for path in files:
        with gzip.open(path, "rt") as f:
            for line in f:
                record = json.loads(line)
                features.append(record["features"])
                predicted.append(record["predicted_class"])
    frame = categorical_strings(pd.DataFrame.from_records(features))
    return frame, np.array([CLASSES.index(p) for p in predicted]), len(files)


def read_reference(store):
    (model_dir,) = sorted(glob.glob(os.path.join(store, "models", "*")))[-1:]
    with gzip.open(os.path.join(model_dir, "reference.json.gz"), "rt") as f:
        sample = json.load(f)
    frame = categorical_strings(pd.DataFrame({name: values for name, values in sample["columns"]}))
    predicted = np.argmax(np.array(sample["probabilities"]), axis=1)
    return frame, predicted


def digest(report):
    worst = sorted(((v["psi"], k) for k, v in report.items()), reverse=True)[:3]
    return {k: round(psi, 4) for psi, k in worst}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kit", required=True, help="folder of the reference kit (drift.py)")
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("scheduled")
    s.add_argument("--store", required=True)
    h = sub.add_parser("adhoc")
    h.add_argument("--reference", required=True)
    h.add_argument("--current", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.kit)
    from drift import drift_report

    if a.mode == "scheduled":
        cur, pred_cur, files = read_log(a.store)
        ref, pred_ref = read_reference(a.store)
        report = drift_report(ref, cur, pred_ref, pred_cur, NUMERIC, CATEGORICAL)
        print(json.dumps({"files": files, "rows": len(cur), "reference_rows": len(ref),
                          "worst_psi": digest(report)}))
    else:
        ref = categorical_strings(pd.read_csv(a.reference))
        cur = categorical_strings(pd.read_csv(a.current))
        report = drift_report(ref, cur, ref["label"].to_numpy(), cur["label"].to_numpy(),
                              NUMERIC, CATEGORICAL)
        print(json.dumps({"rows": [len(ref), len(cur)], "worst_psi": digest(report)}))


if __name__ == "__main__":
    main()
