#!/bin/sh
# claim-folders.sh [--keep PATH] OWNER DIR...
#
# Creates each DIR and gives OWNER (user:group, names or numbers) whatever in it is not
# OWNER's yet: bind mounts arrive owned by the host's user. Run as root by the backend
# image's entrypoint, on folders whose contents anyone with access to the host folder may
# have planted, so it changes only what it is given, never what a name points to:
#
# - symlinks are not followed, neither while walking (find without -L) nor when changing
#   owner (chown -h changes the link itself); -execdir runs chown from inside each folder
#   on ./NAME, so a folder swapped for a symlink mid-walk cannot redirect it either;
# - a file with more than one name (a hard link) is left alone with a warning: its other
#   name may be outside the folder, e.g. a root-owned file linked in where the kernel's
#   fs.protected_hardlinks is off;
# - -xdev: a filesystem mounted inside a folder is not walked into;
# - --keep PATH (a folder inside a DIR) is skipped whole: LOG_DIR/nginx holds nginx's own
#   logs, written by its root master process, and stays nginx's.
#
# Cheap on every start after the first: only what is not OWNER's yet is touched.
# Exits non-zero if a folder cannot be created or an owner cannot be changed.
set -eu

me=imagehost-claim-folders
# One spelling of a path (no doubled or trailing slash), so that find's paths under a
# DIR compare equal to --keep however the variables were written ("/srv/logs/" + "/nginx").
normal() {
    printf '%s' "$1" | sed -e 's#//*#/#g' -e 's#\(.\)/$#\1#'
}
keep=
if [ "${1:-}" = --keep ]; then
    keep=$(normal "${2:?usage: $0 [--keep PATH] OWNER DIR...}")
    shift 2
fi
owner=${1:?usage: $0 [--keep PATH] OWNER DIR...}
shift
user=${owner%%:*}
group=${owner#*:}

for dir do
    dir=$(normal "$dir")
    mkdir -p "$dir"
    find "$dir" -xdev \
        \( -path "$keep" -prune \) -o \
        \( \! -user "$user" -o \! -group "$group" \) \( \
            \! -type d -links +1 -fprintf /dev/stderr "$me: left %p alone: it has other names (hard links)\n" -o \
            -execdir chown -h "$owner" {} + \
        \)
done
