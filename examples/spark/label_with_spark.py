#!/usr/bin/env python3
"""Label a corpus with discotag on Apache Spark: one Spark task per shard.

Each task runs `discotag label CORPUS --shard K/N --out OUT/shard-K --resume`, so a retried
task finishes its shard with every segment exactly once. Spark then reads the union of the
shard outputs. With --compare DIR, the union is checked against a single-machine run in DIR:
the same rows (source, document, segment index, text, offsets, labels) and scores within 1e-5.

Local mode (what this project runs):
    pip install pyspark            # Java 17 must be on the machine
    cargo build --release
    target/release/discotag label data/sample --out /tmp/single
    python3 examples/spark/label_with_spark.py data/sample /tmp/sharded --shards 3 \
        --compare /tmp/single
On a cluster, drop --master and make CORPUS, OUT, the binary and the encoder cache visible to
every executor (a shared filesystem, or ship them with --archives).
"""
import argparse
import os
import subprocess
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def label_shard(shard, args):
    cmd = [
        args.discotag, "label", args.corpus,
        "--out", os.path.join(args.out, f"shard-{shard}"),
        "--shard", f"{shard}/{args.shards}",
        "--threads", str(args.threads), "--resume",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    # 3: some inputs were bad and are listed in that shard's errors.jsonl; the rest are labelled.
    if done.returncode not in (0, 3):
        raise RuntimeError(f"shard {shard}: {' '.join(cmd)} exited {done.returncode}\n{done.stderr}")
    return shard, done.returncode


def rows(spark, folder_glob):
    frame = spark.read.parquet(folder_glob)
    scores = sorted(c for c in frame.columns if c.startswith("score_"))
    return frame.select(
        "source_path", "doc_id", "segment_index", "text", "char_start", "char_end",
        F.array_join(F.col("labels"), "|").alias("labels"), *scores,
    ), scores


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="compute threads per task")
    parser.add_argument("--discotag", default=os.environ.get("DISCOTAG_BIN", "target/release/discotag"))
    parser.add_argument("--master", default=None, help="default: local[SHARDS]")
    parser.add_argument("--compare", metavar="DIR", help="a single-machine output to compare with")
    args = parser.parse_args()

    spark = (SparkSession.builder.master(args.master or f"local[{args.shards}]")
             .appName("discotag-label").getOrCreate())
    spark.sparkContext.setLogLevel("WARN")
    results = (spark.sparkContext.parallelize(range(args.shards), args.shards)
               .map(lambda k: label_shard(k, args)).collect())
    print("shards done (shard, exit code):", sorted(results))

    union, scores = rows(spark, os.path.join(args.out, "shard-*", "segments", "*.parquet"))
    print("rows in the union of shards:", union.count())
    if args.compare:
        single, _ = rows(spark, os.path.join(args.compare, "segments", "*.parquet"))
        key = ["source_path", "doc_id", "segment_index"]
        joined = union.alias("u").join(single.alias("s"), key, "full_outer")
        same = [F.col(f"u.{c}").eqNullSafe(F.col(f"s.{c}")) for c in ("text", "char_start", "char_end", "labels")]
        same += [F.abs(F.col(f"u.{c}") - F.col(f"s.{c}")) <= 1e-5 for c in scores]
        condition = same[0]
        for c in same[1:]:
            condition = condition & c
        differing = joined.filter(~F.coalesce(condition, F.lit(False))).count()
        print(f"single-machine rows: {single.count()}; rows that differ or are missing on one side: {differing}")
        spark.stop()
        sys.exit(0 if differing == 0 else 1)
    spark.stop()


if __name__ == "__main__":
    main()
