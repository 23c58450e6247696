"""Reads what `vigil serve` writes with the tools users have: the Parquet prediction
log with pyarrow and DuckDB, a batch profile's KLL sketch with datasketches.

    python read_logs.py <store root> <profile file>

Prints one JSON object; jobs/tests/drift.rs compares it with what it wrote.
"""
import base64
import gzip
import json
import sys

import datasketches
import duckdb
import pyarrow.dataset as ds
import pyarrow.parquet as pq

root, profile_path = sys.argv[1], sys.argv[2]
logs = f"{root}/logs"

table = ds.dataset(logs, format="parquet", partitioning="hive").to_table()
first = table.slice(0, 1).to_pylist()[0]
arrow = {
    "rows": table.num_rows,
    "columns": table.schema.names,
    "timestamp_type": str(table.schema.field("timestamp").type),
    "first_request_id": first["request_id"],
    "first_age": first["features"]["age"],
    "first_probabilities": first["probabilities"],
    "hours": sorted({str(h) for h in table.column("hr").to_pylist()}),
}
first_file = sorted(ds.dataset(logs, format="parquet", partitioning="hive").files)[0]
group = pq.ParquetFile(first_file).metadata.row_group(0)
for i in range(group.num_columns):
    column = group.column(i)
    if column.path_in_schema in ("features.age", "features.income"):
        s = column.statistics
        arrow["first_file_" + column.path_in_schema.split(".")[1]] = {
            "min": s.min,
            "max": s.max,
            "nulls": s.null_count,
            "dictionary": "RLE_DICTIONARY" in column.encodings,
        }

con = duckdb.connect()
rows, mean_age, income, missing_colour, red, classes, ids = con.execute(
    f"""SELECT count(*), avg(features.age), sum(features.income),
               count(*) - count(features.colour),
               count(*) FILTER (WHERE features.colour = 'red'),
               count(DISTINCT predicted_class), count(DISTINCT request_id)
        FROM read_parquet('{logs}/**/*.parquet', hive_partitioning = true)"""
).fetchone()
duck = {
    "rows": rows,
    "mean_age": mean_age,
    "income": income,
    "missing_colour": missing_colour,
    "red": red,
    "classes": classes,
    "request_ids": ids,
}

with gzip.open(profile_path, "rt") as f:
    profile = json.load(f)
column = next(c for c in profile["columns"] if c["numeric"] and c["numeric"]["form"] == "kll")
sketch = datasketches.kll_doubles_sketch.deserialize(base64.b64decode(column["numeric"]["kll"]))
kll = {
    "column": column["name"],
    "n": sketch.n,
    "min": sketch.get_min_value(),
    "max": sketch.get_max_value(),
    "median": sketch.get_quantile(0.5),
    "rank_error": sketch.normalized_rank_error(False),
}
print(json.dumps({"arrow": arrow, "duckdb": duck, "kll": kll}))
