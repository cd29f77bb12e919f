"""Checks `cairn serve` and `cairn export-model` with the clients users have: tritonclient (HTTP,
binary data on and off, images and raw pixels) and onnxruntime, against `cairn predict`.

Usage:
  check_serving.py triton URL MODEL EXPECTED.json IMAGE...
  check_serving.py onnx FILE.onnx EXPECTED.json IMAGE...

EXPECTED.json is `cairn predict RUN IMAGE... --top K --json` with K = every class. The images must be
at the model's size (no resizing), so raw pixels are exactly what the model sees. Prints one JSON
line with the largest difference found; exits 1 on any mismatch.
"""
import base64
import json
import sys

import numpy as np
from PIL import Image


def expected_probs(path, images):
    records = json.load(open(path))
    by_path = {r["path"]: {c["className"]: c["probability"] for c in r["top"]} for r in records}
    return [by_path[p] for p in images]


def pixels(images, channels):
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(Image.open(p).convert(mode), dtype=np.float32) for p in images]
    if channels == 1:
        return np.stack([a[None] for a in arrays])
    return np.stack([a.transpose(2, 0, 1) for a in arrays])


def compare(name, probs, classes, expected, labels=None):
    worst = 0.0
    for row, want in zip(probs, expected):
        for i, c in enumerate(classes):
            worst = max(worst, abs(float(row[i]) - want[c]))
    if labels is not None:
        for row, label in zip(probs, labels):
            label = label.decode() if isinstance(label, bytes) else label
            assert label == classes[int(np.argmax(row))], (name, label)
    return worst


def triton(url, model, expected_path, images):
    import tritonclient.http as http

    client = http.InferenceServerClient(url)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
    meta = client.get_model_metadata(model)
    classes = meta["parameters"]["classes"]
    shape = [s for s in meta["inputs"] if s["name"] == "pixels"][0]["shape"]
    expected = expected_probs(expected_path, images)
    results = {}
    files = [open(p, "rb").read() for p in images]
    for binary in (True, False):
        # Binary data carries the files' bytes; JSON carries them as base64 strings.
        data = np.array(files if binary else [base64.b64encode(f) for f in files], dtype=np.object_)
        image = http.InferInput("image", [len(files)], "BYTES")
        image.set_data_from_numpy(data, binary_data=binary)
        outputs = [http.InferRequestedOutput("probs", binary_data=binary), http.InferRequestedOutput("label", binary_data=binary)]
        result = client.infer(model, [image], outputs=outputs)
        results["image binary=%s" % binary] = compare("image", result.as_numpy("probs"), classes, expected, result.as_numpy("label"))
        raw = http.InferInput("pixels", [len(files)] + shape[1:], "FP32")
        raw.set_data_from_numpy(pixels(images, shape[1]), binary_data=binary)
        result = client.infer(model, [raw], outputs=[http.InferRequestedOutput("probs", binary_data=binary)])
        results["pixels binary=%s" % binary] = compare("pixels", result.as_numpy("probs"), classes, expected)
    return results, 1e-6


def onnx(path, expected_path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    classes = json.loads(meta["classes"])
    assert meta["cairn.run"] and len(meta["cairn.snapshot"]) == 64, meta
    (inp,) = session.get_inputs()
    assert inp.name == "input" and inp.type == "tensor(float)", inp
    probs = session.run(["probs"], {"input": pixels(images, inp.shape[1])})[0]
    return {"onnxruntime": compare("onnx", probs, classes, expected_probs(expected_path, images))}, 1e-4


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "triton":
        results, tolerance = triton(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        results, tolerance = onnx(sys.argv[2], sys.argv[3], sys.argv[4:])
    print(json.dumps({"max_difference": results, "tolerance": tolerance}))
    sys.exit(0 if all(v <= tolerance for v in results.values()) else 1)
