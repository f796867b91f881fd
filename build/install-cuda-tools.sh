#!/usr/bin/env bash
# Installs NVIDIA's CUDA tools that the machine-code tests use, without a CUDA toolkit installation:
#   - ptxas, cuobjdump and nvdisasm into $MOCGEN_CUDA_TOOLS/bin (default /opt/mocgen-cuda/bin), linked into
#     /usr/local/bin: ptxas assembles the kernels' PTX as the driver would, cuobjdump shows the machine code
#     (Tests/MoCGen.Cuda.Tests/PtxasTests.cs, `mocgen ptx --assemble`);
#   - nvcc 11.8 with its headers into $MOCGEN_CUDA_TOOLS/nvcc-11.8, reached through the wrapper
#     $MOCGEN_CUDA_TOOLS/nvcc-11.8/nvcc and deliberately not put on PATH, so that everything else keeps compiling
#     with clang (Tests/MoCGen.Cuda.Tests/NvccTests.cs compiles every kernel with it).
# They come from Debian's non-free packages nvidia-cuda-toolkit, nvidia-cuda-dev (only its headers are unpacked) and
# libnvvm4, which are downloaded, not installed (their dependencies are gigabytes of libraries none of this needs),
# through a private apt configuration that adds the non-free component of the machine's own Debian sources; the
# system's apt setup is left as it was.
set -euo pipefail

root=${MOCGEN_CUDA_TOOLS:-/opt/mocgen-cuda}
tools=(ptxas cuobjdump nvdisasm)
nvcc_dir=$root/nvcc-11.8
sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)

have_tools() { for t in "${tools[@]}"; do [[ -x $root/bin/$t ]] || return 1; done; }
if have_tools && [[ -x $nvcc_dir/nvcc ]]; then
  for t in "${tools[@]}"; do "${sudo[@]}" ln -sf "$root/bin/$t" "/usr/local/bin/$t"; done
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/sources" "$work/x"

# The machine's Debian sources, with non-free as their only component (deb822 .sources files and one-line .list files).
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  sed -E 's/^Components:.*/Components: non-free/' "$f" > "$work/sources/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [[ -f $f ]] || continue
  sed -nE 's/^(deb(\s+\[[^]]*\])?\s+\S+\s+\S+)\s+.*$/\1 non-free/p' "$f" > "$work/sources/$(basename "$f" .list).list"
done
shopt -u nullglob

apt=(apt-get -q -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/sources"
     -o "Dir::State::Lists=$work/lists" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
"${apt[@]}" update > "$work/update.log" 2>&1 || { cat "$work/update.log" >&2; exit 1; }
(cd "$work" && "${apt[@]}" download nvidia-cuda-toolkit nvidia-cuda-dev libnvvm4 > "$work/download.log" 2>&1) ||
  { cat "$work/download.log" >&2; exit 1; }

dpkg-deb -x "$work"/nvidia-cuda-toolkit_*.deb "$work/x"
dpkg-deb -x "$work"/libnvvm4_*.deb "$work/x"
dpkg-deb --fsys-tarfile "$work"/nvidia-cuda-dev_*.deb | tar -x -C "$work/x" ./usr/include

"${sudo[@]}" install -d "$root/bin" "$nvcc_dir"
for t in "${tools[@]}"; do
  "${sudo[@]}" install -m 755 "$work/x/usr/bin/$t" "$root/bin/$t"
  "${sudo[@]}" ln -sf "$root/bin/$t" "/usr/local/bin/$t"
done

# nvcc: the package's tree as it is, with an nvcc.profile that points into it instead of /usr.
rm -f "$work/x/usr/lib/nvidia-cuda-toolkit/bin/nvcc.profile"
"${sudo[@]}" cp -a "$work/x/usr" "$nvcc_dir/"
bin=$nvcc_dir/usr/lib/nvidia-cuda-toolkit/bin
"${sudo[@]}" tee "$bin/nvcc.profile" > /dev/null <<PROFILE
NVVMIR_LIBRARY_DIR = $nvcc_dir/usr/lib/nvidia-cuda-toolkit/libdevice
PATH += $bin:$nvcc_dir/usr/bin:
INCLUDES += "-I$nvcc_dir/usr/include" \$(_SPACE_)
LIBRARIES =+ \$(_SPACE_) -L$nvcc_dir/usr/lib/x86_64-linux-gnu
PROFILE
# nvcc 11.8 accepts host compilers up to g++ 11; it only preprocesses with it when it makes PTX, so the system's newer
# g++ does (named by path: the package's own g++ script, first on nvcc's PATH, looks for g++ 11 and stops).
"${sudo[@]}" tee "$nvcc_dir/nvcc" > /dev/null <<WRAPPER
#!/bin/sh
LD_LIBRARY_PATH=$nvcc_dir/usr/lib/x86_64-linux-gnu exec $bin/nvcc -ccbin "\$(command -v g++)" -allow-unsupported-compiler "\$@"
WRAPPER
"${sudo[@]}" chmod 755 "$nvcc_dir/nvcc"
"$root/bin/ptxas" --version | tail -1
"$nvcc_dir/nvcc" --version | tail -1
