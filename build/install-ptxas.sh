#!/usr/bin/env bash
# Installs NVIDIA's PTX assembler and SASS tools (ptxas, cuobjdump, nvdisasm) without a CUDA toolkit, for the tests that
# assemble the kernels' PTX as the driver would and read the machine code (Tests/MoCGen.Cuda.Tests/PtxasTests.cs).
# They come from Debian's nvidia-cuda-toolkit package (non-free): the package is downloaded, not installed (its
# dependencies are gigabytes of libraries these three programs do not need), with a private apt configuration that
# adds the non-free component of the machine's own Debian sources, so the system's apt setup is left as it was.
# The programs go to $MOCGEN_PTXAS_DIR (default /opt/mocgen-ptxas/bin) and are linked into /usr/local/bin.
set -euo pipefail

dest=${MOCGEN_PTXAS_DIR:-/opt/mocgen-ptxas/bin}
tools=(ptxas cuobjdump nvdisasm)
sudo=(); [[ $(id -u) -eq 0 ]] || sudo=(sudo)

link() {
  for t in "${tools[@]}"; do "${sudo[@]}" ln -sf "$dest/$t" "/usr/local/bin/$t"; done
  "$dest/ptxas" --version | tail -1
}

if [[ -x $dest/ptxas && -x $dest/cuobjdump && -x $dest/nvdisasm ]]; then link; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/sources"

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
(cd "$work" && "${apt[@]}" download nvidia-cuda-toolkit > "$work/download.log" 2>&1) || { cat "$work/download.log" >&2; exit 1; }

deb=("$work"/nvidia-cuda-toolkit_*.deb)
dpkg-deb -x "${deb[0]}" "$work/x"
"${sudo[@]}" install -d "$dest"
for t in "${tools[@]}"; do "${sudo[@]}" install -m 755 "$work/x/usr/bin/$t" "$dest/$t"; done
link
