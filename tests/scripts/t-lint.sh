#!/bin/bash
# Runs shellcheck on every shell script of the toolstack files and of this level;
# bash -n as well, and the scripts are executable.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
need shellcheck

scripts=("$repo"/xl-scripts/xenvhost-create "$here"/fake-xl/xl "$here"/*.sh)
# Any other shell script that appears under toolstack-hooks/ or xl-scripts/.
while IFS= read -r f; do
    case " ${scripts[*]} " in *" $f "*) continue ;; esac
    if head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then scripts+=("$f"); fi
done < <(find "$repo/toolstack-hooks" "$repo/xl-scripts" -type f | sort)

for f in "${scripts[@]}"; do
    bash -n "$f" || fail "bash -n $f"
    (cd "$(dirname "$f")" && shellcheck -x "$(basename "$f")") || fail "shellcheck ${f#"$repo"/}"
    ok "shellcheck ${f#"$repo"/}"
done
for f in "$repo"/xl-scripts/xenvhost-create "$here"/fake-xl/xl; do
    [ -x "$f" ] || fail "${f#"$repo"/} is not executable"
done
ok "the installed scripts and the fake xl are executable"
# Process substitution needs /dev/fd, which a minimal dom0 (busybox init,
# devtmpfs only, as on the Xen level) does not have.
! grep -n '[<>](' "$repo"/xl-scripts/xenvhost-create || fail "xl-scripts/xenvhost-create uses process substitution"
ok "the installed script does without /dev/fd (no process substitution)"
echo "t-lint: $checks checks passed"
