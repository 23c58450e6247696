#!/usr/bin/env python3
"""Writes a reproducible ACS-like income data set (synthetic; no real person in it).

    python make_acs_like.py OUT.csv.gz [--rows 100000] [--seed 20261202]

Modelled on the American Community Survey PUMS person records as folktables' ACSIncome
task uses them (predict whether income exceeds $50,000), widened to 18 features: 5 numeric
(AGEP age, WKHP hours a week, JWMNP minutes to work, NOC own children, YOEP years in the
US) and 13 categorical with ACS's cardinalities (COW 8, SCHL 24, MAR 5, OCCP 500, POBP 150,
RELP 18, SEX 2, RAC1P 9, ST 51, CIT 5, MIL 4, DIS 2, ENG 4; ENG is missing for English-only
speakers as in ACS, COW and OCCP for some). One-hot encoded that is ~790 columns. The
label comes from a logistic model with non-linear terms and interactions (age peak,
hours × schooling, occupation effects that depend on schooling), so that both a linear
model and a tree have something to find.

Columns are the feature names, `income` (`<=50K` / `>50K`) and `split` (`train` for the
first 80 %, `test` for the rest). The gzip header carries no time stamp or name, so the same
seed and NumPy version (pinned in shared/bench/requirements.txt) give the same bytes.
"""
import argparse
import gzip
import io

import numpy as np

CARDINALITY = dict(COW=8, SCHL=24, MAR=5, OCCP=500, POBP=150, RELP=18, SEX=2, RAC1P=9,
                   ST=51, CIT=5, MIL=4, DIS=2, ENG=4)
NUMERIC = ["AGEP", "WKHP", "JWMNP", "NOC", "YOEP"]


def zipf_choice(rng, k, n, a=1.1):
    """k codes with Zipf-like frequencies (a few common occupations, a long tail)."""
    p = 1.0 / np.arange(1, k + 1) ** a
    return rng.choice(k, size=n, p=p / p.sum())


def generate(n, seed):
    rng = np.random.default_rng(seed)
    age = np.clip(rng.gamma(4.0, 6.0, n) + 17, 17, 94).round()
    schl = np.clip((rng.normal(16 + (age < 25) * -1.5, 3.0, n)).round(), 1, 24).astype(int)
    sex = rng.integers(0, 2, n)
    cow = zipf_choice(rng, 8, n, 1.4)
    # Occupation depends on schooling: higher codes (after a school-dependent shift) pay more.
    occp = (zipf_choice(rng, 500, n) + (schl - 12) * 9) % 500
    hours = np.clip(rng.normal(38 + 4 * (cow == 0) - 6 * (sex == 1), 10, n), 1, 99).round()
    mar = np.where(age < 25, rng.choice(5, n, p=[.15, .02, .03, .05, .75]),
                   rng.choice(5, n, p=[.55, .06, .12, .03, .24]))
    relp = np.where(mar == 0, rng.integers(0, 2, n), rng.integers(0, 18, n))
    noc = np.where(mar == 0, rng.poisson(1.2, n), rng.poisson(0.3, n)).clip(0, 8)
    pobp = zipf_choice(rng, 150, n, 1.6)  # code 0 = born in the US
    yoep = np.where(pobp == 0, 0, rng.uniform(0, age - 16)).round()
    cit = np.where(pobp == 0, 0, rng.choice(5, n, p=[.05, .05, .1, .5, .3]))
    rac1p = zipf_choice(rng, 9, n, 1.8)
    st = zipf_choice(rng, 51, n, 0.8)
    mil = rng.choice(4, n, p=[.9, .06, .03, .01])
    dis = (rng.random(n) < 0.08 + 0.002 * (age - 17)).astype(int)
    eng = rng.choice(4, n, p=[.6, .25, .1, .05])
    travel = np.clip(rng.gamma(2.0, 12.0, n) * (rng.random(n) > 0.1), 0, 150).round()

    occp_effect = rng.normal(0, 0.9, 500)
    st_effect = rng.normal(0, 0.25, 51)
    pobp_effect = rng.normal(0, 0.3, 150)
    cow_effect = rng.normal(0, 0.5, 8)
    relp_effect = rng.normal(0, 0.3, 18)
    z = -0.8 + 1.6 * (
         - 0.0025 * (age - 50) ** 2
         + 0.045 * (hours - 40)
         + 0.22 * (schl - 16)
         + 0.012 * (hours - 40) * (schl - 16)
         + occp_effect[occp] * (1 + 0.05 * (schl - 16))
         + st_effect[st] + pobp_effect[pobp] + cow_effect[cow] + relp_effect[relp]
         + 0.55 * (mar == 0) - 0.45 * sex - 0.4 * dis
         - 0.35 * (eng >= 2) + 0.004 * travel + 0.02 * yoep - 0.05 * noc)
    label = rng.random(n) < 1 / (1 + np.exp(-z))  # the 1.6: ACSIncome-like separability

    columns = dict(AGEP=age, WKHP=hours, JWMNP=travel, NOC=noc, YOEP=yoep,
                   COW=cow, SCHL=schl - 1, MAR=mar, OCCP=occp, POBP=pobp, RELP=relp, SEX=sex,
                   RAC1P=rac1p, ST=st, CIT=cit, MIL=mil, DIS=dis, ENG=eng)
    # Missing as in ACS: ENG only asked of those who speak another language at home;
    # class of worker and occupation absent for some respondents.
    missing = dict(ENG=rng.random(n) < 0.55, COW=rng.random(n) < 0.04,
                   OCCP=rng.random(n) < 0.04)
    return columns, missing, label


def write_csv(path, columns, missing, label):
    n = len(label)
    names = list(columns)
    cells = []
    for name in names:
        values = columns[name].astype(int)
        if name in CARDINALITY:
            width = len(str(CARDINALITY[name] - 1))
            text = np.char.add(f"{name}_", np.char.zfill(values.astype(str), width))
        else:
            text = values.astype(str)
        if name in missing:
            text = np.where(missing[name], "", text)
        cells.append(text)
    cells.append(np.where(label, ">50K", "<=50K"))
    cells.append(np.where(np.arange(n) < int(n * 0.8), "train", "test"))
    buffer = io.StringIO()
    buffer.write(",".join(names + ["income", "split"]) + "\n")
    for row in zip(*cells):
        buffer.write(",".join(row) + "\n")
    with open(path, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
        f.write(buffer.getvalue().encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20261202)
    a = ap.parse_args()
    columns, missing, label = generate(a.rows, a.seed)
    write_csv(a.out, columns, missing, label)
    print(f"wrote {a.out}: {a.rows} rows, {len(columns)} features, "
          f"{label.mean():.3f} positive")


if __name__ == "__main__":
    main()
