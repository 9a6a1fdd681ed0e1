#!/bin/sh
# Entrypoint of the backend image. As root: create the data folders and give the app user
# what it does not own yet in them (bind mounts arrive owned by the host's user; see
# imagehost-claim-folders for what it leaves alone: symlinks' targets, hard-linked files,
# other filesystems, and nginx's own logs); then run the command as the app user. Run as
# any other user, it only execs the command.
set -eu

if [ "$(id -u)" = 0 ]; then
    imagehost-claim-folders --keep "${LOG_DIR:?}/nginx" app:app "${IMAGES_DIR:?}" "${DATA_DIR:?}" "$LOG_DIR"
    exec setpriv --reuid=app --regid=app --init-groups -- "$@"
fi
exec "$@"
