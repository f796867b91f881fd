#!/usr/bin/env python3
"""The peer side of the GPU check: PyTorch dense SwiGLU feed-forward blocks on the same GPU as MoCGen's kernels.

Prints one JSON object per line (the harness prints its own in the same format; run-on-gpu.sh puts them side by side):
  {"suite": "ffn-decode", "implementation": "pytorch dense", "dtype": "bf16", "median_us": ..., "gb_per_s": ...}
Timing: CUDA events around a loop of `inner` calls, median of `repeats` loops, after warm-up.
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def timed(fn, inner, repeats):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / inner)  # microseconds per call
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--intermediate", type=int, default=11008)
    parser.add_argument("--train-tokens", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    d, f = args.hidden, args.intermediate
    torch.manual_seed(0)
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are true fp32, like MoCGen's fp32 kernels
    props = torch.cuda.get_device_properties(dev)
    print(json.dumps({"suite": "device", "name": props.name, "torch": torch.__version__, "sm": f"{props.major}.{props.minor}",
                      "multiprocessors": props.multi_processor_count}), flush=True)

    # What this GPU's memory delivers to a plain kernel: a read of 1 GiB (a sum) and a copy of 1 GiB (read + write).
    # The decode target is against the spec peak; these say how far from it a simple streaming kernel gets.
    src = torch.randn(1 << 29, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    nbytes = src.numel() * src.element_size()
    read_us = timed(lambda: src.sum(dtype=torch.float32), inner=10, repeats=args.repeats)
    copy_us = timed(lambda: dst.copy_(src), inner=10, repeats=args.repeats)
    print(json.dumps({"suite": "bandwidth", "implementation": "pytorch", "bytes": nbytes, "read_us": read_us,
                      "read_gb_per_s": nbytes / read_us / 1e3, "copy_us": copy_us, "copy_gb_per_s": 2 * nbytes / copy_us / 1e3}), flush=True)
    del src, dst

    # Decode: one token, bf16 weights. Bytes that must be read: all three matrices.
    for dtype, tag, size in ((torch.bfloat16, "bf16", 2), (torch.float32, "fp32", 4)):
        wg = torch.randn(f, d, device=dev, dtype=dtype) * 0.02
        wu = torch.randn(f, d, device=dev, dtype=dtype) * 0.02
        wd = torch.randn(d, f, device=dev, dtype=dtype) * 0.02
        x = torch.randn(1, d, device=dev, dtype=dtype)
        with torch.no_grad():
            us = timed(lambda: F.linear(F.silu(F.linear(x, wg)) * F.linear(x, wu), wd), inner=50, repeats=args.repeats)
        moved = 3 * d * f * size
        print(json.dumps({"suite": "ffn-decode", "implementation": "pytorch dense", "dtype": tag, "tokens": 1, "hidden": d,
                          "intermediate": f, "median_us": us, "bytes": moved, "gb_per_s": moved / us / 1e3}), flush=True)
        del wg, wu, wd, x

    # Training: forward + backward of a dense SwiGLU block over train-tokens tokens (weight and input gradients).
    n = args.train_tokens
    for dtype, tag in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        wg = (torch.randn(f, d, device=dev, dtype=dtype) * 0.02).requires_grad_()
        wu = (torch.randn(f, d, device=dev, dtype=dtype) * 0.02).requires_grad_()
        wd = (torch.randn(d, f, device=dev, dtype=dtype) * 0.02).requires_grad_()
        x = torch.randn(n, d, device=dev, dtype=dtype).requires_grad_()
        gy = torch.randn(n, d, device=dev, dtype=dtype)

        def step():
            y = F.linear(F.silu(F.linear(x, wg)) * F.linear(x, wu), wd)
            y.backward(gy)

        us = timed(step, inner=3, repeats=max(5, args.repeats // 2))
        flops = 9 * 2 * n * d * f  # three products forward, six backward (input and weight gradients), 2 n d f each
        print(json.dumps({"suite": "ffn-train", "implementation": "pytorch dense", "dtype": tag, "tokens": n, "hidden": d,
                          "intermediate": f, "median_us": us, "tflops": flops / us / 1e6}), flush=True)
        del wg, wu, wd, x, gy


if __name__ == "__main__":
    main()
