#!/usr/bin/env python3
"""A training program for `cairn run`: softmax regression in numpy on the ImageFolder data cairn
materializes. It reads only the CAIRN_* environment and writes only under $CAIRN_RUN_DIR:

    cairn run --data v1 -p lr=0.5 -p epochs=30 -- python3 Docs/examples/train_numpy.py

- $CAIRN_DATA/{train,val,test}/<class>/<blob id>.<ext>, classes in $CAIRN_CLASSES order;
- $CAIRN_PARAMS: {"lr": "0.5", "epochs": "30"} (strings, as given with -p);
- appends {"epoch": e, "loss": …, "val_accuracy": …} to $CAIRN_RUN_DIR/metrics.jsonl each epoch;
- writes $CAIRN_RUN_DIR/summary.json, artifacts/weights.npz, and predictions.jsonl
  ({"path": file, "probs": […]} for every val and test image; the file name is the blob id).

It needs numpy and Pillow. The same loop in PyTorch is in Docs/TRAINING.md.
"""
import json
import os
import sys

import numpy as np
from PIL import Image


def load(split, classes, root, size):
    """Every image of a split as a row of floats in [0, 1], with its class index and file path."""
    xs, ys, paths = [], [], []
    for index, name in enumerate(classes):
        folder = os.path.join(root, split, name)
        for file in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            path = os.path.join(folder, file)
            image = Image.open(path).convert("L").resize((size, size))
            xs.append(np.asarray(image, dtype=np.float32).reshape(-1) / 255.0)
            ys.append(index)
            paths.append(path)
    return np.array(xs, dtype=np.float32).reshape(len(xs), size * size), np.array(ys, dtype=np.int64), paths


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main():
    run_dir = os.environ["CAIRN_RUN_DIR"]
    classes = [line for line in open(os.environ["CAIRN_CLASSES"]).read().split("\n") if line]
    params = json.loads(os.environ.get("CAIRN_PARAMS", "{}"))
    lr, epochs, size = float(params.get("lr", 0.5)), int(params.get("epochs", 30)), int(params.get("size", 8))
    root = os.environ["CAIRN_DATA"]
    (xt, yt, _), (xv, yv, pv), (xs, ys, ps) = (load(s, classes, root, size) for s in ("train", "val", "test"))
    if len(xt) == 0:
        sys.exit("no training images")
    k = len(classes)
    rng = np.random.default_rng(int(params.get("seed", 0)))
    w = rng.normal(0, 0.01, (xt.shape[1], k)).astype(np.float32)
    b = np.zeros(k, dtype=np.float32)
    onehot = np.eye(k, dtype=np.float32)[yt]
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as metrics:
        for epoch in range(1, epochs + 1):
            p = softmax(xt @ w + b)
            loss = float(-np.log(p[np.arange(len(yt)), yt] + 1e-9).mean())
            grad = (p - onehot) / len(yt)
            w -= lr * (xt.T @ grad)
            b -= lr * grad.sum(axis=0)
            line = {"epoch": epoch, "loss": loss}
            if len(xv):
                line["val_accuracy"] = float((softmax(xv @ w + b).argmax(axis=1) == yv).mean())
            metrics.write(json.dumps(line) + "\n")
            metrics.flush()
            print(f"epoch {epoch}/{epochs} loss {loss:.4f}", flush=True)
    summary = {"train_accuracy": float((softmax(xt @ w + b).argmax(axis=1) == yt).mean())}
    if len(xv):
        summary["val_accuracy"] = float((softmax(xv @ w + b).argmax(axis=1) == yv).mean())
    if len(xs):
        summary["test_accuracy"] = float((softmax(xs @ w + b).argmax(axis=1) == ys).mean())
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
        json.dump(summary, f)
    os.makedirs(os.path.join(run_dir, "artifacts"), exist_ok=True)
    np.savez(os.path.join(run_dir, "artifacts", "weights.npz"), w=w, b=b)
    with open(os.path.join(run_dir, "predictions.jsonl"), "w") as f:
        for x, paths in ((xv, pv), (xs, ps)):
            if len(x) == 0:
                continue
            for path, probs in zip(paths, softmax(x @ w + b).astype(np.float64)):
                probs = probs / probs.sum()
                f.write(json.dumps({"path": path, "probs": [round(float(q), 6) for q in probs]}) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
