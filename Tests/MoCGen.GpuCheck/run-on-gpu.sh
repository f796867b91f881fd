#!/usr/bin/env bash
# On the GPU machine, from the folder prepare.sh filled: checks every generated CUDA kernel against the CPU reference,
# decodes with the tinymoc binary on the GPU and on the CPU, times ours and PyTorch dense on the same GPU, and prints
# them side by side. Logs: check.log, tinymoc-cpu.txt, tinymoc-cuda.txt, ours.jsonl, torch.jsonl, compare.txt. Exit status: 0 when every check passed (a missed speed target is reported, not an error), 1 when a check
# failed, 3 without an NVIDIA driver or GPU, 2 when a step could not run.
set -u
cd "$(dirname "$0")"
export PYTHONUNBUFFERED=1

# The binary is NativeAOT, built on Debian 12: it needs glibc 2.34 or newer (Ubuntu 22.04+, RHEL 9+) and nothing else.
if ! ./mocgen-gpucheck --help > /dev/null; then
    echo "run-on-gpu.sh: ./mocgen-gpucheck does not start here (see the loader's message above)."
    exit 2
fi

status=0
echo "== checks: every generated CUDA kernel against the CPU reference"
./mocgen-gpucheck --check 2>&1 | tee check.log
code=${PIPESTATUS[0]}
if [ "$code" -eq 3 ]; then
    echo "run-on-gpu.sh: no NVIDIA driver or GPU here (see above)."
    exit 3
fi
[ "$code" -ne 0 ] && status=1

echo
echo "== tinymoc (the published inference binary): greedy decoding with --device cuda against --device cpu"
if [ -x ./tinymoc ] && [ -f tinymoc.safetensors ]; then
    targs=(--checkpoint tinymoc.safetensors --prompt "Gets or sets the " --max-tokens 200 --temperature 0 --stats)
    ./tinymoc "${targs[@]}" --device cpu > tinymoc-cpu.txt 2>&1
    ccpu=$?
    ./tinymoc "${targs[@]}" --device cuda > tinymoc-cuda.txt 2>&1
    ccuda=$?
    echo "-- cpu (exit $ccpu):"; cat tinymoc-cpu.txt
    echo "-- cuda (exit $ccuda):"; cat tinymoc-cuda.txt
    if [ "$ccpu" -ne 0 ] || [ "$ccuda" -ne 0 ]; then
        echo "tinymoc: FAILED (exit codes cpu $ccpu, cuda $ccuda)"
        status=1
    else
        # The texts without the --stats line: greedy decoding may part where two logits nearly tie (the CUDA kernels
        # use approximate exp and division), so a difference is reported with where it starts, not failed.
        python3 - <<'PY'
a = [l for l in open("tinymoc-cpu.txt", encoding="utf-8", errors="replace").read().splitlines() if not l.startswith("{")]
b = [l for l in open("tinymoc-cuda.txt", encoding="utf-8", errors="replace").read().splitlines() if not l.startswith("{")]
a, b = "\n".join(a), "\n".join(b)
same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print("tinymoc: cuda text " + ("equals the cpu text" if a == b else f"matches the cpu text for its first {same} of {len(a)} characters"))
PY
    fi
else
    echo "tinymoc or tinymoc.safetensors missing: rerun prepare.sh"
    status=2
fi

echo
echo "== benchmark: mocgen (CUDA events)"
if ! ./mocgen-gpucheck --bench --out ours.jsonl; then
    echo "run-on-gpu.sh: the mocgen benchmark failed."
    [ "$status" -eq 0 ] && status=2
fi

echo
echo "== benchmark: PyTorch dense (torch_ffn.py)"
if ! python3 torch_ffn.py > torch.jsonl; then
    echo "run-on-gpu.sh: torch_ffn.py failed."
    [ "$status" -eq 0 ] && status=2
fi
cat torch.jsonl

echo
echo "== side by side"
python3 compare.py ours.jsonl torch.jsonl | tee compare.txt
[ "${PIPESTATUS[0]}" -ne 0 ] && [ "$status" -eq 0 ] && status=2

echo
if [ "$status" -eq 1 ]; then echo "run-on-gpu.sh: a CHECK FAILED (see check.log)."; else echo "run-on-gpu.sh: done (status $status)."; fi
exit "$status"
