"""The PyTorch side of scripts/bench/train-vs-pytorch.sh: the same student, loss, optimizer,
batch and data as distill, one epoch of training steps timed, then forward-only throughput.

A student spec as distill writes it: mlp:W1,W2,... (flatten, dense + ReLU, linear head) or
cnn:C1,C2,...[,fc=N] (per entry two 3x3 conv without bias + batch-norm + ReLU, then 2x2
max-pool; then dense layers and a linear head), resnet:C1,C2,...[,blocks=N] (a 3x3 stem, then
per entry a stage of basic blocks, 2 by default) or mobilenet:C1,C2,...[,width=M][,expand=E]
[,blocks=N] (a 3x3 stem, then per entry a stage of inverted residual blocks, 1 by default),
both ending in global average pooling and a linear head, as crates/student/src/families.rs. AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-8,
weight decay 1e-4). Hard labels: cross-entropy. KD: alpha * T^2 * KL(teacher || student,
batchmean) + (1 - alpha) * CE with T = 2, alpha = 0.5, teacher logits from a distill cache.

Usage: torch_students.py ARCH IDX_DIR LIMIT TEST_LIMIT BATCH THREADS [CACHE_DIR]
Prints {"train_samples_per_second": X, "eval_samples_per_second": Y}.
"""
import glob
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.2860, 0.3530


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def split(root, name, limit):
    prefix = "train" if name == "train" else "t10k"
    x = idx(f"{root}/{prefix}-images-idx3-ubyte.gz")[:limit]
    y = idx(f"{root}/{prefix}-labels-idx1-ubyte.gz")[:limit]
    x = (x.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x[:, None].copy()), torch.from_numpy(y.astype(np.int64))


def conv_bn(cin, cout, kernel, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, cout, 3, stride), conv_bn(cout, cout, 3, relu=False))
        self.shortcut = conv_bn(cin, cout, 1, stride, relu=False) if stride != 1 or cin != cout else None

    def forward(self, x):
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(self.body(x) + identity)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, relu=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.body(x)
        return out + x if self.residual else out


def pooled(kind, widths, options, classes):
    """A ResNet or MobileNet student: stem, stages (stride 2 from the second), pooling, head."""
    if kind == "mobilenet":
        widths = [max(1, round(w * float(options.get("width", 1)))) for w in widths]
    blocks = int(options.get("blocks", 2 if kind == "resnet" else 1))
    expand = int(options.get("expand", 4))
    layers, cin = [conv_bn(1, widths[0], 3)], widths[0]
    for stage, cout in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(cin, cout, stride) if kind == "resnet"
                          else InvertedResidual(cin, cout, stride, expand))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def student(spec, classes=10):
    kind, rest = spec.split(":")
    widths, fc, options = [], [], {}
    for item in rest.split(","):
        if item.startswith("fc="):
            fc.append(int(item[3:]))
        elif "=" in item:
            key, value = item.split("=")
            options[key] = value
        else:
            widths.append(int(item))
    if kind in ("resnet", "mobilenet"):
        return pooled(kind, widths, options, classes)
    layers, c, hw = [], 1, 28
    if kind == "cnn":
        for out in widths:
            for cin in (c, out):
                layers += [nn.Conv2d(cin, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            layers.append(nn.MaxPool2d(2))
            c, hw = out, hw // 2
        dense = fc
    else:
        dense = widths
    layers.append(nn.Flatten())
    features = c * hw * hw
    for w in dense:
        layers += [nn.Linear(features, w), nn.ReLU()]
        features = w
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


def teacher_logits(cache, n):
    import pyarrow.parquet as pq

    rows = []
    for part in sorted(glob.glob(f"{cache}/part-*.parquet")):
        table = pq.read_table(part, columns=["logits"])
        rows.extend(table.column("logits").to_pylist())
    return torch.tensor(np.array(rows[:n], dtype=np.float32))


# Evaluation: batches of 500, whole passes over the test images until this many seconds
# have passed (one pass of a small model is too short to time).
EVAL_BATCH = 500
EVAL_SECONDS = 1.0


def main():
    arch, root, limit, test_limit, batch, threads = sys.argv[1:7]
    cache = sys.argv[7] if len(sys.argv) > 7 else None
    limit, test_limit, batch, threads = int(limit), int(test_limit), int(batch), int(threads)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x, y = split(root, "train", limit)
    tx, _ = split(root, "test", test_limit)
    t = teacher_logits(cache, len(x)) if cache else None
    model = student(arch)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4)
    order = torch.randperm(len(x))
    temperature, alpha = 2.0, 0.5
    model.train()
    seen = 0
    started = time.perf_counter()
    for i in range(0, len(order), batch):
        rows = order[i: i + batch]
        if len(rows) < 2:
            continue
        logits = model(x[rows])
        hard = F.cross_entropy(logits, y[rows])
        if t is None:
            loss = hard
        else:
            log_q = F.log_softmax(logits / temperature, dim=1)
            log_p = F.log_softmax(t[rows] / temperature, dim=1)
            kd = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
            loss = alpha * temperature**2 * kd + (1 - alpha) * hard
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        seen += len(rows)
    train_seconds = time.perf_counter() - started
    model.eval()

    def eval_pass():
        for i in range(0, len(tx), EVAL_BATCH):
            model(tx[i: i + EVAL_BATCH])

    with torch.no_grad():
        eval_pass()  # warm-up, as the distill side does
        passes, started = 0, time.perf_counter()
        while passes == 0 or time.perf_counter() - started < EVAL_SECONDS:
            eval_pass()
            passes += 1
        eval_seconds = time.perf_counter() - started
    print(json.dumps({
        "train_samples_per_second": seen / train_seconds,
        "eval_samples_per_second": passes * len(tx) / eval_seconds,
    }))


if __name__ == "__main__":
    main()
