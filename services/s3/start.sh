#!/bin/bash
# The S3 stand-in's command (see the Dockerfile: a LOCAL STAND-IN for a real bucket).
# First start: make a one-node Ceph cluster in /var/lib/imagehost-s3 (a monitor, one
# bluestore OSD, no manager), the S3 user of AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and
# the bucket S3_BUCKET; later starts bring the same cluster back. Then it waits on the
# gateway: the container lives as long as radosgw does. /run/imagehost-s3-ready marks
# the bucket usable (the healthcheck).
#
# The settings that matter, each found the hard way (../shared/tools/ceph-s3 in the
# project's workspace has the long story):
# - radosgw insists on a secure connection to the monitor even with `auth ... = none`
#   and loops on "get_initial_auth_request returned -13": `ms mon client mode = crc secure`;
# - `paxos propose interval = 0.05` (default 1 s) brings the gateway's first start from
#   about 9 s to about 1 s, and the first bucket and PUT from 2 s to 0.1-0.2 s;
# - `osd pool default size = 1`, `mon allow pool size one`, `osd crush chooseleaf type
#   = 0`: one OSD holds every pool;
# - a bluestore block file inside the OSD's folder named `block` loops (ELOOP): beside it.
set -euo pipefail

BASE=/var/lib/imagehost-s3
RUN=/run/ceph-s3
READY=/run/imagehost-s3-ready
CONF=$BASE/ceph.conf
export CEPH_CONF=$CONF
say() { echo "imagehost-s3: $*"; }
die() { echo "imagehost-s3: $*" >&2; exit 1; }

[ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] ||
    die "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in .env (any values of 16+ and 32+ letters and digits): this stand-in makes its S3 user with them, and the app nodes sign with them"
[ -n "${S3_BUCKET:-}" ] || die "S3_BUCKET is empty"
rm -f "$READY"
mkdir -p "$BASE" "$RUN" /var/log/ceph-s3
first_start=false
if [ ! -f "$BASE/made" ]; then # nothing yet, or a first start cut short: from scratch
    first_start=true
    rm -rf "${BASE:?}"/*
    uuidgen >"$BASE/fsid"
fi

cat >"$CONF" <<CONF
[global]
fsid = $(cat "$BASE/fsid")
mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $RUN
pid file = $RUN/\$name.pid
admin socket = $RUN/\$name.asok
log file = /var/log/ceph-s3/\$name.log
crash dir = /var/log/ceph-s3/crash
keyring = /dev/null
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.05

[mon]
mon data = $BASE/\$name

[osd]
osd data = $BASE/\$name
osd objectstore = bluestore
bluestore block path = $BASE/\$name.block
bluestore block size = 2147483648
bluestore block create = true
osd memory target = 939524096
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.s3]
ms mon client mode = crc secure
rgw data = $BASE/rgw
rgw frontends = beast endpoint=0.0.0.0:7480
rgw thread pool size = 64
rgw dynamic resharding = false
rgw enable usage log = false
CONF

# retry SECONDS COMMAND...: run COMMAND every half second until it succeeds.
retry() {
    local tries=$(($1 * 2))
    shift
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.5
    done
}

if $first_start; then
    mkdir -p "$BASE/mon.a" "$BASE/osd.0" "$BASE/rgw"
    monmaptool --create --clobber --fsid "$(cat "$BASE/fsid")" \
        --addv a "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]" "$RUN/monmap" >/dev/null
    ceph-mon --mkfs -i a --monmap "$RUN/monmap"
fi
ceph-mon -i a
retry 30 ceph --connect-timeout 2 mon stat || die "the monitor did not answer within 30 s"
if $first_start; then
    osd_uuid=$(uuidgen)
    osd_id=$(ceph osd new "$osd_uuid")
    [ "$osd_id" = 0 ] || die "unexpected OSD id $osd_id"
    ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1 ||
        die "ceph-osd --mkfs failed: $(tail -5 /var/log/ceph-s3/osd.0.log)"
fi
ceph-osd -i 0 2>/dev/null # its stderr: a harmless "falling back to public interface"
retry 60 sh -c 'ceph osd stat -f json | grep -q "\"num_up_osds\":1"' || die "the OSD did not come up within 60 s"
radosgw -n client.rgw.s3
retry 120 curl -sf -o /dev/null http://127.0.0.1:7480/ || die "the gateway did not answer within 120 s"
radosgw-admin user info --uid=imagehost >/dev/null 2>&1 ||
    radosgw-admin user create --uid=imagehost --display-name=imagehost \
        --access-key="$AWS_ACCESS_KEY_ID" --secret-key="$AWS_SECRET_ACCESS_KEY" >/dev/null
touch "$BASE/made"
imagehost-s3-make-bucket
touch "$READY"
say "ready on port 7480 (first start: $first_start)"
exec tail --pid="$(cat "$RUN/client.rgw.s3.pid")" -f /dev/null
