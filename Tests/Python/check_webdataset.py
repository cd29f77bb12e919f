#!/usr/bin/env python3
"""Reads a cairn WebDataset export with the `webdataset` package, the way training code does, and
checks every sample: the key is the blob id (the image bytes hash to it), .cls is the class index of
classes.txt, .json agrees, boxes in .json are inside the image with their class's index (a sample
by its boxes alone has no .cls), and each split yields the count _info.json (timm's layout) promises.

    check_webdataset.py DIR [SPLIT=PATTERN ...]   # patterns: webdataset brace notation, e.g. CAIRN_SHARDS_TRAIN

Prints {"samples": N, "splits": {...}} on success; exits 1 with the reason otherwise."""
import hashlib
import io
import json
import sys

from PIL import Image

import webdataset as wds


def main():
    directory = sys.argv[1]
    patterns = dict(arg.split("=", 1) for arg in sys.argv[2:])
    classes = [c for c in open(directory + "/classes.txt").read().split("\n") if c]
    info = json.load(open(directory + "/_info.json"))
    manifest = json.load(open(directory + "/manifest.json"))
    assert manifest["classes"] == classes, "manifest and classes.txt disagree"
    counts = {}
    boxes = 0
    for split, split_info in sorted(info["splits"].items()):
        if not split_info["filenames"]:
            continue
        urls = patterns.get(split) or [directory + "/" + name for name in split_info["filenames"]]
        n = 0
        for sample in wds.WebDataset(urls, shardshuffle=False):
            key = sample["__key__"]
            image = sample.get("png") or sample.get("jpg")
            assert image is not None, f"{key}: no image"
            assert hashlib.sha256(image).hexdigest() == key, f"{key}: the image does not hash to its key"
            meta = json.loads(sample["json"])
            assert meta["blob_id"] == key and meta["split"] == split, f"{key}: json {meta}"
            if "cls" in sample:
                index = int(sample["cls"])
                assert meta["class_index"] == index and classes[index] == meta["class"], f"{key}: json {meta} vs cls {index}"
            else:
                assert "boxes" in meta and "class" not in meta, f"{key}: neither a class nor boxes"
            if "boxes" in meta:
                width, height = Image.open(io.BytesIO(image)).size
                for box in meta["boxes"]:
                    x, y, w, h = box["bbox"]
                    assert classes[box["class_index"]] == box["class"], f"{key}: box class {box}"
                    assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width + 1e-9 and y + h <= height + 1e-9, f"{key}: box {box}"
                    boxes += 1
            assert meta["snapshot"] == manifest["snapshot"], f"{key}: snapshot"
            n += 1
        assert n == split_info["num_samples"] == sum(split_info["shard_lengths"]), f"{split}: {n} samples, info says {split_info}"
        counts[split] = n
    print(json.dumps({"samples": sum(counts.values()), "splits": counts, "boxes": boxes}))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"check failed: {e}", file=sys.stderr)
        sys.exit(1)
