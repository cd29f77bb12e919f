#!/usr/bin/env python3
"""Random embeddings for every item of a snapshot, with 200 planted copies across splits (a train item's
vector plus noise in an item outside train): the scale case of `cairn check --run` (Docs/BENCHMARKS.md).

    cairn run --data HEAD --materialize none -- python3 Sources/cairn-bench/peers/random_embeddings.py
"""
import json, os, numpy as np
items = [json.loads(l) for l in open(os.environ["CAIRN_MANIFEST"]) if l.strip()]
items = [it for it in items if "blobID" in it or "blob_id" in it]
keys = [it.get("blob_id") or it.get("blobID") for it in items]
rng = np.random.default_rng(0)
e = rng.normal(size=(len(keys), int(os.environ.get("DIMS", "128")))).astype(np.float32)
train = [i for i, it in enumerate(items) if it["split"] == "train"]
other = [i for i, it in enumerate(items) if it["split"] != "train"]
for a, b in zip(train[:200], other[:200]):  # 200 planted copies across splits
    e[b] = e[a] + rng.normal(scale=0.05, size=e.shape[1])
np.save(os.path.join(os.environ["CAIRN_RUN_DIR"], "embeddings.npy"), e)
open(os.path.join(os.environ["CAIRN_RUN_DIR"], "embeddings.keys.txt"), "w").write("\n".join(keys) + "\n")
