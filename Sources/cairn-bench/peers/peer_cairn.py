#!/usr/bin/env python3
"""Cairn peer for ../shared/peers (the DVC/Oxen/git/tar harness): the same steps, timed the same way.

Steps: init + import (with --labels-from-dirs, full decode validation), snapshot (the commit), no-op
status, no-op import (re-import of the unchanged tree), 1% modified import + snapshot, checkout of
the first snapshot into an empty directory (ImageFolder layout), store size.
Run from the peers directory's harness:

    PEERS_BIN=/tmp/peers/venv/bin CAIRN=.build/release/cairn \
      python3 Sources/cairn-bench/peers/peer_cairn.py /tmp/peers/data/small100k
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.environ.get("PEERS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../shared/peers")))
from _bench import Bench  # noqa: E402

b = Bench("cairn", __doc__)
cairn = os.path.abspath(os.environ.get("CAIRN", ".build/release/cairn"))
repo = os.path.join(b.work, "repo")
os.makedirs(repo)
b.copy_dataset(os.path.join(repo, "data"))
try:
    if b.step("init_add", f"{cairn} init . && {cairn} import --labels-from-dirs data", cwd=repo) != 0:
        raise SystemExit
    b.step("commit", f"{cairn} snapshot -m v1 && {cairn} tag v1", cwd=repo)
    b.step("status_noop", f"{cairn} status", cwd=repo)
    b.step("add_noop", f"{cairn} import --labels-from-dirs data", cwd=repo)
    nmod = b.modify(os.path.join(repo, "data"))
    b.step("add_mod", f"{cairn} import --labels-from-dirs data", cwd=repo, files=nmod)
    b.step("commit_mod", f"{cairn} snapshot -m v2", cwd=repo, files=nmod)
    fresh = os.path.join(b.work, "fresh")
    b.step("checkout_fresh", f"{cairn} -C {repo} checkout v1 {fresh}", cwd=b.work)
    b.size("cache_size", os.path.join(repo, ".cairn"))
finally:
    b.cleanup()
