"""A generated detection set with corrupted box labels, and cleanlab's object-detection label issues on it.

Usage:
  box_suspects.py make OUT.json [--images N] [--seed S]
  box_suspects.py cleanlab OUT.json      prints one line: bench=box_suspects_cleanlab …

`make`: N images (640x480) with 1–8 objects of 5 classes (20–200 px). The given labels are the truth
with 5% of the boxes corrupted in each of four ways, each box at most once: dropped (missing), given
another class (wrong class), moved by half to four fifths of its size (badly located, IoU < 0.5 with
the truth), and as many boxes again added where there is no object (spurious). The predictions are
a simulated detector's, made from the truth, not from the labels: 92% of objects found (edges
jittered by 5% of the size, score around 0.8, the class right 93% of the time, sometimes a weaker
second class), the rest found weakly (score 0.05–0.35) or not at all, and false alarms (score
0.05–0.5) about 0.7 per image. Which images and boxes were corrupted is written alongside.
"""
import json
import random
import sys
import time

W, H, K = 640, 480, 5


def iou(a, b):
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


def clip(box):
    x, y, w, h = box
    w, h = min(w, W - 1), min(h, H - 1)
    return [min(max(0.0, x), W - w), min(max(0.0, y), H - h), w, h]


def make(out, n, seed):
    rng = random.Random(seed)
    images = []
    for _ in range(n):
        truth = []
        for _ in range(rng.randint(1, 8)):
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            truth.append([rng.randrange(K)] + clip([rng.uniform(0, W - w), rng.uniform(0, H - h), w, h]))
        predictions = []
        for c, x, y, w, h in truth:
            if rng.random() < 0.92:
                box = clip([x + rng.gauss(0, 0.05 * w), y + rng.gauss(0, 0.05 * h), w * (1 + rng.gauss(0, 0.05)), h * (1 + rng.gauss(0, 0.05))])
                score = min(0.99, max(0.3, rng.gauss(0.8, 0.12)))
                cls = c if rng.random() < 0.93 else rng.choice([k for k in range(K) if k != c])
                predictions.append([cls] + box + [score])
                if rng.random() < 0.5:
                    predictions.append([rng.choice([k for k in range(K) if k != cls])] + box + [rng.uniform(0.05, 0.3)])
            elif rng.random() < 0.7:
                box = clip([x + rng.gauss(0, 0.15 * w), y + rng.gauss(0, 0.15 * h), w, h])
                predictions.append([c] + box + [rng.uniform(0.05, 0.35)])
        for _ in range(sum(rng.random() < 0.35 for _ in range(2))):
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            predictions.append([rng.randrange(K)] + clip([rng.uniform(0, W - w), rng.uniform(0, H - h), w, h]) + [rng.uniform(0.05, 0.5)])
        images.append({"truth": truth, "predictions": predictions})
    boxes = [(i, j) for i, image in enumerate(images) for j in range(len(image["truth"]))]
    rng.shuffle(boxes)
    share = int(0.05 * len(boxes))
    kinds = {}
    for kind, chosen in zip(["missing", "wrong class", "badly located"], [boxes[:share], boxes[share:2 * share], boxes[2 * share:3 * share]]):
        for ij in chosen:
            kinds[ij] = kind
    for image in images:
        image["labels"], image["corrupted"] = [], []
    for i, image in enumerate(images):
        for j, (c, x, y, w, h) in enumerate(image["truth"]):
            kind = kinds.get((i, j))
            if kind == "missing":
                image["corrupted"].append(kind)
                continue
            if kind == "wrong class":
                c = rng.choice([k for k in range(K) if k != c])
            if kind == "badly located":
                dx, dy = rng.choice([-1, 1]) * rng.uniform(0.5, 0.8) * w, rng.choice([-1, 1]) * rng.uniform(0.5, 0.8) * h
                moved = clip([x + dx, y + dy, w, h])
                if iou(moved, [x, y, w, h]) >= 0.5:  # clipped back over the object: move the other way
                    moved = clip([x - dx, y - dy, w, h])
                x, y, w, h = moved
            if kind:
                image["corrupted"].append(kind)
            image["labels"].append([c, x, y, w, h])
    for _ in range(share):  # spurious: where no object is
        i = rng.randrange(n)
        for _ in range(100):
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            box = clip([rng.uniform(0, W - w), rng.uniform(0, H - h), w, h])
            if all(iou(box, t[1:]) < 0.1 for t in images[i]["truth"]):
                images[i]["labels"].append([rng.randrange(K)] + box)
                images[i]["corrupted"].append("spurious")
                break
    json.dump({"classes": [f"c{k}" for k in range(K)], "width": W, "height": H, "images": images}, open(out, "w"))


def cleanlab_peer(path):
    import numpy as np
    from cleanlab.object_detection.filter import find_label_issues
    from cleanlab.object_detection.rank import get_label_quality_scores

    data = json.load(open(path))
    start = time.time()
    labels, predictions = [], []
    for image in data["images"]:
        given = image["labels"]
        labels.append({"bboxes": np.array([[x, y, x + w, y + h] for _, x, y, w, h in given], dtype=np.float32).reshape(-1, 4),
                       "labels": np.array([c for c, *_ in given], dtype=np.int64)})
        per_class = [[] for _ in range(K)]
        for c, x, y, w, h, s in image["predictions"]:
            per_class[c].append([x, y, x + w, y + h, s])
        predictions.append([np.array(p, dtype=np.float32).reshape(-1, 5) for p in per_class])
    issues = find_label_issues(labels, predictions)
    scores = get_label_quality_scores(labels, predictions)
    seconds = time.time() - start
    corrupted = np.array([bool(image["corrupted"]) for image in data["images"]])
    order = np.argsort(scores, kind="stable")
    top = order[:200]
    flagged = np.asarray(issues, dtype=bool)
    print(f"bench=box_suspects_cleanlab images={len(labels)} corrupted_images={int(corrupted.sum())} "
          f"precision_top200={corrupted[top].mean():.3f} flagged={int(flagged.sum())} "
          f"precision_flagged={(corrupted[flagged].mean() if flagged.any() else 0):.3f} "
          f"recall={(flagged & corrupted).sum() / corrupted.sum():.3f} seconds={seconds:.2f}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        args = sys.argv[3:]
        n = int(args[args.index("--images") + 1]) if "--images" in args else 3000
        seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
        make(sys.argv[2], n, seed)
    elif sys.argv[1] == "cleanlab":
        cleanlab_peer(sys.argv[2])
    else:
        sys.exit(__doc__)
