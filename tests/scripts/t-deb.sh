#!/bin/bash
# The Debian package (`make deb`): its version is debian/changelog's, its
# files and modes are the list below, the configuration is its one
# conffile, every program in it answers --version with the package's
# version, its maintainer scripts create the sysusers.d users and enable
# xenvhostd.service alone, and lintian reports no error and no warning that
# debian/README.source does not list. dom0 of the Xen level installs and
# purges the same package (scenario 40).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${BUILD:?}"
need dpkg-buildpackage dpkg-deb dpkg-parsechangelog lintian dh

new_work

version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -SVersion)
arch=$(dpkg --print-architecture)
deb=$BUILD/deb/xenvhost_${version}_$arch.deb
start=$SECONDS
make -C "$repo" --no-print-directory BUILD="$BUILD" deb >"$work/deb.log" 2>&1 ||
    { tail -n 40 "$work/deb.log" >&2; fail "make deb"; }
[ -f "$deb" ] || fail "make deb left no $deb"
ok "make deb: $deb in $((SECONDS - start)) s (lintian included)"

equals "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)" "xenvhost $version" "the package's name and version"

# "mode path" of every entry, directories with a trailing slash.
dpkg-deb -c "$deb" | awk '{ print $1, $6 }' | sed 's| \./| /|' | sort -k2 >"$work/contents"
cat >"$work/expected" <<EOF
drwxr-xr-x /
drwxr-xr-x /etc/
drwxr-xr-x /etc/xenvhost/
-rw-r--r-- /etc/xenvhost/xenvhost.conf
drwxr-xr-x /lib/
drwxr-xr-x /lib/systemd/
drwxr-xr-x /lib/systemd/system/
-rw-r--r-- /lib/systemd/system/xenvhostd-driverdomain.service
-rw-r--r-- /lib/systemd/system/xenvhostd.service
drwxr-xr-x /usr/
drwxr-xr-x /usr/bin/
-rwxr-xr-x /usr/bin/xenvhost-create
-rwxr-xr-x /usr/bin/xenvhost-status
drwxr-xr-x /usr/lib/
drwxr-xr-x /usr/lib/sysusers.d/
-rw-r--r-- /usr/lib/sysusers.d/xenvhost.conf
drwxr-xr-x /usr/sbin/
-rwxr-xr-x /usr/sbin/xenvhost-dm
-rwxr-xr-x /usr/sbin/xenvhost-worker
-rwxr-xr-x /usr/sbin/xenvhostd
drwxr-xr-x /usr/share/
drwxr-xr-x /usr/share/doc/
drwxr-xr-x /usr/share/doc/xenvhost/
-rw-r--r-- /usr/share/doc/xenvhost/changelog.gz
-rw-r--r-- /usr/share/doc/xenvhost/copyright
drwxr-xr-x /usr/share/man/
drwxr-xr-x /usr/share/man/man1/
-rw-r--r-- /usr/share/man/man1/xenvhost-create.1.gz
-rw-r--r-- /usr/share/man/man1/xenvhost-status.1.gz
drwxr-xr-x /usr/share/man/man5/
-rw-r--r-- /usr/share/man/man5/xenvhost.conf.5.gz
drwxr-xr-x /usr/share/man/man8/
-rw-r--r-- /usr/share/man/man8/xenvhost-dm.8.gz
-rw-r--r-- /usr/share/man/man8/xenvhost-worker.8.gz
-rw-r--r-- /usr/share/man/man8/xenvhostd.8.gz
EOF
sort -k2 -o "$work/expected" "$work/expected"
diff -u "$work/expected" "$work/contents" >&2 || fail "the package's contents differ from the list"
ok "contents: $(grep -vc '^d' "$work/contents") files and $(grep -c '^d' "$work/contents") directories, each with its mode"

# Control files: the conffile, the maintainer scripts' pieces.
dpkg-deb -e "$deb" "$work/control"
equals "$(cat "$work/control/conffiles")" "/etc/xenvhost/xenvhost.conf" "conffiles"
contains "$work/control/postinst" "systemd-sysusers \${DPKG_ROOT:+--root=\"\$DPKG_ROOT\"} xenvhost.conf"
contains "$work/control/postinst" "deb-systemd-helper enable 'xenvhostd.service'"
# debhelper's --no-enable form: enabled again only if it was enabled before.
contains "$work/control/postinst" "if deb-systemd-helper debian-installed 'xenvhostd-driverdomain.service'; then"
lacks "$work/control/postinst" "if deb-systemd-helper debian-installed 'xenvhostd.service'; then"
contains "$work/control/postrm" "rm -rf /run/xenvhost"
contains "$work/control/postrm" "deb-systemd-helper purge 'xenvhostd.service'"
ok "conffile /etc/xenvhost/xenvhost.conf; postinst creates the users and enables xenvhostd.service only; postrm removes /run/xenvhost"

# The programs as packaged, unpacked.
dpkg-deb -x "$deb" "$work/root"
for prog in "$work"/root/usr/sbin/* "$work"/root/usr/bin/*; do
    equals "$("$prog" --version)" "${prog##*/} $version" "${prog#"$work/root"} --version"
done
for page in "$work"/root/usr/share/man/man?/*.gz; do
    zcat "$page" | grep -q "^\\.TH [^ ]* [158] \"[0-9-]*\" \"xenvhost $version\" " ||
        fail "${page#"$work/root"}: .TH does not name xenvhost $version"
done
ok "every packaged program's --version and every man page's .TH say $version"

# lintian, as make deb ran it: no error (make deb fails on one), and each
# warning is listed in debian/README.source.
log=$BUILD/deb/lintian.log
[ -f "$log" ] || fail "make deb left no $log"
if grep -q '^E: ' "$log"; then fail "lintian reports errors: $(grep '^E: ' "$log")"; fi
# Debian's hardening flags reached every program (lintian says so at level I).
if grep -q ' hardening-' "$log"; then fail "lintian: programs built without Debian's hardening: $(grep ' hardening-' "$log")"; fi
while read -r _ _ tag _; do
    grep -qF -- "$tag" "$repo/debian/README.source" || fail "lintian warns $tag, which debian/README.source does not list"
done < <(grep '^W: ' "$log" || true)
ok "lintian: no error, no hardening missing, $(grep -c '^W: ' "$log" || true) warnings (each in debian/README.source), $(grep -c '^I: ' "$log" || true) notes"

echo "t-deb: $checks checks passed"
