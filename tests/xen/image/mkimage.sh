#!/usr/bin/env bash
# Builds the initramfs images of the Xen test level (called by tests/xen/rules.mk).
#
#   mkimage.sh domU         OUT INIT GUEST_PAGES KVER
#   mkimage.sh hvm          OUT INIT BLKIO KVER
#   mkimage.sh dom0-base    OUT KVER KERNEL DOMU_CPIO DOMU_CFG HVM_KERNEL HVM_CPIO BLKIO [GUEST_KERNEL]
#   mkimage.sh dom0-project OUT STAGE BASE_LIST XEN_TEST_DIR BIN_DIR
#   mkimage.sh vmlinux      OUT BZIMAGE
#   mkimage.sh driver-domain OUT STAGE KVER XEN_TEST_DIR BIN_DIR
#
# dom0-project's STAGE is a fresh directory that may already hold what
# `make install DESTDIR=STAGE PREFIX=/usr` put there, or the project's
# package in $SHARE/packages; it is removed at the end.
# Scratch directories and temporary outputs have unique names, so two builds
# in the same tree do not trip over each other.
# dom0 boots with two archives concatenated: the base layer (busybox, Xen
# tools, modules, the domU) changes rarely; the project layer (init,
# scenarios, this project's programs) is rebuilt in well under a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

XEN_TOOLS=/usr/lib/xen-4.17/bin
XEN_MODULES=(xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs)
# What the HVM test guest loads: the virtio PCI transport and block driver
# (modinfo's depends brings virtio, virtio_ring, virtio_pci_modern_dev and
# virtio_pci_legacy_dev), the PV disk driver for comparison, ext4 (which
# mounts ext2; jbd2, mbcache, crc16 come as its depends) and the crc32c
# implementation ext4 asks the crypto API for.
HVM_MODULES=(virtio_pci virtio_blk xen-blkfront ext4 crc32c_generic)
# The HVM device model libxl 4.17 starts (its built-in default path), the
# firmware libxl loads into the guest (hvmloader, SeaBIOS) and the option
# ROMs qemu-xen needs for direct kernel boot (linuxboot_dma.bin) or may probe;
# libxl passes -vnc none, and qemu-xen still reads its default keymap.
HVM_DM=/usr/libexec/xen-qemu-system-i386
HVM_FIRMWARE=(/usr/lib/xen-4.17/boot/hvmloader /usr/share/seabios/bios-256k.bin
    /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/linuxboot.bin /usr/share/qemu/pvh.bin
    /usr/share/qemu/multiboot_dma.bin /usr/share/qemu/kvmvapic.bin /usr/share/qemu/keymaps/en-us)
SHARE=usr/share/xenvhost-tests/xen

# The guest: its init, the static program that offers dom0 its pages, and
# gntalloc for the grants it makes.
build_domu() {
    local out=$1 init=$2 guest_pages=$3 kver=$4
    img_skeleton "$stage"
    install -m 0755 "$init" "$stage/init"
    install -D -m 0755 "$guest_pages" "$stage/usr/bin/xen-guest-pages"
    img_add_modules "$stage" "$kver" xen-gntalloc
    img_pack "$stage" "$out"
}

# The HVM guest: bash runs its checks (its init), xen-hvm-blkio does their
# O_DIRECT I/O, and the stock modules above, resolved from their depends.
build_hvm() {
    local out=$1 init=$2 blkio=$3 kver=$4
    img_skeleton "$stage"
    install -m 0755 "$init" "$stage/init"
    install -D -m 0755 "$blkio" "$stage/usr/bin/xen-hvm-blkio"
    img_add "$stage" /bin/bash
    img_add_modules "$stage" "$kver" "${HVM_MODULES[@]}"
    img_pack "$stage" "$out"
}

build_dom0_base() {
    local out=$1 kver=$2 kernel=$3 domu_cpio=$4 domu_cfg=$5 hvm_kernel=$6 hvm_cpio=$7 blkio=$8 guest_kernel=${9:-}
    img_skeleton "$stage"
    local -a tools=()
    local t
    for t in xl xenstored xenconsoled xen-init-dom0 xenconsole libxl-save-helper xenctx; do
        tools+=("$XEN_TOOLS/$t")
    done
    # bash runs dom0's init and the scenarios; libgcc_s is dlopen()ed by glibc
    # for pthread_cancel (xl needs it), so ldd does not list it.
    img_add "$stage" "${tools[@]}" /usr/bin/xenstore /bin/bash /lib/x86_64-linux-gnu/libgcc_s.so.1
    # strace counts the worker's syscalls per request (scenario 20).
    img_add "$stage" /usr/bin/strace
    local cmd
    for cmd in read write ls list rm chmod watch exists; do
        ln -sf xenstore "$stage/usr/bin/xenstore-$cmd"
    done
    ln -sf "$XEN_TOOLS/xl" "$stage/usr/sbin/xl"
    mkdir -p "$stage"/{etc/xen,var/lib/xen,var/lib/xenstored,var/log/xen/console,run/xen,run/xenstored}
    cp /etc/xen/xl.conf "$stage/etc/xen/"
    cp -r /etc/xen/scripts "$stage/etc/xen/"
    img_add_modules "$stage" "$kver" "${XEN_MODULES[@]}"
    # The domU's kernel, uncompressed: libxenguest loads the ELF as it is.
    install -m 0644 "$kernel" "$stage/root/vmlinux"
    install -m 0644 "$domu_cpio" "$stage/root/domU.cpio.gz"
    install -m 0644 "$domu_cfg" "$stage/root/domU.cfg"
    # HVM guests: qemu-xen with its libraries, the firmware, the boot disk
    # (syslinux, the guest's kernel and initramfs) and the pattern tool for
    # preparing and comparing images.
    img_add "$stage" "$HVM_DM" "${HVM_FIRMWARE[@]}"
    install -m 0755 "$blkio" "$stage/usr/bin/xen-hvm-blkio"
    hvm_boot_disk "$stage/root/hvm-boot.img" "$hvm_kernel" "$hvm_cpio"
    # The project's own guest kernel (make guest-kernel: grant DMA, virtio-mmio):
    # the grant and virtio-mmio scenarios put it on their copy of the boot disk.
    [ -z "$guest_kernel" ] || install -m 0644 "$guest_kernel" "$stage/root/hvm-guest-kernel"
    # mcopy (mtools dispatches on its name) writes a scenario's kernel
    # words into its copy of the boot disk.
    # mtools converts FAT names through iconv (code page 850): glibc's
    # module for it and the module list come along.
    local gconv=/usr/lib/x86_64-linux-gnu/gconv
    img_add "$stage" /usr/bin/mtools "$gconv/gconv-modules" "$gconv/gconv-modules.cache" \
        "$gconv/gconv-modules.d/gconv-modules-extra.conf" "$gconv/IBM850.so" "$gconv/IBM437.so"
    ln -sf mtools "$stage/usr/bin/mcopy"
    dom0_dpkg "$stage"
    img_pack "$stage" "$out"
}

# dpkg, to install the project's package in dom0 as on a host, and what the
# package's maintainer scripts run: systemd-sysusers (the users guests'
# workers run as) and deb-systemd-helper (the units' enablement; perl-base's
# perl runs it). dpkg-deb runs GNU tar (busybox's lacks its options), and
# dpkg wants ldconfig and start-stop-daemon on PATH. No
# systemd runs in dom0, so the scripts start and stop no unit. Busybox's
# dpkg applets are links to /bin/busybox: they are removed first, or the
# copy would write through them.
DPKG_PROGRAMS=(/usr/bin/dpkg /usr/bin/dpkg-deb /usr/bin/dpkg-split /usr/bin/dpkg-query /usr/bin/dpkg-trigger /bin/tar /sbin/ldconfig
    /usr/bin/systemd-sysusers /usr/bin/perl /usr/bin/deb-systemd-helper)
dom0_dpkg() {
    local stage=$1 f
    for f in "${DPKG_PROGRAMS[@]}"; do rm -f "$stage$f"; done
    img_add "$stage" "${DPKG_PROGRAMS[@]}"
    mkdir -p "$stage/usr/lib/x86_64-linux-gnu"
    cp -a /usr/lib/x86_64-linux-gnu/perl-base "$stage/usr/lib/x86_64-linux-gnu/"
    mkdir -p "$stage"/var/lib/dpkg/{info,updates,triggers} "$stage/etc/dpkg"
    : >"$stage/var/lib/dpkg/status"
}

# The HVM guest's boot disk: a FAT file system with syslinux in its boot
# sector, the kernel and the initramfs. SeaBIOS boots it from a virtio disk
# the project serves, so the kernel comes in through the device model by
# DMA; qemu-xen's direct kernel boot reads it through fw_cfg a byte at a
# time, which under TCG takes longer than the level can wait.
hvm_boot_disk() {
    local img=$1 kernel=$2 cpio=$3 kib
    kib=$(( ($(stat -c %s "$kernel") + $(stat -c %s "$cpio")) / 1024 + 4096 ))
    rm -f "$img"
    mkfs.fat -C "$img" "$kib" >/dev/null
    syslinux --install "$img"
    mcopy -i "$img" "$kernel" ::vmlinuz
    mcopy -i "$img" "$cpio" ::initrd
    printf 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd console=ttyS0 rdinit=/init\n' \
        >"$img.cfg"
    mcopy -i "$img" "$img.cfg" ::syslinux.cfg
    rm -f "$img.cfg"
}

# /etc/passwd and /etc/group get root, and with a package in the stage
# nothing else (its postinst runs systemd-sysusers); without one, the users
# of the sysusers.d file `make install` staged (the guests' workers run as
# them), a "-" uid as 999 and down.
dom0_users() {
    local stage=$1 conf=$1/usr/lib/sysusers.d/xenvhost.conf type name id free=999
    mkdir -p "$stage/etc"
    echo "root:x:0:0:root:/root:/bin/bash" >"$stage/etc/passwd"
    echo "root:x:0:" >"$stage/etc/group"
    if compgen -G "$stage/$PACKAGES/*.deb" >/dev/null; then return 0; fi
    [ -f "$conf" ] || { echo "image: no $conf from make install" >&2; return 1; }
    while read -r type name id _; do
        [ "$type" = u ] || continue
        if [ "$id" = - ]; then id=$free; free=$((free - 1)); fi
        echo "$name:x:$id:$id::/:/usr/sbin/nologin" >>"$stage/etc/passwd"
        echo "$name:x:$id:" >>"$stage/etc/group"
    done <"$conf"
}

# The project's package, when the stage holds one in $PACKAGES: dom0
# installs it with dpkg at boot. Unpacked into STAGE/.package for this
# build only: its programs are not copied from BIN_DIR, and the libraries
# they need go into the image.
PACKAGES=$SHARE/packages
dom0_package() {
    local stage=$1 deb
    for deb in "$stage/$PACKAGES"/*.deb; do
        [[ -f $deb ]] || continue
        mkdir -p "$stage/.package"
        dpkg-deb -x "$deb" "$stage/.package"
    done
}
# Is PROGRAM (a file name) one the package installs?
in_package() { [[ -e $stage/.package/usr/sbin/$1 || -e $stage/.package/usr/bin/$1 ]]; }

build_dom0_project() {
    local out=$1 base_list=$2 src=$3 bin_dir=$4
    install -D -m 0755 "$src/dom0/init" "$stage/init"
    install -D -m 0755 "$src/dom0/main.sh" "$stage/$SHARE/dom0-main.sh"
    mkdir -p "$stage/$SHARE"
    cp -r "$src/scenarios" "$stage/$SHARE/"
    dom0_users "$stage"
    dom0_package "$stage"
    # Programs `make install` or the package did not place are copied as they are.
    mkdir -p "$stage/usr/bin"
    local f
    for f in "$bin_dir"/*; do
        [[ -f $f && -x $f ]] || continue
        in_package "$(basename "$f")" && continue
        [[ -e $stage/usr/bin/$(basename "$f") ]] || install -m 0755 "$f" "$stage/usr/bin/"
    done
    local -a programs=()
    mapfile -t programs < <(find "$stage/usr" -type f -perm -u+x)
    local magic
    for f in "${programs[@]}"; do
        magic=$(head -c 4 "$f" | od -An -c | tr -d ' ')
        if [[ $magic == '177ELF' ]]; then
            # Debug info is most of a test program's size and only slows dom0's boot.
            strip --strip-debug "$f"
        elif [[ $magic != '#!'* ]]; then
            # An empty file is what a program being linked right now looks like.
            echo "image: ${f#"$stage"} is neither ELF nor a script (being rebuilt?)" >&2
            return 1
        fi
    done
    if [[ -d $stage/.package ]]; then mapfile -t -O "${#programs[@]}" programs < <(find "$stage/.package" -type f -perm -u+x); fi
    IMG_SKIP=$base_list img_add_libs "$stage" "${programs[@]}"
    rm -rf "$stage/.package"
    img_pack "$stage" "$out"
}

# The driver domain of scenario 45: its own initramfs, carried in dom0 as
# /root/driverdomain.cpio.gz by a third layer of dom0's archive (OUT), so a
# change to the project rebuilds it without touching the base layer. It
# holds busybox, bash, the xenstore client (libxenstore reaches xenstored
# through /dev/xen/xenbus there), the Xen device modules, what
# `make install DESTDIR=STAGE PREFIX=/usr` put in STAGE (xenvhostd, the
# worker, the units, the configuration), the test programs the steps use,
# and the steps (driverdomain/init, dd-steps.sh, the scenarios' lib).
build_driver_domain() {
    local out=$1 kver=$2 src=$3 bin_dir=$4 root f
    root=$stage/dd
    mkdir -p "$root"
    img_skeleton "$root"
    install -m 0755 "$src/driverdomain/init" "$root/init"
    install -D -m 0644 "$src/driverdomain/dd-steps.sh" "$root/$SHARE/dd-steps.sh"
    mkdir -p "$root/$SHARE/scenarios"
    cp -r "$src/scenarios/lib" "$root/$SHARE/scenarios/"
    img_add "$root" /usr/bin/xenstore /bin/bash /lib/x86_64-linux-gnu/libgcc_s.so.1
    local cmd
    for cmd in read write ls list rm chmod watch exists; do
        ln -sf xenstore "$root/usr/bin/xenstore-$cmd"
    done
    # The installation, as a package would lay it out.
    local item
    for item in "$stage"/*; do
        [[ $item == "$root" ]] || cp -a "$item" "$root/"
    done
    dom0_users "$root"
    for f in xen-grant-frontend sd-notify-listener; do
        [[ -x $bin_dir/$f ]] || { echo "image: $bin_dir/$f is not built" >&2; return 1; }
        install -m 0755 "$bin_dir/$f" "$root/usr/bin/"
    done
    local -a programs=()
    mapfile -t programs < <(find "$root/usr" -type f -perm -u+x)
    for f in "${programs[@]}"; do
        if [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == '177ELF' ]]; then strip --strip-debug "$f"; fi
    done
    img_add_libs "$root" "${programs[@]}"
    img_add_modules "$root" "$kver" "${XEN_MODULES[@]}"
    mkdir -p "$stage/layer/root"
    img_pack "$root" "$stage/layer/root/driverdomain.cpio.gz"
    rm -f "$stage/layer/root/driverdomain.cpio.gz.list"
    img_pack "$stage/layer" "$out"
}

# The ELF kernel inside an xz-compressed bzImage. Booting it saves Xen (for
# dom0) and libxenguest (for each domU) seconds of xz decompression under TCG.
extract_vmlinux() {
    local out=$1 bzimage=$2 offset
    offset=$(LC_ALL=C grep -abo $'\xfd''7zXZ' "$bzimage" | head -n 1 | cut -d: -f1)
    [[ -n $offset ]] || { echo "image: no xz payload in $bzimage" >&2; return 1; }
    # xz stops with an error at the bzImage's trailer; the ELF check below
    # is what tells whether the kernel came out.
    tail -c +"$((offset + 1))" "$bzimage" | xz -dc >"$out.tmp.$$" 2>/dev/null || true
    if [[ $(head -c 4 "$out.tmp.$$" | od -An -c | tr -d ' ') != '177ELF' ]]; then
        rm -f "$out.tmp.$$"
        echo "image: $bzimage did not yield an ELF kernel" >&2
        return 1
    fi
    mv "$out.tmp.$$" "$out"
}

stage=
cleanup() { if [[ -n $stage ]]; then rm -rf "$stage"; fi; }
trap cleanup EXIT

new_stage() {
    mkdir -p "$(dirname "$1")"
    stage=$(mktemp -d "$(dirname "$1")/stage.XXXXXX")
}

main() {
    local what=${1:-}
    shift || true
    case $what in
        domU) (($# == 4)) || usage; new_stage "$1"; build_domu "$@" ;;
        hvm) (($# == 4)) || usage; new_stage "$1"; build_hvm "$@" ;;
        dom0-base) (($# == 8 || $# == 9)) || usage; new_stage "$1"; build_dom0_base "$@" ;;
        dom0-project)
            (($# == 5)) || usage
            stage=$2
            [[ -d $stage ]] || { echo "image: $stage is not a directory" >&2; exit 2; }
            build_dom0_project "$1" "${@:3}"
            ;;
        vmlinux) (($# == 2)) || usage; extract_vmlinux "$@" ;;
        driver-domain)
            (($# == 5)) || usage
            stage=$2
            [[ -d $stage ]] || { echo "image: $stage is not a directory" >&2; exit 2; }
            build_driver_domain "$1" "${@:3}"
            ;;
        *) usage ;;
    esac
}

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

main "$@"
