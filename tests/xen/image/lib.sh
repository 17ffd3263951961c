# shellcheck shell=bash
# Helpers for building the busybox initramfs images of the Xen test level:
# a skeleton, host files with their shared libraries, kernel modules, packing.

# Directories and links every image has. /var/run and /var/lock point into
# /run because libxl locks /var/run/xen/domid-history.lock and xenconsole
# needs /var/lock.
img_skeleton() {
    local root=$1
    mkdir -p "$root"/{bin,sbin,etc,dev,proc,sys,tmp,root,run/lock,var/log,var/lib,lib64,usr/bin,usr/sbin}
    ln -s ../run "$root/var/run"
    ln -s ../run/lock "$root/var/lock"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    while read -r applet; do
        [[ -e $root/$applet || -L $root/$applet ]] && continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -s /bin/busybox "$root/$applet"
    done < <(/bin/busybox --list-full)
}

# Prints the absolute paths of the shared libraries FILE needs (none for a
# static binary).
img_libs_of() {
    local out
    out=$(ldd "$1" 2>/dev/null) || return 0
    grep -o '/[^ ]*' <<<"$out" || true
}

# Copies each FILE, dereferenced, to the same path under ROOT, with the shared
# libraries it needs.
img_add() {
    local root=$1
    shift
    local f
    for f in "$@"; do
        [[ -e $f ]] || { echo "image: missing $f" >&2; return 1; }
        img_copy "$root" "$f"
    done
    img_add_libs "$root" "$@"
}

# Copies the shared libraries each FILE needs to the same paths under ROOT,
# except the paths listed in the file named by $IMG_SKIP (what an earlier
# image layer already holds).
img_add_libs() {
    local root=$1
    shift
    local lib
    while read -r lib; do
        if [[ -n ${IMG_SKIP:-} ]] && grep -qxF ".$lib" "$IMG_SKIP"; then continue; fi
        img_copy "$root" "$lib"
    done < <(for f in "$@"; do img_libs_of "$f"; done | sort -u)
}

img_copy() {
    local root=$1 f=$2
    mkdir -p "$root/$(dirname "$f")"
    cp -L "$f" "$root/$f"
}

# Adds kernel modules MOD... of KVER with everything they depend on, and the
# module index that modprobe reads.
img_add_modules() {
    local root=$1 kver=$2
    shift 2
    local -a todo=("$@")
    local -A seen=()
    local mod path deps
    while ((${#todo[@]})); do
        mod=${todo[0]}
        todo=("${todo[@]:1}")
        [[ -n $mod && -z ${seen[$mod]:-} ]] || continue
        seen[$mod]=1
        path=$(modinfo -k "$kver" -n "$mod")
        [[ $path == /* ]] || continue  # built into the kernel
        img_copy "$root" "$path"
        deps=$(modinfo -k "$kver" -F depends "$mod")
        IFS=, read -ra more <<<"$deps"
        todo+=("${more[@]}")
    done
    local f
    for f in modules.order modules.builtin modules.builtin.modinfo; do
        img_copy "$root" "/lib/modules/$kver/$f"
    done
    depmod -b "$root" "$kver"
}

# Packs ROOT into a gzip-compressed newc cpio archive OUT, owned by root,
# in a stable order; also writes OUT's file list to OUT.list.
img_pack() {
    local root=$1 out
    out=$(realpath -m "$2")
    (cd "$root" && find . | LC_ALL=C sort >"$out.list.tmp.$$" &&
        cpio -R 0:0 -H newc -o --quiet <"$out.list.tmp.$$" | gzip -1) >"$out.tmp.$$"
    mv "$out.list.tmp.$$" "$out.list"
    mv "$out.tmp.$$" "$out"
}
