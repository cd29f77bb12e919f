"""Reads a `cairn export --format coco` directory the way detection tools do, with pycocotools.

Usage: check_coco.py EXPORT_DIR

For every split file it loads the annotations with COCO(), checks that every image's file_name
opens under images/ with the recorded size, and runs COCOeval with the ground truth itself as the
detections (score 1): the mean average precision must then be 1.0. Prints one JSON line per split.
"""
import contextlib
import io
import json
import os
import struct
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24])


def main(root):
    for split in ("train", "val", "test"):
        path = os.path.join(root, "annotations", f"instances_{split}.json")
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(path)
        for image in gt.loadImgs(gt.getImgIds()):
            file = os.path.join(root, "images", image["file_name"])
            assert os.path.isfile(file), file
            if file.endswith(".png"):
                assert png_size(file) == (image["width"], image["height"]), file
        result = {"split": split, "images": len(gt.getImgIds()), "annotations": len(gt.getAnnIds())}
        if gt.getAnnIds():
            detections = [dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"], score=1.0)
                          for a in gt.loadAnns(gt.getAnnIds())]
            with contextlib.redirect_stdout(io.StringIO()):
                dt = gt.loadRes(detections)
                evaluation = COCOeval(gt, dt, "bbox")
                evaluation.evaluate()
                evaluation.accumulate()
                evaluation.summarize()
            result["mAP"] = round(float(evaluation.stats[0]), 6)
        print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
