#!/bin/bash
# The man pages: they format without warnings, have a NAME line whatis can
# read, and document exactly the options the programs' --help lists (both
# ways); xenvhost.conf(5) and the shipped xenvhost.conf cover every key the
# daemon accepts in its configuration file, with the defaults --help states.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${DAEMON:?}" "${WORKER:?}" "${DEVICE_MODEL:?}" "${STATUS:?}"
need groff lexgrog

new_work
man=$repo/man

for page in "$man"/*.[158]; do
    out=$(groff -man -ww -z "$page" 2>&1) || fail "groff ${page##*/}: $out"
    [ -z "$out" ] || fail "groff warns about ${page##*/}: $out"
    lexgrog "$page" >/dev/null || fail "lexgrog cannot read the NAME section of ${page##*/}"
    ok "${page##*/}: formats without warnings, NAME readable"
done

# Long options in a --help text.
help_options() { grep -oE -- '--[a-z][a-z-]*' | sort -u; }
# Long options a page documents: the first words of the .TP items of its
# OPTIONS section (or KEYS, for xenvhost.conf(5)).
page_options() {
    awk '/^\.SH /{ sec = $2 } sec == "OPTIONS" && prev == ".TP" { print } { prev = $0 }' "$1" |
        grep -oE -- '\\-\\-[a-z][a-z\\-]*' | sed 's/\\//g' | sort -u
}

check_page() {  # PAGE HELP-FILE
    local page=$1 help=$2 opt
    for opt in $(help_options <"$help"); do
        grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$man/$page" || fail "$page does not document $opt"
    done
    for opt in $(page_options "$man/$page"); do
        grep -qF -- "$opt" "$help" || fail "$page documents $opt, which --help does not list"
    done
    ok "$page: every option of --help documented, no other ($(help_options <"$help" | wc -l) options)"
}

"$DAEMON" --help >"$work/xenvhostd.help"
"$WORKER" --help >"$work/worker.help"
"$DEVICE_MODEL" --help >"$work/dm.help"
"$repo/xl-scripts/xenvhost-create" --help >"$work/create.help"
"$STATUS" --help >"$work/status.help"
check_page xenvhostd.8 "$work/xenvhostd.help"
check_page xenvhost-worker.8 "$work/worker.help"
check_page xenvhost-dm.8 "$work/dm.help"
check_page xenvhost-create.1 "$work/create.help"
check_page xenvhost-status.1 "$work/status.help"

# The help text of one option, its wrapped lines joined, blanks squeezed.
option_text() {
    awk -v opt="--$1" '/^  -/ { on = ($1 == opt) } on { printf "%s ", $0 }' | tr -s ' '
}

# Configuration-file keys: the daemon's options above "--config".
sed -n '/also accepted as key=value/,/--config/p' "$work/xenvhostd.help" |
    grep -oE '^  --[a-z-]+' | sed 's/^  --//' | grep -vx config >"$work/keys"
[ -s "$work/keys" ] || fail "no configuration keys found in xenvhostd --help"
conf=$repo/toolstack-hooks/xenvhost.conf
while read -r key; do
    grep -qE "^\\.BI $(printf '%s' "$key" | sed 's/-/\\\\-/g') \" = " "$man/xenvhost.conf.5" ||
        fail "xenvhost.conf.5 does not describe the key $key"
    line=$(grep -E "^#$key = " "$conf") || fail "toolstack-hooks/xenvhost.conf has no '#$key = ...' line"
    # The value shown must be the default --help states, where it states one.
    default=$(option_text "$key" <"$work/xenvhostd.help" | sed -nE 's/.*\(default ([^)]*)\).*/\1/p')
    if [ -n "$default" ]; then
        equals "${line#*= }" "$default" "default of $key in toolstack-hooks/xenvhost.conf"
    fi
done <"$work/keys"
ok "xenvhost.conf(5) and the shipped xenvhost.conf cover the $(wc -l <"$work/keys") configuration keys, defaults as --help states"

echo "t-man: $checks checks passed"
