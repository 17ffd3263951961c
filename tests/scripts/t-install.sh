#!/bin/bash
# `make install` into temporary DESTDIRs (PREFIX=/usr and the default
# /usr/local): every path and mode, the rewritten paths in the units and the
# configuration, the configuration kept on a second install, the installed
# daemon finding the installed worker, and systemd-analyze verify on the
# installed units; every installed program's --version and every installed
# man page's .TH line name the package's version (debian/changelog).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${BUILD:?}"
need systemd-analyze systemd-sysusers man cmp dpkg-parsechangelog

new_work

install_into() {  # DESTDIR PREFIX
    make -C "$repo" --no-print-directory BUILD="$BUILD" install DESTDIR="$1" PREFIX="$2" >"$work/install.log" 2>&1 ||
        { cat "$work/install.log" >&2; fail "make install DESTDIR=$1 PREFIX=$2"; }
}

# tree DESTDIR: "mode type path" of everything below DESTDIR.
tree() { (cd "$1" && find . -mindepth 1 -printf '%m %y %P\n' | sort -k3); }

expected_tree() {  # PREFIX (without the leading /), UNITDIR (likewise)
    local p=$1 u=$2
    {
        echo "755 d etc"
        echo "755 d etc/xenvhost"
        echo "644 f etc/xenvhost/xenvhost.conf"
        local dir=""
        for part in ${u//\// }; do dir=${dir:+$dir/}$part; echo "755 d $dir"; done
        echo "644 f $u/xenvhostd.service"
        echo "644 f $u/xenvhostd-driverdomain.service"
        dir=""
        for part in ${p//\// }; do dir=${dir:+$dir/}$part; echo "755 d $dir"; done
        echo "755 d $p/bin"
        echo "755 f $p/bin/xenvhost-create"
        echo "755 f $p/bin/xenvhost-status"
        echo "755 d $p/sbin"
        echo "755 f $p/sbin/xenvhostd"
        echo "755 f $p/sbin/xenvhost-worker"
        echo "755 f $p/sbin/xenvhost-dm"
        echo "755 d $p/lib"
        echo "755 d $p/lib/sysusers.d"
        echo "644 f $p/lib/sysusers.d/xenvhost.conf"
        echo "755 d $p/share"
        echo "755 d $p/share/man"
        echo "755 d $p/share/man/man1"
        echo "644 f $p/share/man/man1/xenvhost-create.1"
        echo "644 f $p/share/man/man1/xenvhost-status.1"
        echo "755 d $p/share/man/man5"
        echo "644 f $p/share/man/man5/xenvhost.conf.5"
        echo "755 d $p/share/man/man8"
        echo "644 f $p/share/man/man8/xenvhost-worker.8"
        echo "644 f $p/share/man/man8/xenvhost-dm.8"
        echo "644 f $p/share/man/man8/xenvhostd.8"
    } | sort -u -k3
}

check_tree() {  # DESTDIR PREFIX UNITDIR
    tree "$1" >"$work/tree.actual"
    expected_tree "${2#/}" "${3#/}" >"$work/tree.expected"
    diff -u "$work/tree.expected" "$work/tree.actual" >&2 || fail "installed tree (PREFIX=$2) differs from the list"
    ok "PREFIX=$2: $(grep -c ' f ' "$work/tree.actual") files and $(grep -c ' d ' "$work/tree.actual") directories, each with its mode"
}

# A root for systemd-analyze: the installed tree plus this host's units
# (targets like sysinit.target that every service depends on).
verify_units() {  # DESTDIR UNITDIR
    local root=$work/verify-root out
    rm -rf "$root"
    cp -a "$1" "$root"
    mkdir -p "$root/lib/systemd/system"
    cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
    out=$(systemd-analyze verify --man=no --root="$root" "$2/xenvhostd.service" "$2/xenvhostd-driverdomain.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    [ -z "$out" ] || fail "systemd-analyze verify printed: $out"
    # The same check sees a broken unit: the program missing from the root.
    rm "$root$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$1$2/xenvhostd.service")"
    if out=$(systemd-analyze verify --man=no --root="$root" "$2/xenvhostd.service" 2>&1); then
        fail "systemd-analyze verify passed a unit whose program is missing"
    fi
    case $out in *"is not executable"*) ;; *) fail "systemd-analyze verify on a broken unit said: $out" ;; esac
    rm -rf "$root"
    ok "systemd-analyze verify --root: both units clean (and a unit without its program is refused)"
}

check_man_links() {  # DESTDIR PREFIX UNITDIR: every Documentation= page resolves
    local unit page
    for unit in xenvhostd.service xenvhostd-driverdomain.service; do
        # Documentation= holds space-separated URIs.
        for page in $(sed -n 's/^Documentation=//p' "$1$3/$unit" | tr ' ' '\n'); do
            page=${page#man:}
            MANPATH=$1$2/share/man man -w "${page%%(*}.${page//[^0-9]/}" >/dev/null 2>&1 ||
                fail "$unit: Documentation=man:$page is not installed"
        done
    done
    ok "every Documentation=man: page of the units is installed"
}

# Every installed program prints "NAME VERSION" for --version, VERSION being the
# package's (dpkg's reading of debian/changelog); every man page's .TH names it.
check_versions() {  # DESTDIR PREFIX
    local version prog out page n=0
    version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -SVersion)
    [ -n "$version" ] || fail "no version in debian/changelog"
    for prog in "$1$2"/sbin/* "$1$2"/bin/*; do
        out=$("$prog" --version) || fail "${prog#"$1"} --version failed"
        equals "$out" "${prog##*/} $version" "${prog#"$1"} --version"
        n=$((n + 1))
    done
    [ "$n" = 5 ] || fail "$n programs installed, 5 expected"
    for page in "$1$2"/share/man/man?/*; do
        grep -q "^\.TH [^ ]* [158] \"[0-9-]*\" \"xenvhost $version\" " "$page" ||
            fail "${page#"$1"}: .TH does not name xenvhost $version: $(grep '^\.TH ' "$page")"
    done
    ok "every installed program's --version and every man page's .TH say $version"
}

# ---------------------------------------------------------------- PREFIX=/usr
echo "make install PREFIX=/usr"
d=$work/usr-root
install_into "$d" /usr
check_tree "$d" /usr /lib/systemd/system
for prog in xenvhostd xenvhost-worker xenvhost-dm; do
    cmp -s "$BUILD/bin/$prog" "$d/usr/sbin/$prog" || fail "$prog differs from $BUILD/bin/$prog"
done
# The script as it is, but for the version written in.
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -SVersion)
sed "s/@VERSION@/$version/g" "$repo/xl-scripts/xenvhost-create" | cmp -s - "$d/usr/bin/xenvhost-create" ||
    fail "xenvhost-create differs from xl-scripts/ (with the version written in)"
cmp -s "$BUILD/bin/xenvhost-status" "$d/usr/bin/xenvhost-status" || fail "xenvhost-status differs from $BUILD/bin/xenvhost-status"
ok "programs and scripts are the built ones"
check_versions "$d" /usr
for unit in xenvhostd.service xenvhostd-driverdomain.service; do
    contains "$d/lib/systemd/system/$unit" "ExecStart=/usr/sbin/xenvhostd --config /etc/xenvhost/xenvhost.conf \$XENVHOSTD_ARGS"
    contains "$d/lib/systemd/system/$unit" "EnvironmentFile=-/etc/default/xenvhostd"
done
cmp -s "$repo/toolstack-hooks/xenvhost.conf" "$d/etc/xenvhost/xenvhost.conf" || fail "xenvhost.conf was changed for PREFIX=/usr"
ok "units start /usr/sbin/xenvhostd with /etc/xenvhost/xenvhost.conf"
verify_units "$d" /lib/systemd/system
check_man_links "$d" /usr /lib/systemd/system

# The installed sysusers.d file creates its users (what the package's postinst
# runs), in a root of its own.
sysroot=$work/sysusers-root
mkdir -p "$sysroot/etc" "$sysroot/usr/lib/sysusers.d"
echo "root:x:0:0:root:/root:/bin/bash" >"$sysroot/etc/passwd"
echo "root:x:0:" >"$sysroot/etc/group"
cp "$d/usr/lib/sysusers.d/xenvhost.conf" "$sysroot/usr/lib/sysusers.d/"
out=$(systemd-sysusers --root="$sysroot" xenvhost.conf 2>&1) || fail "systemd-sysusers: $out"
while read -r type name _; do
    [ "$type" = u ] || continue
    grep -q "^$name:" "$sysroot/etc/passwd" || fail "systemd-sysusers did not create $name: $out"
done <"$sysroot/usr/lib/sysusers.d/xenvhost.conf"
ok "systemd-sysusers creates the users of the installed sysusers.d file"

# The installed daemon, with the installed configuration, finds the installed
# worker by default: option checks pass, and it stops at xenstore.
rc=0
XENSTORED_PATH=$work/no-xenstored "$d/usr/sbin/xenvhostd" --config "$d/etc/xenvhost/xenvhost.conf" \
    --run-dir "$work/run" >"$work/daemon-start.log" 2>&1 || rc=$?
equals "$rc" 1 "exit status of the installed xenvhostd without xenstored"
contains "$work/daemon-start.log" "cannot connect to xenstored"
lacks "$work/daemon-start.log" "is not executable"
ok "the installed xenvhostd reads the installed configuration and finds xenvhost-worker next to itself"

echo "# changed by the test" >>"$d/etc/xenvhost/xenvhost.conf"
cp "$d/etc/xenvhost/xenvhost.conf" "$work/conf.before"
install_into "$d" /usr
cmp -s "$work/conf.before" "$d/etc/xenvhost/xenvhost.conf" || fail "a second make install overwrote xenvhost.conf"
contains "$work/install.log" "keeping the existing $d/etc/xenvhost/xenvhost.conf"
check_tree "$d" /usr /lib/systemd/system
ok "a second install keeps the existing configuration"

# ---------------------------------------------------------------- default PREFIX
echo "make install (PREFIX=/usr/local)"
d=$work/local-root
make -C "$repo" --no-print-directory BUILD="$BUILD" install DESTDIR="$d" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log" >&2; fail "make install DESTDIR=$d"; }
check_tree "$d" /usr/local /usr/local/lib/systemd/system
for unit in xenvhostd.service xenvhostd-driverdomain.service; do
    contains "$d/usr/local/lib/systemd/system/$unit" "ExecStart=/usr/local/sbin/xenvhostd --config /etc/xenvhost/xenvhost.conf"
done
contains "$d/etc/xenvhost/xenvhost.conf" "#worker = /usr/local/sbin/xenvhost-worker"
contains "$d/etc/xenvhost/xenvhost.conf" "#device-model = /usr/local/sbin/xenvhost-dm"
ok "units and configuration name /usr/local/sbin"
check_versions "$d" /usr/local
verify_units "$d" /usr/local/lib/systemd/system
check_man_links "$d" /usr/local /usr/local/lib/systemd/system

echo "t-install: $checks checks passed"
