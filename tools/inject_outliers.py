#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Copies an fp32 Mamba checkpoint with outlier channels injected, without
changing what it computes: for K channels c of every layer, norm.weight[c] is
multiplied by F and column c of in_proj.weight divided by F. RMSNorm's output
channel c (the input of in_proj) becomes F times larger — the few huge
channels LLM activations are known for (QuaRot, LightMamba) — while in_proj's
output is the same up to float rounding. It shows what rotation buys on a
model that has outliers; the shipped models, small and trained briefly, have
few (README, "Quantization").

usage: inject_outliers.py SRC_DIR DST_DIR [--factor 32] [--channels 4] [--seed 1]
Standard library only (struct, json, array)."""
import argparse
import array
import json
import os
import random
import shutil
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--factor", type=float, default=32.0)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if os.path.exists(a.dst):
        sys.exit(f"{a.dst}: already exists")
    src = os.path.join(a.src, "model.safetensors")
    header, data = read_safetensors(src)
    meta = header.pop("__metadata__", None)
    if meta and "quantization" in meta:
        sys.exit(f"{src}: already quantized; give the fp32 checkpoint")
    tensors = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            sys.exit(f"{src}: tensor {name} is {info['dtype']}; only F32 checkpoints are handled")
        b, e = info["data_offsets"]
        t = array.array("f")
        t.frombytes(data[b:e])
        tensors[name] = (info["shape"], t)
    rng = random.Random(a.seed)
    layer = 0
    while f"backbone.layers.{layer}.norm.weight" in tensors:
        norm_shape, norm = tensors[f"backbone.layers.{layer}.norm.weight"]
        (rows, cols), w = tensors[f"backbone.layers.{layer}.mixer.in_proj.weight"]
        for c in rng.sample(range(norm_shape[0]), a.channels):
            norm[c] *= a.factor
            for r in range(rows):
                w[r * cols + c] /= a.factor
        layer += 1
    if layer == 0:
        sys.exit(f"{src}: no backbone.layers.*.norm.weight")
    # Write in name order, 8-byte aligned header as the safetensors spec asks.
    out_header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        shape, t = tensors[name]
        raw = t.tobytes()
        out_header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        out_header["__metadata__"] = meta
    hj = json.dumps(out_header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = a.dst + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for f in os.listdir(a.src):
        if not f.endswith(".safetensors"):
            shutil.copy(os.path.join(a.src, f), tmp)
    with open(os.path.join(tmp, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.rename(tmp, a.dst)
    print(f"wrote {a.dst}: {a.channels} outlier channels x{a.factor:g} in each of {layer} layers")


if __name__ == "__main__":
    main()
