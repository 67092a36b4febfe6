#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Writes the committed seeds of fuzz_quantized_safetensors: complete quantized
# checkpoints (model.safetensors with metadata "quantization") of the tiny
# Mamba-2 config the target loads (D 16, E 32, N 8, 4 heads of 8, 1 layer,
# vocab 16, untied head). Deterministic; run from the repository root:
#   python3 tests/fuzz/make_quantized_seeds.py tests/fuzz/corpus/fuzz_quantized_safetensors
# (`specmamba quantize` output of the shipped models is 300 KB and more: too
# large for an 8 KB fuzz input, so scripts/fuzz.sh adds only its first 64 KiB.)
import json
import math
import random
import struct
import sys

D, E, N, H, P, K, V = 16, 32, 8, 4, 8, 4, 16
CONV = E + 2 * N
IN_PROJ = 2 * E + 2 * N + H


def tensor_quant(bits, group, scale, e):
    return {"bits": bits, "group": group, "scale": scale, "exponent_bits": e}


def quant_config(name, weights, head, acts, ssm, pot, lut, rotation):
    return {"format": "specmamba-quant", "version": 1, "name": name, "linear_weights": weights,
            "lm_head_weights": head, "linear_activations": acts, "ssm": ssm, "pot_ssm": pot,
            "lut": {"exp": lut, "softplus": lut, "silu": lut}, "rotation": rotation}


def f32(values):
    return "F32", struct.pack("<%df" % len(values), *values)


def quantized(rng, name, rows, cols, q):
    """NAME.qcodes plus the scales of q, as `specmamba quantize` stores them."""
    out = {}
    groups = cols // q["group"]
    if q["bits"] == 8:
        out[name + ".qcodes"] = ("I8", [rows, cols], bytes(rng.randrange(256) for _ in range(rows * cols)))
    else:
        width = (cols + 1) // 2
        out[name + ".qcodes"] = ("U8", [rows, width], bytes(rng.randrange(256) for _ in range(rows * width)))
    if q["scale"] == "float":
        out[name + ".qscale"] = ("F32", [rows, groups],
                                 struct.pack("<%df" % (rows * groups), *[0.01 * (1 + i % 5) for i in range(rows * groups)]))
    else:
        s1 = [-6 - i % 3 for i in range(rows * groups)]
        s2 = [s - 1 - i % 3 for i, s in enumerate(s1)]
        out[name + ".qs1"] = ("I16", [rows, groups], struct.pack("<%dh" % len(s1), *s1))
        out[name + ".qs2"] = ("I16", [rows, groups], struct.pack("<%dh" % len(s2), *s2))
    return out


def checkpoint(qc, seed):
    rng = random.Random(seed)
    t = {}

    def dense(name, shape, scale=0.1):
        n = math.prod(shape)
        dt, raw = f32([scale * (rng.random() - 0.5) for _ in range(n)])
        t[name] = (dt, shape, raw)

    dense("backbone.embeddings.weight", [V, D])
    t["backbone.norm_f.weight"] = ("F32", [D], f32([1.0] * D)[1])
    if qc["lm_head_weights"]["bits"] == 16:
        dense("lm_head.weight", [V, D])
    else:
        t.update(quantized(rng, "lm_head.weight", V, D, qc["lm_head_weights"]))
    p = "backbone.layers.0."
    m = p + "mixer."
    t[p + "norm.weight"] = ("F32", [D], f32([1.0] * D)[1])
    t.update(quantized(rng, m + "in_proj.weight", IN_PROJ, D, qc["linear_weights"]))
    dense(m + "conv1d.weight", [CONV, 1, K], 0.5)
    dense(m + "conv1d.bias", [CONV])
    t.update(quantized(rng, m + "out_proj.weight", D, E, qc["linear_weights"]))
    t[m + "dt_bias"] = ("F32", [H], f32([-2.0, -1.0, 0.0, 1.0])[1])
    t[m + "A_log"] = ("F32", [H], f32([math.log(i + 1.0) for i in range(H)])[1])
    t[m + "D"] = ("F32", [H], f32([1.0] * H)[1])
    t[m + "norm.weight"] = ("F32", [E], f32([1.0] * E)[1])

    header = {"__metadata__": {"format": "pt", "quantization": json.dumps(qc, separators=(",", ":"))}}
    data = b""
    for name in sorted(t):
        dtype, shape, raw = t[name]
        while len(data) % 8:
            data += b"\0"
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    out = sys.argv[1]
    seeds = {
        # w4a4 as the presets make it, with groups of 8 (the tiny widths), PoT SSM and rotation
        "w4a4-pow2sum-pot-rotation": quant_config(
            "w4a4", tensor_quant(4, 8, "pow2sum", 3), tensor_quant(8, 8, "pow2sum", 3),
            tensor_quant(4, 8, "pow2", 4), tensor_quant(8, 8, "pow2", 4), True, 256, True),
        # 8-bit weights with float scales, fp32 head and SSM
        "w8a8-float-scales": quant_config(
            "custom", tensor_quant(8, 8, "float", 0), tensor_quant(16, 0, "float", 0),
            tensor_quant(8, 8, "pow2", 4), tensor_quant(16, 0, "float", 0), False, 0, False),
    }
    for i, (name, qc) in enumerate(sorted(seeds.items())):
        with open(f"{out}/{name}.safetensors", "wb") as f:
            f.write(checkpoint(qc, 1234 + i))


if __name__ == "__main__":
    main()
