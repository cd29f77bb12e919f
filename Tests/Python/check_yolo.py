"""Reads a `cairn export --format yolo` directory as ultralytics does, and compares it with a COCO
export of the same snapshot read by pycocotools.

Usage: check_yolo.py YOLO_DIR COCO_DIR

data.yaml is loaded with PyYAML (ultralytics' loader): `path` must be the directory, each split key
an images folder in it, `names` the classes by index. Each image's label file is where ultralytics
looks for it (`/images/` -> `/labels/`, extension -> `.txt`); every line is `CLASS CX CY W H` with the
class a valid index and the numbers in [0, 1]. Denormalized by the image's size (read from the PNG
with Pillow), the boxes must equal the COCO export's non-crowd boxes of the same image (by blob id)
to 1e-6. Prints one JSON line.
"""
import contextlib
import io
import json
import os
import sys

import yaml
from PIL import Image
from pycocotools.coco import COCO


def main(yolo_dir, coco_dir):
    with open(os.path.join(yolo_dir, "data.yaml")) as f:
        data = yaml.safe_load(f)
    assert os.path.realpath(data["path"]) == os.path.realpath(yolo_dir), data["path"]
    names = data["names"]
    names = [names[i] for i in range(len(names))] if isinstance(names, dict) else list(names)
    assert data["nc"] == len(names)
    expected = {}
    for split in ("train", "val", "test"):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(os.path.join(coco_dir, "annotations", f"instances_{split}.json"))
        categories = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        for image in coco.loadImgs(coco.getImgIds()):
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]], iscrowd=None))
            expected[image["cairn_blob_id"]] = sorted((categories[a["category_id"]], a["bbox"]) for a in anns if not a["iscrowd"])
    seen, boxes = 0, 0
    for split in ("train", "val", "test"):
        if split not in data:
            continue
        folder = os.path.join(yolo_dir, data[split])
        for name in sorted(os.listdir(folder)):
            image_path = os.path.join(folder, name)
            label_path = os.path.splitext(image_path.replace(os.sep + "images" + os.sep, os.sep + "labels" + os.sep))[0] + ".txt"
            width, height = Image.open(image_path).size
            got = []
            with open(label_path) as f:
                for line in f:
                    fields = line.split()
                    assert len(fields) == 5, line
                    index = int(fields[0])
                    cx, cy, w, h = map(float, fields[1:])
                    assert 0 <= index < len(names) and all(0 <= v <= 1 for v in (cx, cy, w, h)), line
                    got.append((names[index], [(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height]))
            want = expected[os.path.splitext(name)[0]]
            got.sort()
            assert len(got) == len(want), (name, got, want)
            for (a, x), (b, y) in zip(got, want):
                assert a == b and all(abs(p - q) < 1e-6 for p, q in zip(x, y)), (name, got, want)
            seen += 1
            boxes += len(got)
    assert seen == len(expected), (seen, len(expected))
    print(json.dumps({"images": seen, "boxes": boxes, "classes": len(names)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
