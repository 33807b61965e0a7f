#!/usr/bin/env python3
"""Cut datasets/fashion-mnist-mini/ from the full Fashion-MNIST (scripts/setup.sh fetches it).

Keeps the first N_TRAIN training and N_TEST test samples, in file order, as gzipped IDX
files with the same names as the originals. gzip mtime is 0 so reruns are byte-identical.

Usage: make-mini-dataset.py [N_TRAIN N_TEST DEST]   (default: 2000 1000 datasets/fashion-mnist-mini)
The benchmark scripts use the arguments to cut subsets of other sizes.
"""
import gzip
import struct
import sys
from pathlib import Path

N_TRAIN, N_TEST = 2000, 1000
root = Path(__file__).resolve().parent.parent
src = root / "datasets" / "fashion-mnist"
dst = root / "datasets" / "fashion-mnist-mini"


def cut(name: str, n: int, dst: Path) -> None:
    data = gzip.open(src / name, "rb").read()
    magic, count = struct.unpack(">II", data[:8])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    per_item = 1
    for d in dims[1:]:
        per_item *= d
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, n, *dims[1:])
    body = data[4 + 4 * ndim : 4 + 4 * ndim + n * per_item]
    assert count >= n and len(body) == n * per_item, name
    with open(dst / name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(header + body)


if __name__ == "__main__":
    if not src.is_dir():
        sys.exit(f"{src} missing: run scripts/setup.sh first")
    if len(sys.argv) == 4:
        N_TRAIN, N_TEST, dst = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    dst.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        cut(f"{split}-images-idx3-ubyte.gz", n, dst)
        cut(f"{split}-labels-idx1-ubyte.gz", n, dst)
