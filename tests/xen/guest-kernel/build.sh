#!/bin/bash
# Builds the HVM test guest's kernel (make guest-kernel) into OUT/bzImage:
# Debian's linux-source-6.1 tarball unpacked in OUT/src, `make tinyconfig`,
# guest.config merged over it (scripts/kconfig/merge_config.sh), the
# patches in patches/ applied, built-ins only.
#
#   build.sh OUT [CACHE]
#
# The build is keyed on a hash of guest.config, the patches, this script and
# the source package's version: OUT/bzImage is kept while OUT/key matches,
# and a built kernel is also kept in CACHE/KEY/ (default
# ~/.cache/xenvhost/guest-kernel), outside the work tree, so a fresh clone
# on the same machine (CI's) copies it instead of building it again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
cache=${2:-${XDG_CACHE_HOME:-$HOME/.cache}/xenvhost/guest-kernel}
tarball=/usr/src/linux-source-6.1.tar.xz
fragment=$here/guest.config
jobs=${GUEST_KERNEL_JOBS:-$(nproc)}

[ -r "$tarball" ] || { echo "guest-kernel: no $tarball (apt-get install linux-source-6.1, or make deps)" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || stat -c %s "$tarball")
key=$({ echo "linux-source-6.1 $version"; cat "$fragment" "$here"/patches/*.patch "$0"; } | sha256sum | cut -c1-16)
mkdir -p "$out"
if [ -f "$out/bzImage" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
    echo "guest-kernel: $out/bzImage is up to date (key $key)"
    exit 0
fi
if [ -f "$cache/$key/bzImage" ]; then
    cp "$cache/$key/bzImage" "$out/bzImage.tmp" && cp "$cache/$key/config" "$out/config"
    mv "$out/bzImage.tmp" "$out/bzImage"
    echo "$key" >"$out/key"
    echo "guest-kernel: $out/bzImage copied from the cache $cache/$key"
    exit 0
fi

t0=$(date +%s)
src=$out/src
# A fresh tree for every key: a changed patch must not meet an old one.
rm -rf "$src" "$out/key"
mkdir -p "$src"
echo "guest-kernel: unpacking $tarball ($version)"
tar -xJf "$tarball" -C "$src" --strip-components=1
for p in "$here"/patches/*.patch; do
    echo "guest-kernel: applying $(basename "$p")"
    patch -s -p1 -d "$src" <"$p"
done
make -s -C "$src" tinyconfig >/dev/null
(cd "$src" && scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null)
make -s -C "$src" olddefconfig >/dev/null
# Every option the fragment sets must have survived the dependencies.
missing=$(grep -E '^(CONFIG_[A-Z0-9_]+=|# CONFIG_[A-Z0-9_]+ is not set)' "$fragment" | while read -r line; do
    grep -qxF "$line" "$src/.config" || echo "$line"
done)
if [ -n "$missing" ]; then
    echo "guest-kernel: these options of guest.config did not survive olddefconfig:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    exit 1
fi
echo "guest-kernel: building bzImage with $jobs jobs"
make -s -C "$src" -j"$jobs" bzImage KBUILD_BUILD_USER=xenvhost KBUILD_BUILD_HOST=guest-kernel
cp "$src/.config" "$out/config"
cp "$src/arch/x86/boot/bzImage" "$out/bzImage.tmp"
mv "$out/bzImage.tmp" "$out/bzImage"
echo "$key" >"$out/key"
if mkdir -p "$cache/$key.tmp.$$" && cp "$out/bzImage" "$out/config" "$cache/$key.tmp.$$/" &&
    mv -T "$cache/$key.tmp.$$" "$cache/$key" 2>/dev/null; then
    echo "guest-kernel: kept in the cache $cache/$key"
else
    rm -rf "$cache/$key.tmp.$$"
fi
# The object tree is 10x the kernel: only the kernel and its config stay.
rm -rf "$src"
echo "guest-kernel: built $out/bzImage ($(stat -c %s "$out/bzImage") bytes) in $(($(date +%s) - t0)) s"
