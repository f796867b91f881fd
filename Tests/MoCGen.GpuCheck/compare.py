#!/usr/bin/env python3
"""Puts mocgen-gpucheck's benchmark lines (ours.jsonl) beside torch_ffn.py's (torch.jsonl) and checks the targets.

Speed-up = PyTorch dense time / our time on the same GPU in the same run. Targets:
  decode (d=4096, d_ff=11008, K=1376, batch 1, bf16): >= 2x PyTorch dense bf16, and >= 75% of the GPU's peak DRAM
    bandwidth on the bytes it must read (all of W_g, the K selected rows of W_u and W_d^T, x);
  training FFN (4096 tokens, forward + backward, fp32): >= 1.2x PyTorch dense fp32 (PyTorch bf16 shown for reference).
A missed target is reported, not an error: the exit status is 0 unless a file is missing or a row is absent (2).
"""
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def find(rows, suite, dtype=None):
    for r in rows:
        if r.get("suite") == suite and (dtype is None or r.get("dtype") == dtype):
            return r
    return None


def main():
    ours_path = sys.argv[1] if len(sys.argv) > 1 else "ours.jsonl"
    torch_path = sys.argv[2] if len(sys.argv) > 2 else "torch.jsonl"
    try:
        ours, torch = load(ours_path), load(torch_path)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read the results: {e}")
        return 2

    for tag, rows in (("ours", ours), ("torch", torch)):
        dev = find(rows, "device")
        if dev:
            print(f"{tag:6} device: " + ", ".join(f"{k}={v}" for k, v in dev.items() if k not in ("suite", "implementation")))
    print()

    missing = []
    lines = []
    verdicts = []

    def row(label, a, b, target=None, note=""):
        if a is None or b is None:
            missing.append(label)
            lines.append(f"{label:34} {'-':>12} {'-':>14} {'-':>9}  missing row")
            return None
        speedup = b["median_us"] / a["median_us"]
        verdict = ""
        if target is not None:
            ok = speedup >= target
            verdict = f">= {target:g}x: {'met' if ok else 'MISSED'}"
            verdicts.append((label, ok))
        lines.append(f"{label:34} {a['median_us']:12.1f} {b['median_us']:14.1f} {speedup:8.2f}x  {verdict}{note}")
        return speedup

    print(f"{'case':34} {'ours (us)':>12} {'PyTorch (us)':>14} {'speed-up':>9}  target")
    dec16 = find(ours, "ffn-decode", "bf16")
    row("decode bf16, batch 1", dec16, find(torch, "ffn-decode", "bf16"), target=2.0)
    row("decode fp32, batch 1", find(ours, "ffn-decode", "fp32"), find(torch, "ffn-decode", "fp32"), note="(no target)")
    train = find(ours, "ffn-train", "fp32")
    row("train fp32 vs PyTorch fp32", train, find(torch, "ffn-train", "fp32"), target=1.2)
    row("train fp32 vs PyTorch bf16", train, find(torch, "ffn-train", "bf16"), note="(for reference)")
    print("\n".join(lines))
    print()

    bandwidth = find(torch, "bandwidth")
    if bandwidth:
        print(f"memory, measured with PyTorch: read {bandwidth['read_gb_per_s']:.0f} GB/s (a 1 GiB sum), "
              f"copy {bandwidth['copy_gb_per_s']:.0f} GB/s (1 GiB read + 1 GiB written)")
    for r in (dec16, find(ours, "ffn-decode", "fp32")):
        if r is None:
            continue
        frac = r.get("fraction_of_peak")
        peak = r.get("peak_gb_per_s")
        line = f"decode {r['dtype']}: reads {r['bytes'] / 1e6:.1f} MB in {r['median_us']:.1f} us = {r['gb_per_s']:.0f} GB/s"
        if frac is not None and peak:
            line += f" = {100 * frac:.1f}% of peak {peak:.0f} GB/s"
            if r is dec16:
                ok = frac >= 0.75
                line += f"; target >= 75%: {'met' if ok else 'MISSED'}"
                verdicts.append(("decode bf16 bandwidth", ok))
        else:
            line += " (peak bandwidth unknown: the driver did not report the memory clock or bus width)"
        if bandwidth and bandwidth.get("read_gb_per_s"):
            line += f" ({100 * r['gb_per_s'] / bandwidth['read_gb_per_s']:.1f}% of the {bandwidth['read_gb_per_s']:.0f} GB/s measured for a PyTorch sum of 1 GiB)"
        print(line)
    if train is not None:
        print(f"train fp32: forward {train.get('forward_us', float('nan')):.0f} us + backward {train.get('backward_us', float('nan')):.0f} us per step of {train['tokens']} tokens")
    for r in (find(ours, "ffn-decode-stages", "bf16"), find(ours, "ffn-decode-stages", "fp32"), find(ours, "ffn-train-stages")):
        if r is not None:
            parts = [f"{k[:-3]} {v:.1f}" for k, v in r.items() if k.endswith("_us") and v is not None]
            extra = [f"{k} {v:.0f}" for k, v in r.items() if (k.endswith("_gb_per_s") or k.endswith("_tflops")) and v is not None]
            print(f"{r['suite']} {r.get('dtype', '')}: " + ", ".join(parts) + " us per call (events around each kernel)"
                  + (f"; {', '.join(extra)}" if extra else ""))
    print()

    for label, ok in verdicts:
        print(f"target {label}: {'met' if ok else 'MISSED'}")
    if missing:
        print("missing rows: " + ", ".join(missing))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
