#!/bin/sh
# craftctl for strata build containers: craft-parts' control utility for
# part scriptlets, over files instead of craft-parts' socket.
#
#   craftctl default          run the default action of the current step
#   craftctl set NAME=VALUE   set a project variable (once per lifecycle,
#                             only from the part named by adopt-info)
#   craftctl get NAME         print a project variable
#
# The lifecycle prepares $STRATA_CRAFTCTL_DIR before the step and reads
# vars/ and set/ back after it:
#   default        the default action, a bash script
#   default.cwd    the directory it runs in
#   adopt-info     the part allowed to set variables (absent: none)
#   vars/NAME      the value of project variable NAME (present = declared)
#   set/NAME       present once NAME was set in this lifecycle
set -u

dir=${STRATA_CRAFTCTL_DIR:-}
scriptlet=${STRATA_CRAFTCTL_SCRIPTLET:-scriptlet}
part=${CRAFT_PART_NAME:-}

fail() {
    printf "craftctl: '%s' in part '%s' executed an invalid control API call: %s.\n" "$scriptlet" "$part" "$1" >&2
    exit 1
}

valid_component() {
    case $1 in
        [A-Za-z_]*) ;;
        *) return 1 ;;
    esac
    case $1 in
        *[!A-Za-z0-9_]*) return 1 ;;
    esac
    return 0
}

valid_name() {
    case $1 in
        '' | .* | *. | *..*) return 1 ;;
    esac
    rest=$1
    while :; do
        comp=${rest%%.*}
        valid_component "$comp" || return 1
        [ "$comp" = "$rest" ] && return 0
        rest=${rest#*.}
    done
}

if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "craftctl: STRATA_CRAFTCTL_DIR is not set; craftctl works only in part scriptlets" >&2
    exit 1
fi
if [ $# -lt 1 ]; then
    echo "usage: craftctl <command> [arguments]"
    exit 1
fi
cmd=$1
shift

case $cmd in
    default)
        [ $# -eq 0 ] || fail "invalid arguments to command 'default'"
        [ -f "$dir/default" ] || fail "the $(echo "${CRAFT_STEP_NAME:-}" | tr 'A-Z' 'a-z') step has no default action here"
        cwd=/
        [ -f "$dir/default.cwd" ] && cwd=$(cat "$dir/default.cwd")
        cd "$cwd" || exit 1
        /bin/bash "$dir/default"
        exit $?
        ;;
    set)
        [ $# -eq 1 ] || fail "invalid arguments to command 'set'"
        case $1 in
            *=*) ;;
            *) fail "invalid arguments to command 'set' (want key=value)" ;;
        esac
        name=${1%%=*}
        value=${1#*=}
        valid_name "$name" || fail "'$name' is not a valid variable name"
        [ -f "$dir/vars/$name" ] || fail "'$name' not in project variables"
        [ -e "$dir/set/$name" ] && fail "variable '$name' can be set only once"
        adopt=
        [ -f "$dir/adopt-info" ] && adopt=$(cat "$dir/adopt-info")
        [ -n "$adopt" ] || fail "variable '$name' can only be set in a part that adopts external metadata"
        [ "$adopt" = "$part" ] || fail "variable '$name' can only be set in part '$adopt'"
        mkdir -p "$dir/set"
        printf '%s' "$value" > "$dir/vars/$name.tmp" && mv "$dir/vars/$name.tmp" "$dir/vars/$name"
        : > "$dir/set/$name"
        ;;
    get)
        [ $# -eq 1 ] || fail "invalid number of arguments to command 'get'"
        valid_name "$1" || fail "'$1' is not a valid variable name"
        [ -f "$dir/vars/$1" ] || fail "'$1' not in project variables"
        value=$(cat "$dir/vars/$1"; printf x)
        value=${value%x}
        [ -n "$value" ] && printf '%s\n' "$value"
        ;;
    *)
        echo "craftctl: invalid command '$cmd'" >&2
        exit 1
        ;;
esac
exit 0
