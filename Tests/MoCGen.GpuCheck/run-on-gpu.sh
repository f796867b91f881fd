#!/usr/bin/env bash
# On the GPU machine, from the folder prepare.sh filled: checks every generated CUDA kernel against the CPU reference,
# decodes with the tinymoc binary on the GPU and on the CPU, times ours and PyTorch dense on the same GPU, profiles each
# kernel with Nsight Compute where it is installed, and prints them side by side. Logs: check.log, tinymoc-cpu.txt,
# tinymoc-cuda.txt, ours.jsonl, torch.jsonl, ncu.csv / ncu.txt, ptxas.log, compare.txt. Exit status: 0 when every check passed (a missed speed target is reported, not an error), 1 when a check
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
echo "== per kernel (Nsight Compute): the 3rd launch of every mocgen kernel in a short benchmark run"
# Time, DRAM bytes and rate, registers and achieved occupancy of each kernel; not timed here (ncu replays kernels),
# it says where the time of the figures above goes. Skipped without ncu; a failure (often a counter permission) is
# reported from ncu.err, not an error of this script.
if command -v ncu > /dev/null 2>&1; then
    timeout 900 ncu --clock-control none --kernel-id ::regex:mocgen_:3 --csv --print-units base \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__registers_per_thread,sm__warps_active.avg.pct_of_peak_sustained_active \
        ./mocgen-gpucheck --bench --repeats 3 > ncu.csv 2> ncu.err
    python3 ncu_table.py ncu.csv > ncu.txt || tail -5 ncu.err
    cat ncu.txt
else
    echo "ncu not on PATH: skipped"
fi

echo
echo "== registers and spills as this machine's ptxas assembles the kernels (the driver's JIT does the same)"
ptxas_bin=$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
if [ -x "$ptxas_bin" ] && [ -n "$cc" ] && [ -d ptx ]; then
    for f in ptx/*.ptx; do "$ptxas_bin" -v -arch="sm_$cc" "$f" -o /dev/null 2>&1; done > ptxas.log
    grep -E "Compiling entry|Used|spill" ptxas.log | sed -E "s/ptxas info *: //" | paste - - - | grep Llama7B |
        sed -E "s/Compiling entry function '([a-zA-Z0-9_]+)'.*\t(.*)\t(.*)/\1: \3, \2/"
else
    echo "ptxas, the compute capability or ptx/ missing: skipped"
fi

echo
echo "== side by side"
python3 compare.py ours.jsonl torch.jsonl | tee compare.txt
[ "${PIPESTATUS[0]}" -ne 0 ] && [ "$status" -eq 0 ] && status=2

echo
if [ "$status" -eq 1 ]; then echo "run-on-gpu.sh: a CHECK FAILED (see check.log)."; else echo "run-on-gpu.sh: done (status $status)."; fi
exit "$status"
