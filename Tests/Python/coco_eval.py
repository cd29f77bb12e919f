"""Checks `cairn eval --boxes` against pycocotools' COCOeval.

Usage:
  coco_eval.py make DIR              writes DIR/imgs/*.png and DIR/instances.json: 60 images of three
                                     sizes, boxes from a few pixels to most of the image (small,
                                     medium and large in COCO's terms), crowd boxes, empty images
  coco_eval.py detect EXPORT_DIR     (run by `cairn run`) writes $CAIRN_RUN_DIR/predictions.jsonl:
                                     for the export's boxes, seeded detections — jittered, some with
                                     the wrong class, some missed, false alarms, scores with ties
  coco_eval.py score EXPORT_DIR SPLIT PREDICTIONS
                                     COCOeval (bbox) of the predictions against the export's SPLIT
                                     file, detections given in the predictions file's order; prints
                                     {"stats": [12 numbers], "per_class": {name: AP}} as one JSON line
"""
import contextlib
import io
import json
import os
import random
import sys

import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def make(root):
    rng = random.Random(5)
    categories = [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "sign"}]
    images, annotations = [], []
    for n in range(60):
        width, height = rng.choice([(64, 48), (320, 240), (500, 375)])
        rel = f"imgs/{n:04d}.png"
        os.makedirs(os.path.join(root, "imgs"), exist_ok=True)
        Image.fromarray(np.random.default_rng(n).integers(0, 255, size=(height, width, 3), dtype=np.uint8)).save(os.path.join(root, rel))
        images.append({"id": n + 1, "file_name": rel, "width": width, "height": height})
        for _ in range(0 if n % 9 == 0 else rng.choice([1, 2, 4, 6, 9])):
            w = rng.uniform(3, width * 0.9)
            h = rng.uniform(3, height * 0.9)
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            bbox = [round(v, 1) for v in (x, y, w, h)]
            annotations.append({"id": len(annotations) + 1, "image_id": n + 1, "category_id": rng.choice(categories)["id"],
                                "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 1 if rng.random() < 0.08 else 0})
    with open(os.path.join(root, "instances.json"), "w") as f:
        json.dump({"images": images, "categories": categories, "annotations": annotations}, f)


def export_files(export_dir):
    return [os.path.join(export_dir, "annotations", f"instances_{s}.json") for s in ("train", "val", "test")]


def detect(export_dir):
    rng = random.Random(11)
    lines = []
    for path in export_files(export_dir):
        data = json.load(open(path))
        names = {c["id"]: c["name"] for c in data["categories"]}
        by_image = {}
        for a in data["annotations"]:
            by_image.setdefault(a["image_id"], []).append(a)
        for image in data["images"]:
            w_img, h_img = image["width"], image["height"]
            boxes = []
            for a in by_image.get(image["id"], []):
                if rng.random() < 0.15:
                    continue  # missed
                x, y, w, h = a["bbox"]
                jitter = rng.choice([0.0, 0.05, 0.15, 0.3])
                x += rng.uniform(-jitter, jitter) * w
                y += rng.uniform(-jitter, jitter) * h
                w *= 1 + rng.uniform(-jitter, jitter)
                h *= 1 + rng.uniform(-jitter, jitter)
                name = names[a["category_id"]] if rng.random() > 0.1 else rng.choice(list(names.values()))
                boxes.append({"class": name, "bbox": [x, y, max(w, 0.5), max(h, 0.5)], "score": round(rng.random(), 2)})
            for _ in range(rng.choice([0, 0, 1, 3])):  # false alarms, some tiny, some large
                w, h = rng.uniform(2, w_img), rng.uniform(2, h_img)
                boxes.append({"class": rng.choice(list(names.values())), "bbox": [rng.uniform(0, w_img - w), rng.uniform(0, h_img - h), w, h],
                              "score": round(rng.random(), 2)})
            if image["id"] % 11 == 0:
                continue  # an image the model wrote no line for
            lines.append(json.dumps({"blob_id": image["cairn_blob_id"], "boxes": boxes}))
    with open(os.path.join(os.environ["CAIRN_RUN_DIR"], "predictions.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")


def score(export_dir, split, predictions):
    gt_path = os.path.join(export_dir, "annotations", f"instances_{split}.json")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_path)
    image_of = {i["cairn_blob_id"]: i["id"] for i in gt.dataset["images"]}
    category_of = {c["name"]: c["id"] for c in gt.dataset["categories"]}
    results = []
    for line in open(predictions):
        if not line.strip():
            continue
        item = json.loads(line)
        if item["blob_id"] not in image_of:
            continue
        for box in item["boxes"]:
            results.append({"image_id": image_of[item["blob_id"]], "category_id": category_of[box["class"]],
                            "bbox": box["bbox"], "score": box["score"]})
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]
    per_class = {}
    for k, category in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, 2]
        per_class[gt.cats[category]["name"]] = float(np.mean(p[p > -1])) if (p > -1).any() else -1.0
    print(json.dumps({"stats": [float(s) for s in ev.stats], "per_class": per_class, "detections": len(results)}))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "make":
        make(sys.argv[2])
    elif command == "detect":
        detect(sys.argv[2])
    elif command == "score":
        score(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
