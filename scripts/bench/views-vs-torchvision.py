"""How close torchvision comes to distill's rendering of cached views.

Replays every view of a views cache of an IDX split twice: with the README's snippet
(bit-exact with distill, tested) and with torchvision's `resized_crop` + `hflip` on a float
tensor, rounded half away from zero; prints how many pixels differ and by how much. Needs
torch and torchvision (not the tests: they check the README's snippet alone).

Usage: python scripts/bench/views-vs-torchvision.py CACHE IDX_IMAGES.gz
  e.g. distill cache-logits --teacher datasets/teacher/fashion-mnist-cnn.onnx \
         --dataset idx:datasets/fashion-mnist-mini --split test --limit 200 \
         --views 4 --augment crop:0.2-1,flip,shift:3 --out /tmp/views
       PYTHONPATH=~/.cache/distill-python python scripts/bench/views-vs-torchvision.py \
         /tmp/views datasets/fashion-mnist-mini/t10k-images-idx3-ubyte.gz
"""
import gzip, os, sys

import torch
import torchvision.transforms.v2.functional as F

readme = open(os.path.join(os.path.dirname(__file__), "../../README.md")).read()
block = readme[readme.index("<!-- replay-view:start -->"):readme.index("<!-- replay-view:end -->")]
exec(block.split("```python\n")[1].split("```")[0])  # bilinear, view_pixels, replay

cache, idx = sys.argv[1], sys.argv[2]
images = np.frombuffer(gzip.open(idx, "rb").read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
rows = ds.dataset(sorted(glob.glob(f"{cache}/part-*.parquet"))).to_table().to_pylist()
pre = json.load(open(f"{cache}/manifest.json"))["preprocess"]
level = np.float32(pre["scale"]) / np.float32(pre["std"][0])
differ = total = 0
worst = 0.0
for row in rows:
    if row["crop_top"] is None or row["mix_partner"] is not None:
        continue  # plain views have no box; mixing is the same arithmetic on both sides
    image = images[row["sample_id"]]
    ours = view_pixels(image, row, pre)
    px = lambda f, n: math.floor(f * n + 0.5)
    h, w = image.shape[1:]
    box = px(row["crop_top"], h), px(row["crop_left"], w), px(row["crop_height"], h), px(row["crop_width"], w)
    x = F.resized_crop(torch.from_numpy(image.copy()).float(), *box, [h, w], antialias=False)
    if row["flip"]:
        x = F.hflip(x)
    x = torch.floor(x + 0.5).clamp(0, 255).numpy()
    theirs = (x * np.float32(pre["scale"]) - np.float32(pre["mean"][0])) / np.float32(pre["std"][0])
    d = np.abs(theirs - ours)
    worst = max(worst, float(d.max()))
    differ += int((d > 1e-4).sum())
    total += d.size
print(f"{differ} of {total} pixels ({100 * differ / max(total, 1):.3f} %) differ; "
      f"largest difference {worst / level:.2f} grey levels")
