#!/bin/sh
# Renders templates/imagehost.conf.template into an nginx config. One script for both
# ways of running imagehost:
#
#   render-config.sh                 in the nginx image, as a /docker-entrypoint.d/ hook:
#                                    /etc/nginx/imagehost/imagehost.conf.template
#                                    -> /etc/nginx/conf.d/imagehost.conf, including the
#                                    snippets the Dockerfile put in /etc/nginx/imagehost/snippets
#   render-config.sh --local RUN_DIR for the local runner: the template beside this script
#                                    -> RUN_DIR/imagehost.conf, plus RUN_DIR/nginx.conf, a
#                                    main file that keeps pid and temp files in RUN_DIR,
#                                    and a copy of templates/snippets/ in RUN_DIR/snippets
#
# The snippets are included by absolute path (${SNIPPETS_DIR}), never from conf.d/:
# the image's nginx.conf includes every conf.d/*.conf at the http level.
# Reads the settings marked `nginx=True` in the backend's registry (config.SETTINGS,
# which says what each one is), with the same defaults: this script runs in the nginx
# image without Python, so it keeps its own copy of them in the assignments below,
# checked against the registry by tests/unit/test_settings_registry.py. FRONTEND_DIR's
# default is services/frontend beside this script's folder.
#
# Only the template's own variables are substituted (envsubst with a list), so nginx's
# $host, $request_id and the like survive, as in the official image's template hook.
# Exits non-zero, naming the variable, when a value would make a broken config.
set -eu

me=imagehost-render-config
die() {
    echo "$me: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --local ]; then
    [ -n "${2:-}" ] || die "usage: $0 [--local RUN_DIR]"
    mkdir -p "$2/tmp" "$2/cache"
    run_dir=$(cd "$2" && pwd)
    template=$here/templates/imagehost.conf.template
    output=$run_dir/imagehost.conf
    snippets_from=$here/templates/snippets
    SNIPPETS_DIR=$run_dir/snippets
    S3_CACHE_DIR=$run_dir/cache/images
    # A unix socket's path holds at most 107 bytes (sun_path): a deep run folder's socket
    # goes to /tmp instead, named after the folder.
    S3_ORIGIN_SOCKET=$run_dir/tmp/s3-origin.sock
    [ ${#S3_ORIGIN_SOCKET} -le 107 ] ||
        S3_ORIGIN_SOCKET=/tmp/imagehost-s3-origin-$(printf '%s' "$run_dir" | cksum | cut -d ' ' -f 1).sock
else
    run_dir=
    template=/etc/nginx/imagehost/imagehost.conf.template
    output=/etc/nginx/conf.d/imagehost.conf
    snippets_from=/etc/nginx/imagehost/snippets
    SNIPPETS_DIR=$snippets_from
    S3_CACHE_DIR=/var/cache/nginx/imagehost
    S3_ORIGIN_SOCKET=/var/cache/nginx/imagehost-s3-origin.sock
fi

# whole_number NAME VALUE LOW HIGH
whole_number() {
    case $2 in
    '' | *[!0-9]*) die "$1 must be a whole number, got '$2'" ;;
    esac
    [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || die "$1 must be between $3 and $4, got $2"
}

# absolute NAME PATH: nginx resolves relative paths against its prefix, not against the
# directory imagehost was started in, so make them absolute here.
absolute() {
    case $2 in
    '') die "$1 must be a directory path, got an empty value" ;;
    /*) printf '%s' "$2" ;;
    *) printf '%s/%s' "$PWD" "${2#./}" ;;
    esac
}

WEB_SERVER_WORKERS=${WEB_SERVER_WORKERS:-2}
WEB_SERVER_START_PORT=${WEB_SERVER_START_PORT:-8001}
UPSTREAM_HOST=${UPSTREAM_HOST:-127.0.0.1}
APP_UPSTREAMS=${APP_UPSTREAMS:-}
HTTP_BIND=${HTTP_BIND:-127.0.0.1}
HTTP_PORT=${HTTP_PORT:-8080}
MAX_UPLOAD_BYTES=${MAX_UPLOAD_BYTES:-5242880}
UPLOAD_RATE_LIMIT=${UPLOAD_RATE_LIMIT:-2r/s}
UPLOAD_RATE_BURST=${UPLOAD_RATE_BURST:-20}
METRICS_ALLOW=${METRICS_ALLOW:-127.0.0.1}
STORAGE=${STORAGE:-local}
S3_ENDPOINT_URL=${S3_ENDPOINT_URL:-}
S3_BUCKET=${S3_BUCKET:-}
S3_KEY_PREFIX=${S3_KEY_PREFIX:-}
S3_CACHE_MAX_SIZE=${S3_CACHE_MAX_SIZE:-1g}
S3_DIRECT_UPLOADS=${S3_DIRECT_UPLOADS:-false}
S3_PUBLIC_ENDPOINT_URL=${S3_PUBLIC_ENDPOINT_URL:-}

whole_number WEB_SERVER_WORKERS "$WEB_SERVER_WORKERS" 1 64
whole_number WEB_SERVER_START_PORT "$WEB_SERVER_START_PORT" 1 65535
whole_number HTTP_PORT "$HTTP_PORT" 1 65535
whole_number MAX_UPLOAD_BYTES "$MAX_UPLOAD_BYTES" 1 1073741824
whole_number UPLOAD_RATE_BURST "$UPLOAD_RATE_BURST" 1 1000000
[ $((WEB_SERVER_START_PORT + WEB_SERVER_WORKERS - 1)) -le 65535 ] ||
    die "WEB_SERVER_START_PORT + WEB_SERVER_WORKERS - 1 must be at most 65535"
# nginx's rate syntax: https://nginx.org/en/docs/http/ngx_http_limit_req_module.html#limit_req_zone
echo "$UPLOAD_RATE_LIMIT" | grep -Eq '^[1-9][0-9]*r/[sm]$' ||
    die "UPLOAD_RATE_LIMIT must look like 2r/s or 30r/m, got '$UPLOAD_RATE_LIMIT'"
echo "$UPSTREAM_HOST" | grep -Eq '^[A-Za-z0-9.:-]+$' ||
    die "UPSTREAM_HOST must be a host name or address, got '$UPSTREAM_HOST'"
echo "$HTTP_BIND" | grep -Eq '^[A-Za-z0-9.:-]+$' ||
    die "HTTP_BIND must be an address such as 127.0.0.1 or 0.0.0.0, got '$HTTP_BIND'"

# Who may reach /metrics: one `allow` per address or CIDR range, then `deny all`.
# https://nginx.org/en/docs/http/ngx_http_access_module.html
METRICS_ACCESS=
for address in $METRICS_ALLOW; do
    echo "$address" | grep -Eq '^([0-9A-Fa-f.:]+(/[0-9]{1,3})?|all)$' ||
        die "METRICS_ALLOW must be addresses or CIDR ranges (127.0.0.1 10.0.0.0/8 ::1) or all, got '$address'"
    METRICS_ACCESS="${METRICS_ACCESS}allow $address; "
done
METRICS_ACCESS="${METRICS_ACCESS}deny all;"

# s3_settings: check the bucket's settings and set IMAGE_SOURCE, PREVIEW_SOURCE and
# S3_ORIGIN (the bucket's upstream, the cache and the small server between them) for
# STORAGE=s3. nginx fetches path-style, <endpoint>/<bucket>/<prefix><name>, unsigned: the
# bucket lets anyone read those keys (docs/s3.md) and nothing else of it is ever asked for.
s3_settings() {
    echo "$S3_ENDPOINT_URL" | grep -Eq '^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?/?$' ||
        die "S3_ENDPOINT_URL must be http:// or https:// and a host with an optional port, nothing after it, got '$S3_ENDPOINT_URL'"
    # The S3 rules for bucket names (no dots at the ends, lower case).
    echo "$S3_BUCKET" | grep -Eq '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' ||
        die "S3_BUCKET must be a bucket name (3-63 of a-z 0-9 . -), got '$S3_BUCKET'"
    { [ -z "$S3_KEY_PREFIX" ] || echo "$S3_KEY_PREFIX" | grep -Eq '^([A-Za-z0-9_.-]+/)+$'; } &&
        ! echo "$S3_KEY_PREFIX" | grep -Eq '(^|/)\.+/' ||
        die "S3_KEY_PREFIX must be empty or folders ending in / (a-z A-Z 0-9 _ . -, no . or .. folder), got '$S3_KEY_PREFIX'"
    echo "$S3_CACHE_MAX_SIZE" | grep -Eq '^[1-9][0-9]*[kKmMgG]?$' ||
        die "S3_CACHE_MAX_SIZE must be a size such as 512m or 10g, got '$S3_CACHE_MAX_SIZE'"
    # Left behind by an nginx that was killed, it would stop this one from listening. A
    # running nginx's own (a second `make run` on the same port) is left alone.
    nginx_runs_from_run_dir || rm -f "$S3_ORIGIN_SOCKET"
    s3_scheme=${S3_ENDPOINT_URL%%://*}
    s3_host=${S3_ENDPOINT_URL#*://}
    s3_host=${s3_host%/}
    s3_path=/$S3_BUCKET/$S3_KEY_PREFIX
    s3_fetch="proxy_set_header Host $s3_host;"
    [ "$s3_scheme" = http ] ||
        s3_fetch="$s3_fetch proxy_ssl_server_name on; proxy_ssl_name ${s3_host%:*}; proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;"
    IMAGE_SOURCE="proxy_pass http://imagehost_s3_origin; include $SNIPPETS_DIR/s3-object.conf; include $SNIPPETS_DIR/bucket-headers.conf;"
    PREVIEW_SOURCE=$IMAGE_SOURCE
    S3_ORIGIN="upstream imagehost_s3 {
    server $s3_host;
    keepalive 16;
}

# The disk cache in front of the bucket: the size limit is S3_CACHE_MAX_SIZE; entries not
# asked for in 30 days go first. https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path
proxy_cache_path $S3_CACHE_DIR levels=1:2 keys_zone=imagehost_images:10m max_size=$S3_CACHE_MAX_SIZE inactive=30d use_temp_path=off;

# The Content-Type of what comes from the bucket: from the name's extension, as the
# image locations' types give a file from IMAGES_DIR, never the object's own (whatever
# put it there, a copy made when switching to S3 included). snippets/s3-object.conf.
map \$uri \$imagehost_s3_type {
    default application/octet-stream;
    ~\\.jpg\$ image/jpeg;
    ~\\.png\$ image/png;
    ~\\.gif\$ image/gif;
    ~\\.webp\$ image/webp;
    ~\\.avif\$ image/avif;
}

$(cache_alignment)

# Between the cache and the bucket. The image locations proxy to this server, which
# fetches the object and hands on its status, length and ETag, and a padding header,
# nothing else of the bucket's (snippets/s3-fetch.conf). nginx stores what this server
# answers in the cache file, headers first; the padding makes them end at a multiple of
# 4096 bytes, so that the image in the file starts on a page. A cached image then goes
# out with sendfile as a file from IMAGES_DIR does; from mid-page, the kernel splits
# every page of it in two on the way to the socket (docs/performance.md, S3 static).
upstream imagehost_s3_origin {
    server unix:$S3_ORIGIN_SOCKET;
    keepalive 16;
}

server {
    listen unix:$S3_ORIGIN_SOCKET;
    server_tokens off;
    access_log off;
    # The 1,000th answer on a connection (the default) would say Connection: close.
    keepalive_requests 1000000;
    error_log $LOG_DIR/nginx/error.log warn;

    location ~ \"^/images/(?<imagehost_object>[A-Za-z0-9_-]{12,128}\\.(?:jpg|png|gif|webp|avif)|previews/[A-Za-z0-9_-]{12,128}\\.(?:jpg|png|gif|webp|avif)\\.webp)\$\" {
        proxy_pass $s3_scheme://imagehost_s3$s3_path\$imagehost_object;
        $s3_fetch
        include $SNIPPETS_DIR/s3-fetch.conf;
        include $SNIPPETS_DIR/bucket-headers.conf;
        add_header X-Pad \"$(repeat x $S3_PAD_FIXED)\$imagehost_pad_sixteens\$imagehost_pad_ones\";
    }

    location / {
        return 404;
    }
}"
}

# nginx_runs_from_run_dir: whether the nginx of RUN_DIR/nginx.pid runs (--local only;
# in the nginx image this runs before nginx starts).
nginx_runs_from_run_dir() {
    [ -n "$run_dir" ] && [ -f "$run_dir/nginx.pid" ] || return 1
    grep -q '^nginx' "/proc/$(cat "$run_dir/nginx.pid")/cmdline" 2>/dev/null
}

# repeat CHARACTER COUNT: the character COUNT times.
repeat() {
    [ "$2" -gt 0 ] || return 0
    printf "%${2}s" '' | tr ' ' "$1"
}

# The padding header's length, which makes the cached headers end on a page. What is
# stored before the image in a cache file: nginx's own header (336 bytes on 64-bit
# Linux), "\nKEY: <the key, \$uri>\n", then this origin server's answer: "HTTP/1.1 200
# OK", Server: nginx, Date (a fixed width), Content-Length, Connection: keep-alive, ETag
# and X-Pad, each ending in CRLF, and an empty line. All of it is fixed (473 bytes) but
# the key, the length and the ETag, whose lengths add up to V, and the padding, which
# is then 4096 - 473 - V characters. V runs from 25 (a 12-character name) to 255 here,
# one map for its sixteens and one for the rest; a V outside them, or a bucket's header
# the origin server does not hide, only costs speed.
# tests/integration/test_s3_images_through_nginx.py checks where the images start.
S3_PAD_FIXED=$((4096 - 473 - 255)) # the padding of the longest V; the maps add the rest
cache_alignment() {
    key='"$uri$upstream_http_content_length$upstream_http_etag"'
    sixteens=
    ones=
    i=0
    while [ $i -le 15 ]; do
        sixteens="$sixteens    \"~^.{$((16 * i)),$((16 * i + 15))}\$\" \"$(repeat x $((16 * (15 - i))))\";
"
        ones="$ones    \"~^(?:.{16})*.{$i}\$\" \"$(repeat x $((15 - i)))\";
"
        i=$((i + 1))
    done
    printf '%s\n' "# The padding for V, the length of the key, the Content-Length and the ETag together" \
        "# (cache_alignment in render-config.sh): 16 * (15 - V / 16) characters ..." \
        "map $key \$imagehost_pad_sixteens {" "    default \"\";" "$sixteens}" \
        "# ... and 15 - V % 16." \
        "map $key \$imagehost_pad_ones {" "    default \"\";" "$ones}"
}

# PAGE_CONNECT_SRC, the page's CSP connect-src: the page itself, and with direct uploads
# the bucket as browsers reach it, where the page posts files (both addressing styles:
# <endpoint>/<bucket> and <bucket>.<endpoint>). The backend refuses the same settings
# the same way (config.py).
PAGE_CONNECT_SRC="'self'"
[ -z "$S3_PUBLIC_ENDPOINT_URL" ] ||
    echo "$S3_PUBLIC_ENDPOINT_URL" | grep -Eq '^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?/?$' ||
    die "S3_PUBLIC_ENDPOINT_URL must be empty or http:// or https:// and a host with an optional port, nothing after it, got '$S3_PUBLIC_ENDPOINT_URL'"
case $(echo "$S3_DIRECT_UPLOADS" | tr '[:upper:]' '[:lower:]') in
1 | true | yes | on)
    [ "$STORAGE" = s3 ] ||
        die "S3_DIRECT_UPLOADS=true needs STORAGE=s3: browsers send files straight to a bucket. With STORAGE=local, uploads go through POST /upload: set S3_DIRECT_UPLOADS=false"
    public=$S3_PUBLIC_ENDPOINT_URL
    [ -n "$public" ] || public=$S3_ENDPOINT_URL # checked with the other S3 settings below
    public=${public%/}
    PAGE_CONNECT_SRC="'self' $public"
    case ${public#*://} in
    \[*) ;; # an IPv6 address has no virtual-host form
    *) PAGE_CONNECT_SRC="$PAGE_CONNECT_SRC ${public%%://*}://$S3_BUCKET.${public#*://}" ;;
    esac
    ;;
0 | false | no | off | '') ;;
*) die "S3_DIRECT_UPLOADS must be true or false, got '$S3_DIRECT_UPLOADS'" ;;
esac

IMAGES_DIR=$(absolute IMAGES_DIR "${IMAGES_DIR:-./images}")
LOG_DIR=$(absolute LOG_DIR "${LOG_DIR:-./logs}")
FRONTEND_DIR=$(absolute FRONTEND_DIR "${FRONTEND_DIR:-$(dirname "$here")/frontend}")

# Where /images/<name> and /images/previews/<name>.webp come from: IMAGES_DIR (local),
# or the bucket (s3) through a disk cache. Each is one line of the image locations.
case $STORAGE in
local)
    IMAGE_SOURCE="alias $IMAGES_DIR/\$imagehost_name;"
    PREVIEW_SOURCE="alias $IMAGES_DIR/previews/\$imagehost_preview;"
    S3_ORIGIN=
    ;;
s3)
    s3_settings
    ;;
*) die "STORAGE must be local or s3, got '$STORAGE'" ;;
esac

# IPv6 addresses need brackets in listen and server.
bracket() {
    case $1 in
    *:*) printf '[%s]' "$1" ;;
    *) printf '%s' "$1" ;;
    esac
}
NGINX_LISTEN=$(bracket "$HTTP_BIND"):$HTTP_PORT

# servers HOST FIRST_PORT FAILURES: one server line per worker of the node at HOST,
# whose workers listen on FIRST_PORT and the WEB_SERVER_WORKERS - 1 ports after it.
# FAILURES is when nginx leaves a server out (max_fails, fail_timeout); its share goes
# to the others (proxy_next_upstream in the template: a refused connection, a POST too,
# goes on to the next server, since nothing was sent).
servers() {
    i=0
    while [ "$i" -lt "$WEB_SERVER_WORKERS" ]; do
        printf '    server %s:%s %s;\n' "$1" $(($2 + i)) "$3"
        i=$((i + 1))
    done
}

if [ -z "$APP_UPSTREAMS" ]; then
    # This machine's workers. One that fails 3 times within a second is left out for a
    # second: the supervisor restarts a worker within a second on the same listening
    # socket, so a longer exclusion would only turn away requests it could serve.
    UPSTREAM_SERVERS=$(servers "$(bracket "$UPSTREAM_HOST")" "$WEB_SERVER_START_PORT" "max_fails=3 fail_timeout=1s")
else
    # Many app nodes (README, "Many nodes"): "host:first_port ...", every node running
    # WEB_SERVER_WORKERS workers. A node's server that fails once is left out for 10 s:
    # a node down (killed, restarting, its host gone) is down for seconds, and a request
    # sent to a host that has vanished waits for its connection to fail (up to
    # proxy_connect_timeout) before it goes on, so that should happen rarely.
    UPSTREAM_SERVERS=
    for node in $APP_UPSTREAMS; do
        echo "$node" | grep -Eq '^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$' ||
            die "APP_UPSTREAMS must be host:first_port entries separated by spaces (app-1:8001 10.0.0.7:8001), got '$node'"
        first_port=${node##*:}
        whole_number "APP_UPSTREAMS' first port" "$first_port" 1 $((65536 - WEB_SERVER_WORKERS))
        UPSTREAM_SERVERS="$UPSTREAM_SERVERS$(servers "${node%:*}" "$first_port" "max_fails=1 fail_timeout=10s")
"
    done
fi

# Room for the multipart envelope (boundaries, part headers) around a file of exactly
# MAX_UPLOAD_BYTES; the backend checks the file itself. The same sum is the backend's
# Config.max_body_bytes (MULTIPART_ENVELOPE_BYTES): keep the two equal.
CLIENT_MAX_BODY_SIZE=$((MAX_UPLOAD_BYTES + 65536))

# The limit as the backend words it (errors.describe_size): 5242880 -> "5 MiB".
MAX_UPLOAD_TEXT=$(awk -v n="$MAX_UPLOAD_BYTES" 'BEGIN {
    split("GiB MiB KiB", unit, " "); split("1073741824 1048576 1024", size, " ")
    for (i = 1; i <= 3; i++) if (n >= size[i]) {
        text = sprintf("%.1f", n / size[i]); sub(/\.0$/, "", text)
        print text " " unit[i]; exit
    }
    print n " bytes"
}')

export UPSTREAM_SERVERS UPLOAD_RATE_LIMIT UPLOAD_RATE_BURST NGINX_LISTEN LOG_DIR \
    IMAGES_DIR FRONTEND_DIR CLIENT_MAX_BODY_SIZE MAX_UPLOAD_BYTES MAX_UPLOAD_TEXT SNIPPETS_DIR \
    METRICS_ACCESS IMAGE_SOURCE PREVIEW_SOURCE S3_ORIGIN PAGE_CONNECT_SRC

[ -f "$template" ] || die "no template at $template"
[ -d "$snippets_from" ] || die "no snippets folder at $snippets_from"
mkdir -p "$LOG_DIR/nginx" "$(dirname "$output")"
if [ "$snippets_from" != "$SNIPPETS_DIR" ]; then
    # A fresh copy, so a snippet deleted from the checkout is gone from RUN_DIR too.
    rm -rf "$SNIPPETS_DIR"
    cp -R "$snippets_from" "$SNIPPETS_DIR"
fi
variables='${UPSTREAM_SERVERS} ${UPLOAD_RATE_LIMIT} ${UPLOAD_RATE_BURST} ${NGINX_LISTEN}
${LOG_DIR} ${FRONTEND_DIR} ${CLIENT_MAX_BODY_SIZE} ${MAX_UPLOAD_BYTES}
${MAX_UPLOAD_TEXT} ${SNIPPETS_DIR} ${METRICS_ACCESS} ${IMAGE_SOURCE} ${PREVIEW_SOURCE}
${S3_ORIGIN} ${PAGE_CONNECT_SRC}'
envsubst "$variables" <"$template" >"$output.new"
mv "$output.new" "$output"
nodes=$APP_UPSTREAMS
[ -n "$nodes" ] || nodes=$UPSTREAM_HOST:$WEB_SERVER_START_PORT
echo "$me: wrote $output (workers $nodes+$WEB_SERVER_WORKERS each, listen $NGINX_LISTEN, images from $STORAGE)"

[ -n "$run_dir" ] || exit 0

# The main file for running nginx without the system's nginx.conf: everything it writes
# stays in RUN_DIR and LOG_DIR. Started by an ordinary user, nginx runs its workers as that
# user. Started as root, the workers would face the network as root with `user root`:
# they run as www-data (made by Debian's nginx package) or else nobody, with the user's
# own group (nginx's default group "nobody" does not exist on Debian). Those need to
# reach FRONTEND_DIR, IMAGES_DIR and RUN_DIR/tmp: services/local/run.py checks that.
mime_types=/etc/nginx/mime.types
[ -f "$mime_types" ] || die "no $mime_types: install nginx (Debian: apt-get install nginx)"
worker_user() {
    for user in www-data nobody; do
        if id -u "$user" >/dev/null 2>&1; then
            printf '%s %s' "$user" "$(id -gn "$user")"
            return
        fi
    done
    die "no www-data or nobody user to run nginx's workers as (run as another user than root)"
}
user_line=
[ "$(id -u)" != 0 ] || user_line="user $(worker_user);"
{
    echo "# Written by render-config.sh --local; rendered again on every start."
    [ -z "$user_line" ] || echo "$user_line"
    echo "worker_processes auto;"
    # Regular expressions compiled to machine code: every request meets several (the
    # dot-segment check, the image locations, the type map). The Dockerfile adds the same.
    echo "pcre_jit on;"
    echo "daemon off;"
    echo "pid $run_dir/nginx.pid;"
    echo "error_log $LOG_DIR/nginx/error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "    include $mime_types;"
    echo "    default_type application/octet-stream;"
    for kind in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${kind}_temp_path $run_dir/tmp/$kind;"
    done
    echo "    include $output;"
    echo "}"
} >"$run_dir/nginx.conf"
echo "$me: wrote $run_dir/nginx.conf"
