#!/usr/bin/env python3
"""Reads a cairn WebDataset export with the `webdataset` package, the way training code does, and
checks every sample: the key is the blob id (the image bytes hash to it), .cls is the class index of
classes.txt, .json agrees, and each split yields the count _info.json (timm's layout) promises.

    check_webdataset.py DIR [SPLIT=PATTERN ...]   # patterns: webdataset brace notation, e.g. CAIRN_SHARDS_TRAIN

Prints {"samples": N, "splits": {...}} on success; exits 1 with the reason otherwise."""
import hashlib
import json
import sys

import webdataset as wds


def main():
    directory = sys.argv[1]
    patterns = dict(arg.split("=", 1) for arg in sys.argv[2:])
    classes = [c for c in open(directory + "/classes.txt").read().split("\n") if c]
    info = json.load(open(directory + "/_info.json"))
    manifest = json.load(open(directory + "/manifest.json"))
    assert manifest["classes"] == classes, "manifest and classes.txt disagree"
    counts = {}
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
            index = int(sample["cls"])
            meta = json.loads(sample["json"])
            assert meta["blob_id"] == key and meta["class_index"] == index, f"{key}: json {meta} vs cls {index}"
            assert classes[index] == meta["class"] and meta["split"] == split, f"{key}: class or split {meta}"
            assert meta["snapshot"] == manifest["snapshot"], f"{key}: snapshot"
            n += 1
        assert n == split_info["num_samples"] == sum(split_info["shard_lengths"]), f"{split}: {n} samples, info says {split_info}"
        counts[split] = n
    print(json.dumps({"samples": sum(counts.values()), "splits": counts}))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"check failed: {e}", file=sys.stderr)
        sys.exit(1)
