"""Makes a COCO detection set and checks Cairn's export of it with pycocotools.

Usage:
  coco_boxes.py make DIR          writes DIR/imgs/**.png and DIR/instances.json (seeded, so the same every run)
  coco_boxes.py compare ORIGINAL EXPORT_DIR

`make` writes 40 PNGs of several sizes and a COCO file with float boxes, non-contiguous category
and image ids, crowd boxes, an occluded attribute (as CVAT writes it) and images without objects.

`compare` loads the original with pycocotools and the export's three split files (merged, ids
renumbered), checks every image carries the same annotations (class, bbox, iscrowd, area), and
runs COCOeval (bbox) of one seeded detections file against both: the 12 numbers must be equal.
Prints one JSON line with the numbers.
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
    rng = random.Random(27)
    categories = [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 12, "name": "bird"}]
    images, annotations = [], []
    next_ann = 101
    for n in range(40):
        width, height = rng.choice([(64, 48), (120, 90), (200, 150), (97, 131)])
        rel = f"imgs/{'ab'[n % 2]}/{n:04d}.png"
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pixels = np.random.default_rng(n).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
        image_id = 1000 + 3 * n
        images.append({"id": image_id, "file_name": rel, "width": width, "height": height})
        for _ in range(rng.choice([0, 1, 2, 3, 5, 8]) if n % 7 else 0):
            w = round(rng.uniform(4, width / 2), 2)
            h = round(rng.uniform(4, height / 2), 2)
            x = round(rng.uniform(0, width - w), 2)
            y = round(rng.uniform(0, height - h), 2)
            ann = {"id": next_ann, "image_id": image_id, "category_id": rng.choice(categories)["id"],
                   "bbox": [x, y, w, h], "area": w * h, "iscrowd": 1 if rng.random() < 0.1 else 0, "segmentation": []}
            if rng.random() < 0.2:
                ann["attributes"] = {"occluded": True}
            annotations.append(ann)
            next_ann += 1
    with open(os.path.join(root, "instances.json"), "w") as f:
        json.dump({"images": images, "categories": categories, "annotations": annotations}, f)


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def merged_export(export_dir):
    """The export's split files as one dataset, image and annotation ids renumbered."""
    images, annotations, categories = [], [], None
    for split in ("train", "val", "test"):
        with open(os.path.join(export_dir, "annotations", f"instances_{split}.json")) as f:
            part = json.load(f)
        categories = part["categories"]
        offset = len(images)
        remap = {}
        for image in part["images"]:
            remap[image["id"]] = offset + len(remap) + 1
            images.append(dict(image, id=remap[image["id"]]))
        for ann in part["annotations"]:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=remap[ann["image_id"]]))
    coco = COCO()
    coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
    quiet(coco.createIndex)
    return coco


def boxes_by_path(coco, path_of):
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    out = {}
    for image in coco.loadImgs(coco.getImgIds()):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]], iscrowd=None))
        out[path_of(image)] = sorted((names[a["category_id"]], tuple(a["bbox"]), a.get("iscrowd", 0), a["area"],
                                      bool(a.get("attributes", {}).get("occluded", False))) for a in anns)
    return out


def evaluate(gt, detections):
    if not detections:
        return [0.0] * 12
    dt = quiet(gt.loadRes, detections)
    e = COCOeval(gt, dt, "bbox")
    quiet(e.evaluate)
    quiet(e.accumulate)
    quiet(e.summarize)
    return [float(v) for v in e.stats]


def compare(original_path, export_dir):
    original = quiet(COCO, original_path)
    export = merged_export(export_dir)
    a = boxes_by_path(original, lambda image: image["file_name"])
    b = boxes_by_path(export, lambda image: image["cairn_path"])
    assert set(a) == set(b), f"images differ: {sorted(set(a) ^ set(b))[:5]}"
    for path in a:
        assert len(a[path]) == len(b[path]), (path, a[path], b[path])
        for x, y in zip(a[path], b[path]):
            assert x[0] == y[0] and x[2] == y[2] and x[4] == y[4], (path, x, y)
            assert all(abs(p - q) < 1e-9 for p, q in zip(x[1], y[1])), (path, x, y)
            assert abs(x[3] - y[3]) < 1e-6, (path, x, y)
    # One detections file: each ground-truth box jittered (some dropped), plus random false positives.
    rng = random.Random(7)
    names = {c["id"]: c["name"] for c in original.loadCats(original.getCatIds())}
    detections = []
    for image in original.loadImgs(original.getImgIds()):
        for ann in original.loadAnns(original.getAnnIds(imgIds=[image["id"]])):
            if rng.random() < 0.15:
                continue
            x, y, w, h = ann["bbox"]
            j = lambda v: v + rng.uniform(-0.15, 0.15) * max(w, h)
            detections.append({"image_id": image["id"], "category_id": ann["category_id"], "bbox": [j(x), j(y), w, h],
                               "score": rng.random()})
        for _ in range(rng.randint(0, 2)):
            detections.append({"image_id": image["id"], "category_id": rng.choice(list(names)),
                               "bbox": [rng.uniform(0, 20), rng.uniform(0, 20), 10, 10], "score": rng.random() * 0.5})
    # The same detections against the export: ids by path and class name.
    export_image = {image["cairn_path"]: image["id"] for image in export.loadImgs(export.getImgIds())}
    export_category = {c["name"]: c["id"] for c in export.loadCats(export.getCatIds())}
    original_path_of = {image["id"]: image["file_name"] for image in original.loadImgs(original.getImgIds())}
    remapped = [dict(d, image_id=export_image[original_path_of[d["image_id"]]], category_id=export_category[names[d["category_id"]]])
                for d in detections]
    x = evaluate(original, [dict(d) for d in detections])
    y = evaluate(export, remapped)
    assert all(abs(p - q) < 1e-12 for p, q in zip(x, y)), (x, y)
    print(json.dumps({"images": len(a), "annotations": sum(len(v) for v in a.values()), "stats": x}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3])
