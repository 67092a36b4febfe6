#!/usr/bin/python3
"""Train byte-level Mamba-2 language models on the King James Bible (pure PyTorch, CPU)
and export them in the Hugging Face Mamba-2 layout (config.json + model.safetensors, F32).

Run with Debian's interpreter: /usr/bin/python3 tools/train_mamba2.py ...

Model (docs ALGORITHMS.md, HF Mamba2Mixer, n_groups = 1), per layer:
    h += out_proj( RMSNormGated( SSM(silu(conv(xBC))) + D*x , z ) )   on u = RMSNorm(h)*norm.weight
Final RMSNorm norm_f, lm_head tied to the embedding. Vocabulary = 256 bytes (token id = byte).
Training uses the chunked SSD form of the scan (exact up to rounding); --selftest checks it
against a token-by-token sequential recurrence written directly from ALGORITHMS.md.

Held-out metric (--eval-only, and at the end of training): the whole held-out file
(data/kjv-heldout.txt, byte-identical to what is evaluated here) as ONE sequence from an empty
state (zero conv window, zero SSM state); mean over t = 0..n-2 of -ln p(byte[t+1] | bytes[0..t]),
divided by ln 2 (bits per byte, n-1 predictions).  It is computed in contiguous segments with
the conv window and SSM state carried across segments, which is exactly one sequence.
The periodic "eval" during training is cheaper: mean bits/byte over a fixed set of held-out
windows (evenly spaced, each from an empty state, all positions scored).
"""
import argparse
import json
import math
import os
import signal
import sys
import time

# ---------------------------------------------------------------------------------------------
# Arguments are parsed before importing torch so that BLAS/OpenMP thread counts can be set.
# ---------------------------------------------------------------------------------------------
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_argument_group("model (ignored when resuming: taken from the checkpoint)")
    g.add_argument("--d-model", type=int, default=192)
    g.add_argument("--n-layer", type=int, default=4)
    g.add_argument("--expand", type=int, default=2)
    g.add_argument("--head-dim", type=int, default=32)
    g.add_argument("--d-state", type=int, default=32)
    g.add_argument("--d-conv", type=int, default=4)
    g.add_argument("--chunk", type=int, default=64, help="SSD chunk length used for training")
    t = p.add_argument_group("training")
    t.add_argument("--out-dir", default=None, help="checkpoint/export/log dir (resumes from OUT/ckpt.pt)")
    t.add_argument("--max-steps", type=int, default=1000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--seq-len", type=int, default=256)
    t.add_argument("--carry-state", type=int, default=1,
                   help="1: batch rows are contiguous streams whose state is carried (detached) across "
                        "steps, restarting from an empty state at a random position with probability "
                        "1/--carry-mean each step; 0: independent random windows from an empty state")
    t.add_argument("--carry-mean", type=float, default=16.0)
    t.add_argument("--teacher", default=None, metavar="DIR",
                   help="exported model to distil from (e.g. the target, to raise a draft's agreement)")
    t.add_argument("--kd-weight", type=float, default=0.7,
                   help="with --teacher: loss = (1-w) * cross-entropy + w * KL(teacher || student)")
    t.add_argument("--time-budget", type=float, default=0,
                   help="seconds of training wall time (summed over resumes); if > 0 the cosine schedule "
                        "progress is max(step progress, time progress) and training ends when either is "
                        "reached (adapts to CPU contention, but then not bit-reproducible from the command)")
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--min-lr-frac", type=float, default=0.1)
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--wd", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--eval-every", type=int, default=200)
    t.add_argument("--eval-windows", type=int, default=32)
    t.add_argument("--eval-len", type=int, default=1024)
    t.add_argument("--ckpt-every", type=int, default=100)
    t.add_argument("--final-full-eval", type=int, default=1, help="full held-out eval when max-steps is reached")
    m = p.add_argument_group("modes")
    m.add_argument("--selftest", action="store_true")
    m.add_argument("--bench", type=int, default=0, help="time N training steps (no checkpoint) and exit")
    m.add_argument("--eval-only", action="store_true", help="whole-held-out-file bpb of OUT/ckpt.pt (or --model)")
    m.add_argument("--model", default=None, help="load an exported model dir (config.json+model.safetensors) "
                                                 "instead of OUT/ckpt.pt for --eval-only/--generate")
    m.add_argument("--export", default=None, metavar="DIR", help="export OUT/ckpt.pt to DIR and exit")
    m.add_argument("--generate", default=None, metavar="PROMPT")
    m.add_argument("--max-tokens", type=int, default=200)
    m.add_argument("--eval-segment", type=int, default=4096, help="segment length for the full held-out eval")
    d = p.add_argument_group("data")
    d.add_argument("--corpus", default="/work/runs/kjv.txt")
    d.add_argument("--heldout-out", default=os.path.join(REPO, "data", "kjv-heldout.txt"))
    d.add_argument("--heldout-frac", type=float, default=0.05)
    d.add_argument("--split", choices=["interleaved", "tail"], default="interleaved",
                   help="interleaved: every 20th block of 200 verses is held out (in-distribution, "
                        "all books represented); tail: the last --heldout-frac of the bytes")
    return p.parse_args(argv)


ARGS = parse_args()
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = str(ARGS.threads)

import random  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(ARGS.threads)
LN2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------
def load_corpus(path, frac, heldout_out=None, split="interleaved"):
    """Returns (train_bytes, heldout_bytes) as numpy uint8 arrays. Builds the corpus if needed."""
    if not os.path.exists(path):
        import re
        import subprocess
        raw = subprocess.run(["bible", "-f", "gen1:1-rev22:21"], check=True, capture_output=True).stdout
        lines = raw.decode("ascii").split("\n")
        verses = []
        for ln in lines:
            if not ln.strip():
                continue
            m = re.match(r"^\S+\d+:\d+ (.*)$", ln)
            if not m:
                raise RuntimeError("unexpected bible line: %r" % ln)
            verses.append(m.group(1).strip())
        text = ("\n".join(verses) + "\n").encode("ascii")
        atomic_write_bytes(path, text)
    with open(path, "rb") as f:
        text = f.read()
    if split == "tail":
        cut = text.index(b"\n", int(len(text) * (1.0 - frac))) + 1  # held-out starts at a line start
        train, held = text[:cut], text[cut:]
    else:
        # Blocks of 200 verses; block i is held out when i % period == period - 1 (5% for 0.05).
        lines = text.split(b"\n")[:-1]
        period = max(2, int(round(1.0 / frac)))
        train_parts, held_parts = [], []
        for i in range(0, len(lines), 200):
            block = b"\n".join(lines[i:i + 200]) + b"\n"
            (held_parts if (i // 200) % period == period - 1 else train_parts).append(block)
        train, held = b"".join(train_parts), b"".join(held_parts)
    if heldout_out:
        old = None
        if os.path.exists(heldout_out):
            with open(heldout_out, "rb") as f:
                old = f.read()
        if old != held:
            os.makedirs(os.path.dirname(heldout_out), exist_ok=True)
            atomic_write_bytes(heldout_out, held)
    return np.frombuffer(train, dtype=np.uint8).copy(), np.frombuffer(held, dtype=np.uint8).copy()


def atomic_write_bytes(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
class Cfg:
    KEYS = ("d_model", "n_layer", "expand", "head_dim", "d_state", "d_conv", "chunk")

    def __init__(self, **kw):
        for k in self.KEYS:
            setattr(self, k, int(kw[k]))
        self.vocab = 256
        self.n_groups = 1
        self.eps = 1e-5
        self.d_inner = self.expand * self.d_model
        assert self.d_inner % self.head_dim == 0
        self.n_heads = self.d_inner // self.head_dim

    def to_dict(self):
        return {k: getattr(self, k) for k in self.KEYS}


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def ssd_chunked(X, A, B, C, L, S0=None):
    """Chunked SSD scan (n_groups = 1).
    X [b,T,H,P] (= dt*x), A [b,T,H] (= dt*A, <= 0), B,C [b,T,N], S0 [b,H,P,N] or None.
    Returns Y [b,T,H,P] with Y_t = S_t @ C_t, S_t = exp(A_t) S_{t-1} + X_t B_t^T, and S_T."""
    b, T, H, P = X.shape
    N = B.shape[-1]
    pad = (-T) % L
    if pad:  # zero input + zero decay exponent: state unchanged, outputs discarded
        X = F.pad(X, (0, 0, 0, 0, 0, pad))
        A = F.pad(A, (0, 0, 0, pad))
        B = F.pad(B, (0, 0, 0, pad))
        C = F.pad(C, (0, 0, 0, pad))
    c = (T + pad) // L
    Xc = X.reshape(b, c, L, H, P)
    Acs = A.reshape(b, c, L, H).cumsum(2)  # b,c,L,H
    Bc = B.reshape(b, c, L, N)
    Cc = C.reshape(b, c, L, N)
    # 1. intra-chunk (diagonal blocks)
    AcsT = Acs.permute(0, 1, 3, 2)  # b,c,H,L
    mask = torch.ones(L, L, dtype=torch.bool, device=X.device).tril()
    seg = (AcsT.unsqueeze(-1) - AcsT.unsqueeze(-2)).masked_fill(~mask, -math.inf)  # b,c,H,l,s
    W = torch.exp(seg) * (Cc @ Bc.transpose(-1, -2)).unsqueeze(2)  # b,c,H,l,s
    Ydiag = (W @ Xc.permute(0, 1, 3, 2, 4)).permute(0, 1, 3, 2, 4)  # b,c,L,H,P
    # 2. state contributed by each chunk (heads share B: one (H*P x L) @ (L x N) per chunk)
    decay_states = torch.exp(Acs[:, :, -1:] - Acs)  # b,c,L,H
    Xd = (Xc * decay_states.unsqueeze(-1)).reshape(b, c, L, H * P)
    states = (Xd.transpose(-1, -2) @ Bc).view(b, c, H, P, N)
    # 3. inter-chunk recurrence (sequential over chunks; unbind has a cheap backward)
    chunk_decay = torch.exp(Acs[:, :, -1]).unsqueeze(-1).unsqueeze(-1).unbind(1)  # c x [b,H,1,1]
    S = S0 if S0 is not None else X.new_zeros(b, H, P, N)
    prev = []
    for dec, st in zip(chunk_decay, states.unbind(1)):
        prev.append(S)
        S = S * dec + st
    prev = torch.stack(prev, 1)  # b,c,H,P,N : state entering each chunk
    # 4. output from the state entering the chunk (heads share C)
    Yoff = (Cc @ prev.permute(0, 1, 4, 2, 3).reshape(b, c, N, H * P)).view(b, c, L, H, P)
    Y = (Yoff * torch.exp(Acs).unsqueeze(-1) + Ydiag).reshape(b, c * L, H, P)
    return (Y[:, :T] if pad else Y), S


class GatedNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))


class Mixer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, E, N, H, K = cfg.d_model, cfg.d_inner, cfg.d_state, cfg.n_heads, cfg.d_conv
        self.conv_dim = E + 2 * N
        self.in_proj = nn.Linear(D, 2 * E + 2 * N + H, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, K, groups=self.conv_dim, padding=K - 1, bias=True)
        dt = torch.exp(torch.rand(H) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(H))
        self.norm = GatedNorm(E)
        self.out_proj = nn.Linear(E, D, bias=False)

    def forward(self, u, state=None):
        """u [b,T,D]; state = (conv_window [b,conv_dim,K-1], S [b,H,P,N]) or None (empty)."""
        cfg = self.cfg
        E, N, H, P, K = cfg.d_inner, cfg.d_state, cfg.n_heads, cfg.head_dim, cfg.d_conv
        b, T, _ = u.shape
        z, xBC, dt = torch.split(self.in_proj(u), [E, E + 2 * N, H], dim=-1)
        xt = xBC.transpose(1, 2)
        if state is None:
            cin = F.pad(xt, (K - 1, 0))
            S0 = None
        else:
            cin = torch.cat([state[0], xt], dim=-1)
            S0 = state[1]
        conv_win = cin[..., cin.shape[-1] - (K - 1):].contiguous()
        xBC = F.silu(F.conv1d(cin, self.conv1d.weight, self.conv1d.bias, groups=self.conv_dim)).transpose(1, 2)
        x, Bm, Cm = torch.split(xBC, [E, N, N], dim=-1)
        dt = F.softplus(dt + self.dt_bias)  # b,T,H
        A = -torch.exp(self.A_log)
        xh = x.reshape(b, T, H, P)
        y, S = ssd_chunked(xh * dt.unsqueeze(-1), dt * A, Bm, Cm, cfg.chunk, S0)
        y = (y + xh * self.D[:, None]).reshape(b, T, E)
        y = rmsnorm(y * F.silu(z), self.norm.weight, cfg.eps)
        return self.out_proj(y), (conv_win, S)


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.norm = GatedNorm(cfg.d_model)  # plain RMSNorm weight (same parameter shape)
        self.mixer = Mixer(cfg)


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg.vocab, cfg.d_model)
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.n_layer)])
        self.norm_f = GatedNorm(cfg.d_model)


class Mamba2LM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        nn.init.normal_(self.backbone.embeddings.weight, std=0.02)
        for lay in self.backbone.layers:  # Mamba rescale_prenorm_residual (1 residual per layer)
            with torch.no_grad():
                lay.mixer.out_proj.weight /= math.sqrt(cfg.n_layer)

    def forward(self, tokens, states=None):
        """tokens [b,T] int64 -> logits [b,T,256], new per-layer states."""
        cfg = self.cfg
        h = self.backbone.embeddings(tokens)
        new = []
        for i, lay in enumerate(self.backbone.layers):
            out, st = lay.mixer(rmsnorm(h, lay.norm.weight, cfg.eps), None if states is None else states[i])
            h = h + out
            new.append(st)
        h = rmsnorm(h, self.backbone.norm_f.weight, cfg.eps)
        return h @ self.backbone.embeddings.weight.t(), new

    # Token-by-token reference, literally ALGORITHMS.md (used by --selftest and --generate).
    @torch.no_grad()
    def step(self, token, state):
        """token: int; state: list of (conv_window [C,K-1], S [H,P,N]) (modified copy returned)."""
        cfg = self.cfg
        E, N, H, P = cfg.d_inner, cfg.d_state, cfg.n_heads, cfg.head_dim
        h = self.backbone.embeddings.weight[token].clone()
        new = []
        for i, lay in enumerate(self.backbone.layers):
            mx = lay.mixer
            conv_win, S = state[i]
            u = rmsnorm(h, lay.norm.weight, cfg.eps)
            z, xBC, dt = torch.split(mx.in_proj.weight @ u, [E, E + 2 * N, H])
            win = torch.cat([conv_win, xBC[:, None]], dim=1)  # C,K (oldest first)
            xBC = F.silu((win * mx.conv1d.weight[:, 0, :]).sum(-1) + mx.conv1d.bias)
            x, Bv, Cv = torch.split(xBC, [E, N, N])
            dt = F.softplus(dt + mx.dt_bias)
            A = -torch.exp(mx.A_log)
            xh = x.view(H, P)
            S = torch.exp(dt * A)[:, None, None] * S + dt[:, None, None] * xh[:, :, None] * Bv[None, None, :]
            y = S @ Cv + mx.D[:, None] * xh
            y = rmsnorm(y.reshape(E) * F.silu(z), mx.norm.weight, cfg.eps)
            h = h + mx.out_proj.weight @ y
            new.append((win[:, 1:], S))
        h = rmsnorm(h, self.backbone.norm_f.weight, cfg.eps)
        return self.backbone.embeddings.weight @ h, new

    def empty_step_state(self):
        cfg = self.cfg
        return [(torch.zeros(cfg.d_inner + 2 * cfg.d_state, cfg.d_conv - 1),
                 torch.zeros(cfg.n_heads, cfg.head_dim, cfg.d_state)) for _ in range(cfg.n_layer)]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# Export / import (HF Mamba-2 layout, hand-written safetensors)
# ---------------------------------------------------------------------------------------------
def hf_config(cfg, training=None):
    c = {
        "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2",
        "hidden_size": cfg.d_model, "state_size": cfg.d_state, "num_heads": cfg.n_heads,
        "head_dim": cfg.head_dim, "n_groups": cfg.n_groups, "expand": cfg.expand,
        "conv_kernel": cfg.d_conv, "num_hidden_layers": cfg.n_layer, "vocab_size": cfg.vocab,
        "layer_norm_epsilon": cfg.eps, "use_bias": False, "use_conv_bias": True,
        "tie_word_embeddings": True, "rms_norm": True, "norm_before_gate": False,
        "chunk_size": cfg.chunk, "residual_in_fp32": True, "time_step_limit": [0.0, 1e30],
        "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
    }
    if training is not None:
        c["training"] = training
    return c


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    header["__metadata__"] = {"format": "pt", **(metadata or {})}
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    atomic_write_bytes(path, len(hj).to_bytes(8, "little") + hj + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        s, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + s:8 + n + e], dtype="<f4").copy()).reshape(info["shape"])
    return out


def export_model(model, out_dir, training=None):
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()  # names already match the HF layout
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd)
    atomic_write_bytes(os.path.join(out_dir, "config.json"),
                       (json.dumps(hf_config(model.cfg, training), indent=2) + "\n").encode())


def load_exported(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    cfg = Cfg(d_model=c["hidden_size"], n_layer=c["num_hidden_layers"], expand=c["expand"],
              head_dim=c["head_dim"], d_state=c["state_size"], d_conv=c["conv_kernel"], chunk=c["chunk_size"])
    model = Mamba2LM(cfg)
    model.load_state_dict(read_safetensors(os.path.join(model_dir, "model.safetensors")))
    return model


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------
@torch.no_grad()
def eval_windows(model, held, n, length):
    """Mean bits/byte over n fixed, evenly spaced held-out windows (each from an empty state)."""
    length = min(length, len(held) - 1)
    starts = np.linspace(0, len(held) - length - 1, n).astype(np.int64)
    tot = 0.0
    for i in range(0, n, 8):
        st = starts[i:i + 8]
        idx = st[:, None] + np.arange(length + 1)[None, :]
        seq = torch.from_numpy(held[idx].astype(np.int64))
        logits, _ = model(seq[:, :-1])
        tot += F.cross_entropy(logits.reshape(-1, 256), seq[:, 1:].reshape(-1), reduction="sum").item()
    return tot / (n * length) / LN2


@torch.no_grad()
def eval_full(model, held, segment=4096, log=None):
    """Whole held-out text as ONE sequence from an empty state; mean NLL of byte t+1 given 0..t
    over all bytes after the first, in bits/byte. Segments carry the exact state."""
    seq = torch.from_numpy(held.astype(np.int64))[None]
    n = seq.shape[1]
    tot, states, t0 = 0.0, None, time.time()
    for s in range(0, n - 1, segment):
        e = min(s + segment, n - 1)
        logits, states = model(seq[:, s:e], states)
        tot += F.cross_entropy(logits[0], seq[0, s + 1:e + 1], reduction="sum").item()
        if log and (s // segment) % 10 == 0:
            log("  full-eval %d/%d bytes, running bpb %.4f (%.0fs)" % (e, n - 1, tot / e / LN2, time.time() - t0))
    return tot / (n - 1) / LN2


# ---------------------------------------------------------------------------------------------
# Self test
# ---------------------------------------------------------------------------------------------
def selftest():
    torch.manual_seed(0)
    ok = True
    torch.set_default_dtype(torch.float64)
    # 1. chunked SSD == sequential recurrence, with and without initial state, T not multiple of L
    b, T, H, P, N = 2, 150, 3, 4, 5
    X, B, C = torch.randn(b, T, H, P), torch.randn(b, T, N), torch.randn(b, T, N)
    A = -torch.rand(b, T, H) * 2
    S0 = torch.randn(b, H, P, N)
    for L in (16, 64):
        for init in (None, S0):
            Y, S = ssd_chunked(X, A, B, C, L, init)
            Sr = torch.zeros(b, H, P, N) if init is None else init.clone()
            Yr = []
            for t in range(T):
                Sr = torch.exp(A[:, t])[..., None, None] * Sr + X[:, t, :, :, None] * B[:, t, None, None, :]
                Yr.append(Sr @ C[:, t, None, :, None].expand(b, H, N, 1))
            Yr = torch.stack(Yr, 1)[..., 0]
            err = max((Y - Yr).abs().max().item(), (S - Sr).abs().max().item())
            print("selftest ssd L=%d init=%s: max abs err %.2e" % (L, init is not None, err))
            ok &= err < 1e-9
    torch.set_default_dtype(torch.float32)
    # 2. whole model (float32): chunked forward == token-by-token ALGORITHMS.md recurrence
    cfg = Cfg(d_model=32, n_layer=2, expand=2, head_dim=16, d_state=8, d_conv=4, chunk=16)
    model = Mamba2LM(cfg)
    with torch.no_grad():  # make the test non-trivial (bigger dt, non-unit norms)
        for lay in model.backbone.layers:
            lay.mixer.dt_bias.add_(2.0)
            lay.mixer.norm.weight.uniform_(0.5, 1.5)
            lay.norm.weight.uniform_(0.5, 1.5)
            lay.mixer.conv1d.bias.normal_()
        model.backbone.embeddings.weight.normal_()
    tok = torch.randint(0, 256, (1, 70))
    with torch.no_grad():
        logits, _ = model(tok)
        st = model.empty_step_state()
        ref = []
        for t in range(tok.shape[1]):
            lg, st = model.step(int(tok[0, t]), st)
            ref.append(lg)
        ref = torch.stack(ref)
        err = (logits[0] - ref).abs().max().item() / ref.abs().max().item()
        print("selftest model chunked vs sequential: rel max err %.2e" % err)
        ok &= err < 1e-5
        # 3. segmented forward with carried state == one forward
        l1, s1 = model(tok[:, :23])
        l2, s2 = model(tok[:, 23:25], s1)
        l3, _ = model(tok[:, 25:], s2)
        err = (torch.cat([l1, l2, l3], 1) - logits).abs().max().item() / logits.abs().max().item()
        print("selftest segmented (23,2,45) with carried state: rel max err %.2e" % err)
        ok &= err < 1e-5
        # 4. causality: changing token t must not change logits before t
        tok2 = tok.clone()
        tok2[0, 40] = (tok2[0, 40] + 1) % 256
        lg2, _ = model(tok2)
        d_before = (lg2[0, :40] - logits[0, :40]).abs().max().item()
        d_at = (lg2[0, 40:] - logits[0, 40:]).abs().max().item()
        print("selftest causality: max change before t=40 %.2e, at/after %.2e" % (d_before, d_at))
        ok &= d_before == 0.0 and d_at > 1e-4
    # 5. conv alone is causal and uses the HF weight order (last tap = current input)
    mx = model.backbone.layers[0].mixer
    x = torch.randn(1, 10, cfg.d_model)
    with torch.no_grad():
        x2 = x.clone()
        x2[0, 6] += 1.0
        E, N = cfg.d_inner, cfg.d_state
        zx = mx.in_proj(x)[..., E:2 * E + 2 * N].transpose(1, 2)
        zx2 = mx.in_proj(x2)[..., E:2 * E + 2 * N].transpose(1, 2)
        c1 = mx.conv1d(zx)[..., :10]  # torch Conv1d with padding K-1, truncated (HF convention)
        c2 = mx.conv1d(zx2)[..., :10]
        caus = (c1 - c2)[..., :6].abs().max().item()
        mine = F.conv1d(F.pad(zx, (cfg.d_conv - 1, 0)), mx.conv1d.weight, mx.conv1d.bias, groups=mx.conv_dim)
        same = (mine - c1).abs().max().item()
        print("selftest conv causal: max change before t=6 %.2e; left-pad conv vs HF Conv1d %.2e" % (caus, same))
        ok &= caus == 0.0 and same < 1e-6
    # 6. safetensors round trip
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        export_model(model, d, {"selftest": True})
        m2 = load_exported(d)
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), m2.state_dict().values()))
        print("selftest export/import round trip:", same)
        ok &= same
    print("SELFTEST", "PASSED" if ok else "FAILED")
    return ok


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def lr_at(step, a, train_time=0.0):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    prog = min(1.0, (step - a.warmup) / max(1, a.max_steps - a.warmup))
    if a.time_budget > 0:
        prog = max(prog, min(1.0, train_time / a.time_budget))
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))


def make_optimizer(model, a):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 else no_decay).append(p)  # no wd on A_log, D, dt_bias, norms, biases
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                              {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.95))


class Batcher:
    """Deterministic batch source (its state is checkpointed)."""

    def __init__(self, data, a, seed):
        self.data, self.B, self.T = data, a.batch, a.seq_len
        self.carry, self.p_reset = bool(a.carry_state), 1.0 / max(1.0, a.carry_mean)
        self.rng = np.random.default_rng(seed)
        self.pos = None  # carry mode: current stream positions

    def next(self):
        n, T = len(self.data), self.T
        if not self.carry:
            st = self.rng.integers(0, n - T - 1, size=self.B)
            reset = np.ones(self.B, dtype=bool)
        else:
            if self.pos is None:
                self.pos = self.rng.integers(0, n - T - 1, size=self.B)
                reset = np.ones(self.B, dtype=bool)
            else:
                self.pos = self.pos + T
                reset = (self.rng.random(self.B) < self.p_reset) | (self.pos + T + 1 > n)
                self.pos = np.where(reset, self.rng.integers(0, n - T - 1, size=self.B), self.pos)
            st = self.pos
        idx = st[:, None] + np.arange(T + 1)[None, :]
        seq = torch.from_numpy(self.data[idx].astype(np.int64))
        return seq[:, :-1], seq[:, 1:], torch.from_numpy(reset)

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "pos": self.pos}

    def load_state_dict(self, d):
        self.rng.bit_generator.state = d["rng"]
        self.pos = d["pos"]


def mask_states(states, reset):
    """Zero the carried states of rows that restart; detach everything."""
    if states is None:
        return None
    keep = (~reset).float()
    return [(cw.detach() * keep[:, None, None], S.detach() * keep[:, None, None, None]) for cw, S in states]


class Trainer:
    def __init__(self, a, train, held):
        self.a, self.train_data, self.held = a, train, held
        self.ckpt = os.path.join(a.out_dir, "ckpt.pt") if a.out_dir else None
        self.stop = False
        if self.ckpt and os.path.exists(self.ckpt):
            ck = torch.load(self.ckpt)
            self.cfg = Cfg(**ck["cfg"])
            self.model = Mamba2LM(self.cfg)
            self.model.load_state_dict(ck["model"])
            self.opt = make_optimizer(self.model, a)
            self.opt.load_state_dict(ck["opt"])
            self.step = ck["step"]
            self.batcher = Batcher(train, a, a.seed)
            self.batcher.load_state_dict(ck["batcher"])
            self.states = ck["states"]
            torch.set_rng_state(ck["torch_rng"])
            np.random.set_state(ck["np_rng"])
            random.setstate(ck["py_rng"])
            self.history = ck.get("history", [])
            if "train_time" in ck:
                self.train_time0 = ck["train_time"]
            else:  # older checkpoint: estimate from the log history
                self.train_time0 = os.path.getmtime(self.ckpt) - self.history[0]["time"] + 30.0
            self.log("resumed from %s at step %d" % (self.ckpt, self.step))
        else:
            random.seed(a.seed)
            np.random.seed(a.seed)
            torch.manual_seed(a.seed)
            self.cfg = Cfg(**{k.replace("-", "_"): getattr(a, k) for k in Cfg.KEYS})
            self.model = Mamba2LM(self.cfg)
            self.opt = make_optimizer(self.model, a)
            self.step = 0
            self.batcher = Batcher(train, a, a.seed)
            self.states = None
            self.history = []
            self.train_time0 = 0.0
        self.t_start = time.time()

    def train_time(self):
        return self.train_time0 + time.time() - self.t_start

    def log(self, msg):
        print(msg, flush=True)

    def training_info(self):
        last = [h for h in self.history if "heldout_bpb_windows" in h]
        full = [h for h in self.history if "heldout_bpb" in h]
        return {"steps": self.step, "tokens_seen": self.step * self.a.batch * self.a.seq_len,
                "corpus": "King James Bible (bible-kjv, `bible -f gen1:1-rev22:21`, reference prefixes "
                          "stripped, one verse per line); held-out (%s split, %d bytes) = data/kjv-heldout.txt"
                          % (self.a.split, len(self.held)),
                "heldout_bpb": full[-1]["heldout_bpb"] if full and full[-1]["step"] == self.step else None,
                "heldout_bpb_windows": last[-1]["heldout_bpb_windows"] if last else None,
                "heldout_bpb_windows_step": last[-1]["step"] if last else None,
                "seed": self.a.seed, "params": n_params(self.model), "train_time_s": round(self.train_time()),
                "command": " ".join(["/usr/bin/python3"] + sys.argv)}

    def save(self):
        if not self.ckpt:
            return
        ck = {"cfg": self.cfg.to_dict(), "model": self.model.state_dict(), "opt": self.opt.state_dict(),
              "step": self.step, "batcher": self.batcher.state_dict(), "states": self.states,
              "torch_rng": torch.get_rng_state(), "np_rng": np.random.get_state(), "py_rng": random.getstate(),
              "history": self.history, "args": vars(self.a), "train_time": self.train_time()}
        tmp = self.ckpt + ".tmp"
        torch.save(ck, tmp)
        os.replace(tmp, self.ckpt)
        export_model(self.model, os.path.join(self.a.out_dir, "export"), self.training_info())
        with open(os.path.join(self.a.out_dir, "history.json.tmp"), "w") as f:
            json.dump(self.history, f)
        os.replace(os.path.join(self.a.out_dir, "history.json.tmp"), os.path.join(self.a.out_dir, "history.json"))

    def train_step(self):
        a = self.a
        x, y, reset = self.batcher.next()
        states = mask_states(self.states, reset) if a.carry_state else None
        for g in self.opt.param_groups:
            g["lr"] = self.lr = lr_at(self.step, a, self.train_time())
        logits, new_states = self.model(x, states)
        loss = F.cross_entropy(logits.reshape(-1, 256), y.reshape(-1))
        if a.teacher:
            # Distillation: the teacher runs the same streams with its own carried state.
            if getattr(self, "teacher", None) is None:
                self.teacher, self.t_states = load_exported(a.teacher).eval(), None
            t_states = mask_states(self.t_states, reset) if (a.carry_state and self.t_states) else None
            with torch.no_grad():
                t_logits, t_new = self.teacher(x, t_states)
            if a.carry_state:
                self.t_states = [(cw.detach(), S.detach()) for cw, S in t_new]
            kl = F.kl_div(F.log_softmax(logits.reshape(-1, 256), -1), F.log_softmax(t_logits.reshape(-1, 256), -1),
                          log_target=True, reduction="batchmean")
            loss = (1.0 - a.kd_weight) * loss + a.kd_weight * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(self.model.parameters(), a.clip)
        self.opt.step()
        if a.carry_state:
            self.states = [(cw.detach(), S.detach()) for cw, S in new_states]
        self.step += 1
        return loss.item() / LN2, gn.item()

    def run(self):
        a = self.a

        def on_signal(signum, frame):
            self.log("signal %d: will checkpoint and exit after this step" % signum)
            self.stop = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.log("model: %s params=%d  heads=%d d_inner=%d  train=%d bytes heldout=%d bytes  threads=%d"
                 % (json.dumps(self.cfg.to_dict()), n_params(self.model), self.cfg.n_heads, self.cfg.d_inner,
                    len(self.train_data), len(self.held), torch.get_num_threads()))
        t0, s0, acc, accn = time.time(), self.step, 0.0, 0
        def budget_done():
            return a.time_budget > 0 and self.train_time() >= a.time_budget

        while self.step < a.max_steps and not self.stop and not budget_done():
            bpb, gn = self.train_step()
            acc += bpb
            accn += 1
            if self.step % a.log_every == 0:
                dt = time.time() - t0
                self.log("step %d train_bpb %.4f lr %.2e gnorm %.2f steps/s %.3f elapsed %.0fs"
                         % (self.step, acc / accn, self.lr, gn, (self.step - s0) / dt, self.train_time()))
                self.history.append({"step": self.step, "train_bpb": acc / accn, "time": time.time()})
                acc, accn = 0.0, 0
            finished = self.step == a.max_steps or budget_done()
            if self.step % a.eval_every == 0 or finished:
                te = time.time()
                self.model.eval()
                ev = eval_windows(self.model, self.held, a.eval_windows, a.eval_len)
                self.model.train()
                self.history.append({"step": self.step, "heldout_bpb_windows": ev, "time": time.time()})
                self.log("eval step %d heldout_bpb_windows %.4f (%d x %d bytes, %.1fs)"
                         % (self.step, ev, a.eval_windows, a.eval_len, time.time() - te))
            if self.step % a.ckpt_every == 0 and not self.stop and not finished:
                self.save()
        if (self.step >= a.max_steps or budget_done()) and a.final_full_eval and not self.stop:
            self.model.eval()
            full = eval_full(self.model, self.held, a.eval_segment, self.log)
            self.history.append({"step": self.step, "heldout_bpb": full, "time": time.time()})
            self.log("final step %d heldout_bpb_full %.4f" % (self.step, full))
        self.save()
        self.log("checkpoint saved at step %d -> %s (export in %s/export)" % (self.step, self.ckpt, a.out_dir))


def load_for_inference(a):
    if a.model:
        return load_exported(a.model)
    ck = torch.load(os.path.join(a.out_dir, "ckpt.pt"))
    model = Mamba2LM(Cfg(**ck["cfg"]))
    model.load_state_dict(ck["model"])
    return model


def main():
    a = ARGS
    if a.selftest:
        sys.exit(0 if selftest() else 1)
    if a.generate is not None:
        model = load_for_inference(a).eval()
        st = model.empty_step_state()
        prompt = a.generate.encode("utf-8")
        out = bytearray(prompt)
        logits = None
        for b in prompt:
            logits, st = model.step(b, st)
        for _ in range(a.max_tokens):
            nxt = int(torch.argmax(logits))
            out.append(nxt)
            logits, st = model.step(nxt, st)
        sys.stdout.write(out.decode("utf-8", "replace") + "\n")
        return
    train, held = load_corpus(a.corpus, a.heldout_frac, a.heldout_out, a.split)
    if a.eval_only:
        model = load_for_inference(a).eval()
        t0 = time.time()
        bpb = eval_full(model, held, a.eval_segment, lambda m: print(m, flush=True))
        print("heldout_bpb_full %.6f  (%d bytes, %d predictions, %.1fs)" % (bpb, len(held), len(held) - 1, time.time() - t0))
        return
    if a.export:
        ck = torch.load(os.path.join(a.out_dir, "ckpt.pt"))
        model = Mamba2LM(Cfg(**ck["cfg"]))
        model.load_state_dict(ck["model"])
        hist = ck.get("history", [])
        last = [h for h in hist if "heldout_bpb_windows" in h]
        full = [h for h in hist if "heldout_bpb" in h]
        export_model(model, a.export, {"steps": ck["step"], "seed": ck["args"]["seed"],
                                       "heldout_bpb": full[-1]["heldout_bpb"] if full else None,
                                       "heldout_bpb_windows": last[-1]["heldout_bpb_windows"] if last else None,
                                       "params": n_params(model), "corpus": "King James Bible, data/kjv-heldout.txt held out",
                                       "command": " ".join(["/usr/bin/python3"] + sys.argv)})
        print("exported step %d to %s" % (ck["step"], a.export))
        return
    if a.bench:
        a.out_dir = None
        tr = Trainer(a, train, held)
        print("params", n_params(tr.model), flush=True)
        tr.train_step()
        t0 = time.time()
        for _ in range(a.bench):
            bpb, _ = tr.train_step()
        dt = time.time() - t0
        print("bench: %.3f s/step  %.3f steps/s  %.0f bytes/s  last train_bpb %.3f"
              % (dt / a.bench, a.bench / dt, a.bench * a.batch * a.seq_len / dt, bpb), flush=True)
        return
    if not a.out_dir:
        sys.exit("--out-dir is required for training")
    os.makedirs(a.out_dir, exist_ok=True)
    Trainer(a, train, held).run()


if __name__ == "__main__":
    main()
