#!/usr/bin/env bash
# Builds the QEMU test guest from the host's own Debian kernel and busybox-static.
#
#   build-guest.sh kernel    VMLINUZ OUT         copy of the kernel image
#   build-guest.sh initramfs VMLINUZ INIT OUT    busybox initramfs with virtio_pci + virtio_blk
#
# The modules must match the kernel, so the kernel release is taken from the
# VMLINUZ file name (/boot/vmlinuz-<release>) and the modules from
# /lib/modules/<release>.
set -euo pipefail

MODULES=(virtio_pci virtio_blk)

die() { echo "build-guest: $*" >&2; exit 1; }

kernel_release() {
    local name
    name=$(basename "$1")
    [[ $name == vmlinuz-* ]] || die "'$1' is not a /boot/vmlinuz-<release> file"
    echo "${name#vmlinuz-}"
}

build_kernel() {
    local vmlinuz=$1 out=$2
    [ -r "$vmlinuz" ] || die "cannot read kernel '$vmlinuz' (is linux-image-amd64 installed?)"
    mkdir -p "$(dirname "$out")"
    cp "$vmlinuz" "$out.tmp"
    mv "$out.tmp" "$out"
    echo "guest kernel: $out ($(kernel_release "$vmlinuz"))"
}

# Copies MODULES and everything they depend on into ROOT; built-in ones are skipped.
add_modules() {
    local root=$1 kver=$2 moddir=/lib/modules/$2
    local -a queue=("${MODULES[@]}")
    local -A seen=()
    local mod path deps
    local -a more
    while [ ${#queue[@]} -gt 0 ]; do
        mod=${queue[0]}
        queue=("${queue[@]:1}")
        [ -n "${seen[$mod]:-}" ] && continue
        seen[$mod]=1
        path=$(modinfo -k "$kver" -n "$mod") || die "module '$mod' not found for kernel $kver"
        # modinfo prints "(builtin)" or a bare name for built-in modules.
        [[ $path == /* ]] || continue
        mkdir -p "$root$(dirname "$path")"
        cp "$path" "$root$path"
        deps=$(modinfo -k "$kver" -F depends "$mod")
        if [ -n "$deps" ]; then
            IFS=, read -r -a more <<<"$deps"
            queue+=("${more[@]}")
        fi
    done
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        if [ -e "$moddir/$f" ]; then cp "$moddir/$f" "$root$moddir/"; fi
    done
    depmod -b "$root" "$kver"
    echo "guest modules: ${!seen[*]}"
}

build_initramfs() {
    local vmlinuz=$1 init=$2 out=$3 kver root busybox
    kver=$(kernel_release "$vmlinuz")
    [ -d "/lib/modules/$kver" ] || die "no /lib/modules/$kver for kernel $vmlinuz"
    [ -r "$init" ] || die "cannot read init script '$init'"
    busybox=$(command -v busybox) || die "busybox not found (install busybox-static)"
    # A dynamic busybox would need its libraries in the image; insist on the static one.
    if ldd "$busybox" >/dev/null 2>&1; then
        die "$busybox is dynamically linked; install busybox-static"
    fi

    root=$(mktemp -d "${TMPDIR:-/tmp}/xvt-guest.XXXXXX")
    # shellcheck disable=SC2064  # expand now: root is local
    trap "rm -rf '$root'" EXIT

    mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,mnt,lib/modules}
    cp "$busybox" "$root/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    install -m 0755 "$init" "$root/init"
    add_modules "$root" "$kver"

    mkdir -p "$(dirname "$out")"
    (cd "$root" && find . | LC_ALL=C sort | cpio -R 0:0 -H newc -o --quiet | gzip -1) >"$out.tmp"
    mv "$out.tmp" "$out"
    echo "guest initramfs: $out ($(du -k "$out" | cut -f1) KiB, kernel $kver)"
}

case "${1:-}" in
    kernel)    [ $# -eq 3 ] || die "usage: $0 kernel VMLINUZ OUT"; build_kernel "$2" "$3" ;;
    initramfs) [ $# -eq 4 ] || die "usage: $0 initramfs VMLINUZ INIT OUT"; build_initramfs "$2" "$3" "$4" ;;
    *)         die "usage: $0 kernel VMLINUZ OUT | initramfs VMLINUZ INIT OUT" ;;
esac
