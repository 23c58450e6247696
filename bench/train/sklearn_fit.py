"""scikit-learn's side of bench/train: the reference pipeline fitted on a Vigil config's data.

    python sklearn_fit.py --config CONFIG.yaml --data DATA.csv.gz [--repeats 5]

Builds what ../shared/bench/common.py builds for Adult, from the config's schema:
StandardScaler on the numeric features, OneHotEncoder(handle_unknown="ignore") on the
categorical ones (missing cells become the category "missing", as Vigil does), then
LogisticRegression(C=1/l2, max_iter=1000) or DecisionTreeClassifier(max_depth, criterion,
random_state=0) as the config's algorithm says. Trains on the rows the config's hold-out
column does not select, evaluates on the ones it does (Vigil's split). Fit time =
Pipeline.fit wall clock, median of --repeats fits. Prints one JSON object.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import pandas as pd
import sklearn
import threadpoolctl
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier


def make_pipeline(config):
    features = config["schema"]["features"]
    numeric = [f["name"] for f in features if f["type"] == "numeric"]
    categorical = [f["name"] for f in features if f["type"] == "categorical"]
    training = config["training"]
    hp = training.get("hyperparameters", {})
    if training["algorithm"] == "logistic-regression":
        clf = LogisticRegression(C=1 / hp.get("l2", 1.0), max_iter=1000)
    else:
        clf = DecisionTreeClassifier(max_depth=hp.get("maxDepth", 10),
                                     criterion=hp.get("criterion", "gini"), random_state=0)
    pre = ColumnTransformer([("num", StandardScaler(), numeric),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return Pipeline([("pre", pre), ("clf", clf)]), numeric, categorical


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    with open(a.config) as f:
        config = yaml.safe_load(f)
    _, numeric, categorical = make_pipeline(config)
    df = pd.read_csv(a.data, dtype={c: str for c in categorical})
    for c in categorical:
        df[c] = df[c].fillna("missing")
    for c in numeric:
        df[c] = df[c].astype("float64")
    target = config["schema"]["target"]
    y = (df[target["name"]] == target["classes"][1]).astype(int).to_numpy()
    split = config["training"]["holdout"]["column"]
    test = (df[split["column"]] == split["value"]).to_numpy()
    X = df[numeric + categorical]

    fits = []
    for _ in range(a.repeats):
        model = make_pipeline(config)[0]
        t0 = time.perf_counter()
        model.fit(X[~test], y[~test])
        fits.append(time.perf_counter() - t0)
    p = model.predict_proba(X[test])[:, 1]
    clf = model.named_steps["clf"]
    pools = threadpoolctl.threadpool_info()
    print(json.dumps(dict(
        sklearn=sklearn.__version__, threads=pools[0]["num_threads"] if pools else None,
        n_train=int((~test).sum()), n_test=int(test.sum()),
        encoded_columns=int(model.named_steps["pre"].transform(X[:1]).shape[1]),
        fit_s_median=statistics.median(fits), fit_s_all=fits,
        iterations=int(clf.n_iter_[0]) if hasattr(clf, "n_iter_") else None,
        accuracy=float(accuracy_score(y[test], p >= 0.5)),
        roc_auc=float(roc_auc_score(y[test], p)),
        log_loss=float(log_loss(y[test], np.column_stack([1 - p, p]))),
        loadavg_1m=os.getloadavg()[0])))


if __name__ == "__main__":
    main()
