#!/usr/bin/env python3
"""Writes crafted objects into a Cairn remote on a local S3 server, as a hostile writer could.

usage: hostile.py ENDPOINT BUCKET PREFIX CASE

Each CASE rewrites what a real push left there, keeping every checksum right, so only Cairn's own
checks stand between it and the clone or pull that reads it:

  index-fanout      a pack index whose fan-out runs past its entry count
  index-huge        an entry with offset and length of 2^63
  index-overrun     an entry whose length runs over the entries after it
  plant-item        a catalog.json item (and label) whose image no snapshot holds
  checkpoint-bomb   a run whose checkpoint header claims 2^62 weights
  hostile-tags      tags named HEAD, ../../etc/passwd, with a newline, with an escape sequence,
                    and one named like a snapshot id
  duplicate-damaged the first pack's objects copied into a second pack whose name sorts first,
                    with damaged bytes (the good copy is in the other pack)
  loose-garbage     a large loose object whose bytes do not hash to its name
  purge-all         a purge of every item, recorded by a new person who claims the admin role
"""
import hashlib
import json
import struct
import sys

import boto3

endpoint, bucket, prefix, case = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="cairn-test", aws_secret_access_key="cairn-test-secret",
                  region_name="us-east-1")


def key(name):
    return f"{prefix}/{name}" if prefix else name


def get(name):
    return s3.get_object(Bucket=bucket, Key=key(name))["Body"].read()


def put(name, data):
    s3.put_object(Bucket=bucket, Key=key(name), Body=data)


def keys(under):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key(under)):
        out += [o["Key"][len(key("")):] for o in page.get("Contents", [])]
    return out


HEADER = 16 + 256 * 4
ENTRY = 48


def parse_index(data):
    count = struct.unpack_from("<I", data, 12)[0]
    fanout = list(struct.unpack_from("<256I", data, 16))
    entries = [list(struct.unpack_from("<32sQQ", data, HEADER + i * ENTRY)) for i in range(count)]
    return fanout, entries


def build_index(fanout, entries):
    body = b"CAIRNIDX" + struct.pack("<II", 1, len(entries)) + struct.pack("<256I", *fanout)
    for ident, offset, length in entries:
        body += struct.pack("<32sQQ", ident, offset, length)
    return body + hashlib.sha256(body).digest()


def first_index():
    names = sorted(k for k in keys("packs/") if k.endswith(".idx"))
    return names[0]


def rewrite_index(change):
    name = first_index()
    fanout, entries = parse_index(get(name))
    change(fanout, entries)
    put(name, build_index(fanout, entries))


if case == "index-fanout":
    def change(fanout, entries):
        for b in range(128, 256):
            fanout[b] = len(entries) + 1000
    rewrite_index(change)
elif case == "index-huge":
    def change(fanout, entries):
        entries[0][1] = 1 << 63
        entries[0][2] = 1 << 63
    rewrite_index(change)
elif case == "index-overrun":
    def change(fanout, entries):
        by_offset = sorted(entries, key=lambda e: e[1])
        by_offset[0][2] += by_offset[1][2] + 40  # runs over the next record
    rewrite_index(change)
elif case == "plant-item":
    bundle = json.loads(get("catalog.json"))
    blob = hashlib.sha256(b"planted").hexdigest()
    bundle["items"].append({"blob": blob, "path": "planted/evil.png", "format": "png", "width": 8, "height": 8,
                            "size": 100, "split": "train", "addedAt": 0})
    bundle["annotations"].append({"blob": blob, "who": "import", "class": bundle["classes"][0]["name"], "at": 1})
    put("catalog.json", json.dumps(bundle).encode())
elif case == "purge-all":
    bundle = json.loads(get("catalog.json"))
    bundle["annotators"].append({"name": "mallory", "role": "admin", "createdAt": 1})
    bundle["purges"] = [{"blob": item["blob"], "who": "mallory", "why": "gone", "at": 2} for item in bundle["items"]]
    put("catalog.json", json.dumps(bundle).encode())
elif case == "checkpoint-bomb":
    bundle = json.loads(get("catalog.json"))
    header = {"spec": {"kind": "mlp", "hidden": [8], "width": 8, "height": 8, "channels": 1, "classes": 2},
              "classes": ["cat", "dog"], "preprocessing": {"width": 8, "height": 8, "channels": 1},
              "normalization": {"mean": [0.5], "std": [0.2]}, "weightCount": 1 << 62}
    body = json.dumps(header, sort_keys=True).encode()
    checkpoint = b"CAIRNCK1" + struct.pack("<I", len(body)) + body + b"\0" * 64
    ident = hashlib.sha256(checkpoint).hexdigest()
    put(f"objects/{ident}", checkpoint)
    snapshot = sorted(k for k in keys("snapshots/"))[0].split("/")[1]
    record = dict(bundle["runs"][0]) if bundle["runs"] else {}
    bundle["runs"].append({"id": "bada55bada55", "name": "bomb", "dataRef": "v1", "snapshot": snapshot, "model": "mlp",
                           "status": "finished", "startedAt": 0, "endedAt": 1, "checkpoint": ident,
                           "record": json.loads(json.dumps(record.get("record", "{}"))) if record else "{}"})
    if record:
        inner = json.loads(record["record"])
        inner.update({"id": "bada55bada55", "name": "bomb", "checkpoint": ident})
        bundle["runs"][-1]["record"] = json.dumps(inner)
    put("catalog.json", json.dumps(bundle).encode())
elif case == "hostile-tags":
    tags = json.loads(get("tags.json"))
    target = next(iter(tags["tags"].values()))
    for name in ["HEAD", "../../etc/passwd", "line\nbreak", "\u001b]0;pwned\u0007", target["snapshot"][:63] + "0"]:
        tags["tags"][name] = dict(target)
    put("tags.json", json.dumps(tags).encode())
elif case == "duplicate-damaged":
    name = first_index()
    pack = get(name[:-4] + ".pack")
    fanout, entries = parse_index(get(name))
    damaged = bytearray(pack)
    for _, offset, length in entries:
        damaged[offset] ^= 0xFF
    new = "0" * 63 + "1"  # sorts before every real pack name
    put(f"packs/{new}.pack", bytes(damaged))
    put(f"packs/{new}.idx", build_index(fanout, entries))
elif case == "loose-garbage":
    claimed = hashlib.sha256(b"what the name promises").hexdigest()
    put(f"objects/{claimed}", b"\x89garbage" * (300 * 1024))
    bundle = json.loads(get("catalog.json"))
    snapshot = sorted(k for k in keys("snapshots/"))[0].split("/")[1]
    bundle["runs"].append({"id": "0123456789ab", "name": "garbage", "dataRef": "v1", "snapshot": snapshot, "model": "mlp",
                           "status": "finished", "startedAt": 0, "endedAt": 1, "checkpoint": claimed, "record": "{}"})
    put("catalog.json", json.dumps(bundle).encode())
elif case == "noop":
    pass
else:
    sys.exit(f"unknown case {case}")
print("ok")
