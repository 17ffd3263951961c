# shellcheck shell=bash
# Reading an installed systemd unit the way systemd would start it, for a
# domain without systemd (dom0 in scenario 40, the driver domain of scenario
# 45). Sourced after common.sh; set `unit` to the unit file's path first.

# The last assignment of KEY in the unit file.
# shellcheck disable=SC2154 # `unit` is set by the script that sources this
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }

# systemd's expansion of ExecStart: $NAME is split into words, ${NAME} is
# one word, other words are taken as they are. Quoting and specifiers are
# not used by the unit and are refused rather than misread.
declare -A unit_env=()
read_environment_file() {
    local spec=$1 file line key value
    file=${spec#-}
    if [ ! -e "$file" ]; then
        [ "$spec" != "$file" ] || die "EnvironmentFile $file does not exist"
        return 0
    fi
    while IFS= read -r line; do
        case $line in '' | '#'* | ';'*) continue ;; esac
        key=${line%%=*}
        value=${line#*=}
        value=${value#[\"\']}
        value=${value%[\"\']}
        unit_env[$key]=$value
    done <"$file"
}
declare -a exec_argv=()
expand_exec_start() {
    local line=$1 word key value
    case $line in *\"* | *\'* | *%*) die "ExecStart '$line' uses quoting or specifiers" ;; esac
    case $line in [-@+!:]*) die "ExecStart '$line' has a prefix" ;; esac
    # shellcheck disable=SC2086 # ExecStart is split into words
    for word in $line; do
        case $word in
            \$\{*\})
                key=${word#\$\{}
                key=${key%\}}
                exec_argv+=("${unit_env[$key]:-}")
                ;;
            \$*)
                key=${word#\$}
                value=${unit_env[$key]:-}
                # shellcheck disable=SC2206 # systemd splits $NAME into words
                exec_argv+=($value)
                ;;
            *\$*) die "ExecStart word '$word' mixes text and a variable" ;;
            *) exec_argv+=("$word") ;;
        esac
    done
}
