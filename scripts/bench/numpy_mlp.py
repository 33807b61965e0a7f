#!/usr/bin/env python3
"""Baseline for the training-throughput benchmark: the same MLP training step as distill's
(forward, cross-entropy, backward, AdamW) written directly in NumPy float32, whose matrix
products run in OpenBLAS. Prints samples/s over the timed steps.

Usage: numpy_mlp.py WIDTHS BATCH STEPS   e.g. numpy_mlp.py 512,256 256 120
"""
import sys
import time

import numpy as np

widths = [int(w) for w in sys.argv[1].split(",")]
batch, steps = int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
sizes = [784] + widths + [10]
params = []
for fan_in, fan_out in zip(sizes, sizes[1:]):
    bound = 1.0 / np.sqrt(fan_in)
    params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
    params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
m = [np.zeros_like(p) for p in params]
v = [np.zeros_like(p) for p in params]
x_all = rng.random((batch * 8, 784), dtype=np.float32)
y_all = rng.integers(0, 10, batch * 8)
lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 1e-4


def step(t, x, y):
    acts = [x]
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = np.maximum(h, 0)
        acts.append(h)
    z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g = p
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads = [None] * len(params)
    for i in reversed(range(n_layers)):
        grads[2 * i] = acts[i].T @ g
        grads[2 * i + 1] = g.sum(axis=0)
        if i > 0:
            g = (g @ params[2 * i].T) * (acts[i] > 0)
    for k, (w, gk) in enumerate(zip(params, grads)):
        w *= 1 - lr * wd
        m[k] = b1 * m[k] + (1 - b1) * gk
        v[k] = b2 * v[k] + (1 - b2) * gk * gk
        mh = m[k] / (1 - b1**t)
        vh = v[k] / (1 - b2**t)
        w -= lr * mh / (np.sqrt(vh) + eps)


for t in range(1, 6):  # warm-up
    i = (t % 8) * batch
    step(t, x_all[i : i + batch], y_all[i : i + batch])
start = time.perf_counter()
for t in range(6, 6 + steps):
    i = (t % 8) * batch
    step(t, x_all[i : i + batch], y_all[i : i + batch])
print(f"{steps * batch / (time.perf_counter() - start):.0f}")
