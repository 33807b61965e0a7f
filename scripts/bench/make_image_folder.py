"""Writes an ImageNet-shaped image folder for scale benchmarks: CLASSES class folders
(n00000000, n00000001, ...) of RGB JPEGs (quality 90) of about SIZE pixels a side (each
image's sides drawn between 3/4 and 5/4 of SIZE, as ImageNet's vary), smooth random
colour fields with noise, so they compress like photographs rather than like flat colour.
Image i goes to class i % CLASSES. Deterministic for a seed; a rerun keeps existing files.

Usage: python make_image_folder.py OUT_DIR IMAGES CLASSES [SIZE] [SEED]
Needs numpy and Pillow.
"""

import os
import sys

import numpy as np
from PIL import Image

out, images, classes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = int(sys.argv[4]) if len(sys.argv) > 4 else 80
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
for c in range(classes):
    os.makedirs(os.path.join(out, f"n{c:08d}"), exist_ok=True)
for i in range(images):
    path = os.path.join(out, f"n{i % classes:08d}", f"img_{i:07d}.JPEG")
    if os.path.exists(path):
        continue
    rng = np.random.default_rng([seed, i])
    h, w = (int(size * rng.uniform(0.75, 1.25)) for _ in range(2))
    coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.float32)
    field = np.array(Image.fromarray(coarse.astype(np.uint8)).resize((w, h), Image.BILINEAR), np.float32)
    pixels = np.clip(field + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path + ".partial", "JPEG", quality=90)
    os.replace(path + ".partial", path)
print(f"{out}: {images} JPEGs in {classes} classes, ~{size}px")
