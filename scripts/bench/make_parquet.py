"""Packs an image folder (ROOT/<class>/<file>, classes numbered by sorted name) into
Hugging Face hub-style Parquet: ROOT_OUT/data/train-0000K-of-0000N.parquet, each row an
`image` struct {bytes, path} and an int64 `label`, in row groups of GROUP rows (the hub
writes image datasets in small row groups), sorted by relative path as distill and
torchvision number an image folder's samples.

Usage: python make_parquet.py IMAGE_FOLDER OUT_DIR [SHARDS] [GROUP]
Needs pyarrow.
"""

import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

root, out = sys.argv[1], sys.argv[2]
shards = int(sys.argv[3]) if len(sys.argv) > 3 else 4
group = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
files = sorted(
    (f"{c}/{f}", label)
    for label, c in enumerate(classes)
    for f in os.listdir(os.path.join(root, c))
)
os.makedirs(os.path.join(out, "data"), exist_ok=True)
per_shard = -(-len(files) // shards)
image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
for k in range(shards):
    rows = files[k * per_shard:(k + 1) * per_shard]
    images = [{"bytes": open(os.path.join(root, rel), "rb").read(), "path": rel} for rel, _ in rows]
    table = pa.table({
        "image": pa.array(images, type=image_type),
        "label": pa.array([label for _, label in rows], type=pa.int64()),
    })
    path = os.path.join(out, "data", f"train-{k:05d}-of-{shards:05d}.parquet")
    pq.write_table(table, path + ".partial", row_group_size=group)
    os.replace(path + ".partial", path)
print(f"{len(files)} images in {shards} files under {out}/data", file=sys.stderr)
