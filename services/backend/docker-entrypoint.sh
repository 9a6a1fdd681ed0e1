#!/bin/sh
# Entrypoint of the backend image. As root: create the data folders and give the app user
# what it does not own yet in them (bind mounts arrive owned by the host's user); then run
# the command as the app user. Run as any other user, it only execs the command.
set -eu

if [ "$(id -u)" = 0 ]; then
    for dir in "${IMAGES_DIR:?}" "${DATA_DIR:?}" "${LOG_DIR:?}"; do
        mkdir -p "$dir"
        # Only what is not the app's yet: cheap on every start after the first.
        find "$dir" -xdev \! -user app -exec chown app:app {} +
    done
    exec setpriv --reuid=app --regid=app --init-groups -- "$@"
fi
exec "$@"
