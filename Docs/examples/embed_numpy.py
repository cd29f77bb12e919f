#!/usr/bin/env python3
"""A program for `cairn run` that writes per-item embeddings, the layout Cairn reads back for
`cairn check --run`, `cairn suspects --run` and the labeling queue (`cairn label --run`):

    cairn run --data HEAD --name pca -p dims=16 -- python3 Docs/examples/embed_numpy.py
    cairn suspects --data HEAD --run pca

- reads $CAIRN_MANIFEST (cairn-manifest.jsonl: a header line, then one line per file with its
  `blob_id` and `file` relative to $CAIRN_DATA) — every item, labeled or not, in every split;
- writes $CAIRN_RUN_DIR/embeddings.npy (float32, one row per item, `numpy.save`) and
  $CAIRN_RUN_DIR/embeddings.keys.txt (the items' blob ids, one a line, in the rows' order).

The embedding here is a whitened PCA of the pixels, fitted on every image: a stand-in that needs
only numpy and Pillow. A real program writes its network's penultimate layer instead (the PyTorch
version is in Docs/TRAINING.md, "Embeddings").
"""
import json
import os

import numpy as np
from PIL import Image


def main():
    params = json.loads(os.environ.get("CAIRN_PARAMS", "{}"))
    dims, size = int(params.get("dims", 16)), int(params.get("size", 8))
    root, run_dir = os.environ["CAIRN_DATA"], os.environ["CAIRN_RUN_DIR"]
    with open(os.environ["CAIRN_MANIFEST"]) as manifest:
        entries = [json.loads(line) for line in manifest if line.strip()][1:]  # the first line is the header
    keys, rows = [], []
    for entry in entries:
        image = Image.open(os.path.join(root, entry["file"])).convert("L").resize((size, size))
        rows.append(np.asarray(image, dtype=np.float32).reshape(-1) / 255.0)
        keys.append(entry["blob_id"])
    x = np.array(rows, dtype=np.float32)
    x -= x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    dims = min(dims, vt.shape[0])
    embeddings = (x @ vt[:dims].T) / np.maximum(s[:dims], 1e-6) * np.sqrt(len(x))
    np.save(os.path.join(run_dir, "embeddings.npy"), embeddings.astype(np.float32))
    with open(os.path.join(run_dir, "embeddings.keys.txt"), "w") as f:
        f.write("\n".join(keys) + "\n")
    print(f"{len(keys)} embeddings of {dims} dimensions")


if __name__ == "__main__":
    main()
