#!/usr/bin/env bash
# Makes TorchSharp's libLibTorchSharp.so load where the system libstdc++ is older than GCC 13
# (Debian 12: GLIBCXX up to 3.4.30). The library asks for GLIBCXX_3.4.32 for one symbol only,
# std::ios_base_library_init(); without it dlopen fails and TorchSharp reports the misleading
# "doesn't contain a reference to libtorch-cpu-linux-x64".
# Usage: patch-libtorchsharp.sh path/to/libLibTorchSharp.so   (run on an output copy, never the NuGet cache)
# Idempotent: it acts only while `ldd` still reports the missing version, i.e. on an unpatched file
# on an old system; on newer systems and on an already patched file it does nothing.
set -euo pipefail

so=$1
dir=$(cd "$(dirname "$so")" && pwd)
shim=libglibcxx-3.4.32-shim.so   # found through the library's RUNPATH ($ORIGIN)
here=$(cd "$(dirname "$0")" && pwd)

# ldd shows what the loader will see. A weak need that is missing is only a warning there
# ("weak version ... not found"); a strict one (": version ... not found") is the failure we fix.
needs_fix() { ldd "$1" 2>&1 | grep -q ": version \`GLIBCXX_3.4.32' not found (required by [^)]*$(basename "$1"))"; }
needs_fix "$so" || exit 0

for tool in patchelf g++ readelf; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error TORCHSHARP01: $so needs GLIBCXX_3.4.32, which this system's libstdc++ lacks; patching it needs '$tool', which is missing. Run: apt-get install -y patchelf g++" >&2
    exit 1
  fi
done

g++ -shared -fPIC -O2 -o "$dir/$shim.tmp" "$here/glibcxx-shim.cpp"
mv -f "$dir/$shim.tmp" "$dir/$shim"

# Patch a private copy and move it into place: never write through a hard link into the NuGet
# cache, and never leave a half-written file for a concurrent loader.
tmp="$so.patching"
cp "$so" "$tmp"
patchelf --clear-symbol-version _ZSt21ios_base_library_initv --add-needed "$shim" "$tmp"

# The version need itself must also stop being fatal: set VER_FLG_WEAK (0x2) in the vna_flags of
# the GLIBCXX_3.4.32 Vernaux entry. patchelf may move sections, so read offsets after it ran.
# readelf -V prints the section's file offset and each entry's offset within it; an Elf64_Vernaux is
# {u32 hash; u16 flags; u16 other; u32 name; u32 next}, little-endian, so flags' low byte is at +4.
section=$(readelf -V -W "$tmp" | awk '/\.gnu\.version_r/ {f=1} f && /Offset:/ {for (i=1;i<NF;i++) if ($i=="Offset:") {print $(i+1); exit}}')
entry=$(readelf -V -W "$tmp" | awk '/\.gnu\.version_r/ {f=1} f && /Name: GLIBCXX_3\.4\.32 / {sub(":", "", $1); print $1; exit}')
if [[ -z $section || -z $entry ]]; then
  echo "error TORCHSHARP02: could not find the GLIBCXX_3.4.32 version need in $so (readelf -V); the TorchSharp package layout changed?" >&2
  rm -f "$tmp"; exit 1
fi
printf '\002' | dd of="$tmp" bs=1 seek=$((section + entry + 4)) conv=notrunc status=none

if needs_fix "$tmp"; then
  echo "error TORCHSHARP03: patching $so did not remove its GLIBCXX_3.4.32 need; see: ldd -v $tmp" >&2
  exit 1
fi
mv -f "$tmp" "$so"
echo "patch-libtorchsharp: patched $so for this system's older libstdc++ (shim: $dir/$shim)"
