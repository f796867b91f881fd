#!/usr/bin/env bash
# Run here (with the .NET SDK, clang-14 and zlib): publishes mocgen-gpucheck as one NativeAOT binary carrying its PTX,
# and puts it beside torch_ffn.py, compare.py and run-on-gpu.sh in one folder to copy to a GPU machine (which has the
# NVIDIA driver and PyTorch but no .NET SDK), with the tinymoc inference binary and a checkpoint for it. Usage: bash Tests/MoCGen.GpuCheck/prepare.sh [output folder, default gpucheck/]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$repo/gpucheck}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

dotnet publish "$here/MoCGen.GpuCheck.csproj" -c Release -r linux-x64 -o "$out"
cp "$here/torch_ffn.py" "$here/compare.py" "$here/ncu_table.py" "$here/run-on-gpu.sh" "$out/"
chmod +x "$out/run-on-gpu.sh" "$out/mocgen-gpucheck"
find "$out" \( -name '*.dbg' -o -name '*.pdb' -o -name '*.xml' \) -delete

# The kernels travel as PTX resources: without clang or nvcc the build only warns, so refuse a binary without them.
if ! grep -q "mocgen_Llama7BFfnBf16_ffn_decode_up_down" "$out/mocgen-gpucheck"; then
    echo "prepare.sh: $out/mocgen-gpucheck carries no PTX (was clang-14 or nvcc found?); see the build warnings above." >&2
    exit 1
fi

# The same PTX as files, for the GPU machine's own ptxas to report registers and spills (run-on-gpu.sh).
rm -rf "$out/ptx"
dotnet run -c Release --project "$repo/Compiler/MoCGen.Cli" -- ptx "$here/Models.cs" --out "$out/ptx" > /dev/null

# tinymoc, the example inference binary (examples/TinyMoC.Infer: NativeAOT, PTX inside), and a TinyMoC checkpoint
# from a short training run, so run-on-gpu.sh can decode with --device cuda and compare with --device cpu.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dotnet publish "$repo/examples/TinyMoC.Infer" -c Release -r linux-x64 -o "$work/infer"
cp "$work/infer/tinymoc" "$out/tinymoc"
dotnet run -c Release --project "$repo/examples/TinyMoC" -- --steps 200 --sample 0 --out "$work/run"
cp "$work/run/tinymoc/checkpoint.safetensors" "$out/tinymoc.safetensors"

# Before the folder travels: the same checks here on the CPU driver (`mocgen cuda-cpu`, a libcuda.so.1 that runs the
# kernels on the CPU), and tinymoc's CUDA path against its CPU path, so that nothing the CPU can show fails on the GPU.
driver="$work/cpu-driver"
dotnet run -c Release --project "$repo/Compiler/MoCGen.Cli" -- cuda-cpu "$here/Models.cs" "$repo/examples/TinyMoC/TinyMoC.cs" --out "$driver" > /dev/null
if ! LD_LIBRARY_PATH="$driver" "$out/mocgen-gpucheck" --check > "$work/cpu-check.log" 2>&1; then
    cat "$work/cpu-check.log"
    echo "prepare.sh: mocgen-gpucheck --check failed on the CPU driver (above); fix that before a GPU run." >&2
    exit 1
fi
tail -n 1 "$work/cpu-check.log" | sed 's/^/on the CPU driver: /'
if ! LD_LIBRARY_PATH="$driver" "$out/mocgen-gpucheck" --bench --smoke > "$work/cpu-bench.log" 2>&1; then
    cat "$work/cpu-bench.log"
    echo "prepare.sh: mocgen-gpucheck --bench --smoke failed on the CPU driver (above)." >&2
    exit 1
fi
echo "on the CPU driver: the benchmark's code ran (--bench --smoke)"
targs=(--checkpoint "$out/tinymoc.safetensors" --prompt "Gets or sets the " --max-tokens 24 --temperature 0)
"$out/tinymoc" "${targs[@]}" --device cpu > "$work/tinymoc-cpu.txt"
LD_LIBRARY_PATH="$driver" "$out/tinymoc" "${targs[@]}" --device cuda > "$work/tinymoc-cuda.txt"
if ! cmp -s "$work/tinymoc-cpu.txt" "$work/tinymoc-cuda.txt"; then
    echo "prepare.sh: tinymoc --device cuda on the CPU driver decoded other text than --device cpu:" >&2
    cat "$work/tinymoc-cpu.txt" "$work/tinymoc-cuda.txt" >&2
    exit 1
fi
echo "on the CPU driver: tinymoc --device cuda decodes what --device cpu does"

bytes=$(du -sb "$out" | cut -f1)
echo
ls -l "$out"
echo "Total: $((bytes / 1024 / 1024)) MiB ($bytes bytes; the GPU machine takes at most 64 MiB)."
if [ "$bytes" -gt $((64 * 1024 * 1024)) ]; then
    echo "prepare.sh: the folder is over 64 MiB." >&2
    exit 1
fi
echo "On the GPU machine, from the folder holding these files: bash run-on-gpu.sh"
