#!/bin/sh
# Build the docker stack's images without a container registry: a Debian
# bookworm base with Python 3.11 from the Debian archive, Prometheus from
# Debian's package, and locust-ml's two images FROM that base.
#
# For hosts that can't pull from Docker Hub (air-gapped sites with a Debian
# mirror and a Python package index). With registry access you need none of
# this: `docker compose up --build` pulls python:3.11-slim-bookworm and
# prom/prometheus (docs/distributed.md).
#
#   docker/build-local-base.sh               # the four images below
#   docker/build-local-base.sh --base-only   # the base and Prometheus only
#   docker/build-local-base.sh --force       # rebuild even when up to date
#
# Images:
#   locust-ml-base:bookworm        debootstrap'd bookworm (minbase), python3,
#                                  a virtualenv at /opt/python on PATH
#   locust-ml-prometheus:bookworm  /usr/bin/prometheus from Debian, run like prom/prometheus
#   locust-ml:dev                  docker/Dockerfile.locust  } with PYTHON_IMAGE=
#   locust-ml-server:dev           docker/Dockerfile.server  } locust-ml-base:bookworm
#
# Each image carries the label org.locust-ml.inputs, a hash of what it is
# built from (for the base: the Debian suite, packages, Dockerfile and local
# CA certificates; for the others: their Dockerfile, the base image's id and,
# for locust-ml's two, every file .dockerignore lets into the build context).
# An image whose label matches is kept: a second run builds nothing.
#
# Needs: root (debootstrap) when the base is built, debootstrap, docker with
# BuildKit (Debian's docker.io), the Debian archive (DEBIAN_MIRROR, default
# http://deb.debian.org/debian) and pip's index reachable from this host:
# builds run with --network host, so apt and pip in them use this host's
# network (and proxy settings in the environment are passed on by docker).
# Local certificate authorities of this host (/usr/local/share/ca-certificates,
# e.g. a TLS-inspecting proxy's) are added to the base, so pip can verify its
# index through the proxy; --no-host-ca leaves them out.
#
# Environment: DOCKER (the docker client; default: the first of `docker` and
# /usr/bin/docker that can build with BuildKit), DEBIAN_MIRROR. The tags are
# fixed: docker/compose.yaml and compose.local.yaml name them.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=ca-certificates,python3,python3-venv
BASE=locust-ml-base:bookworm
PROMETHEUS=locust-ml-prometheus:bookworm
LOCUST=locust-ml:dev
SERVER=locust-ml-server:dev
HOST_CA_DIR=/usr/local/share/ca-certificates
LABEL=org.locust-ml.inputs

base_only=false
force=false
host_ca=true
for arg in "$@"; do
    case $arg in
        --base-only) base_only=true ;;
        --force) force=true ;;
        --no-host-ca) host_ca=false ;;
        -h | --help)
            sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build-local-base.sh: unknown argument $arg (expected --base-only, --force, --no-host-ca)" >&2
            exit 2
            ;;
    esac
done

# BuildKit: the project's Dockerfiles use RUN --mount. Clients before 23.0
# (Debian's docker.io 20.10) have it built in; later ones need the buildx
# plugin, without which they fall back to the legacy builder.
export DOCKER_BUILDKIT=1
buildkit_client() {
    "$1" buildx version >/dev/null 2>&1 && return 0
    version=$("$1" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
    [ -n "$version" ] && [ "$version" -lt 23 ]
}
if [ -z "${DOCKER:-}" ]; then
    for candidate in docker /usr/bin/docker; do
        if command -v "$candidate" >/dev/null && buildkit_client "$candidate"; then
            DOCKER=$candidate
            break
        fi
    done
    if [ -z "${DOCKER:-}" ]; then
        echo "build-local-base.sh: no docker client that builds with BuildKit (a client" \
            "before 23.0, e.g. Debian's docker.io, or one with the buildx plugin); set DOCKER" >&2
        exit 1
    fi
fi

now() { date +%s; }

digest() { sha256sum | cut -c1-16; }

# The label of an existing image, or nothing.
label_of() {
    "$DOCKER" image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

# up_to_date TAG HASH: the image exists and was built from these inputs.
up_to_date() {
    [ "$force" = false ] && [ "$(label_of "$1")" = "$2" ]
}

image_id() { "$DOCKER" image inspect -f '{{.Id}}' "$1"; }

host_cas() {
    if [ "$host_ca" = true ] && [ -d "$HOST_CA_DIR" ]; then
        find "$HOST_CA_DIR" -type f -name '*.crt' | LC_ALL=C sort
    fi
}

report() { echo "build-local-base.sh: $1 $2 ($(($(now) - $3)) s)"; }

# -- the base ----------------------------------------------------------------
t0=$(now)
base_hash=$(
    {
        echo "$SUITE $PACKAGES"
        cat "$ROOT/docker/Dockerfile.local-base"
        for ca in $(host_cas); do cat "$ca"; done
    } | digest
)
if up_to_date "$BASE" "$base_hash"; then
    report "$BASE" "up to date" "$t0"
else
    if [ "$(id -u)" != 0 ]; then
        echo "build-local-base.sh: building $BASE runs debootstrap, which needs root" >&2
        exit 1
    fi
    command -v debootstrap >/dev/null || {
        echo "build-local-base.sh: debootstrap not found (apt-get install debootstrap)" >&2
        exit 1
    }
    work=$(mktemp -d /var/tmp/locust-ml-rootfs.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    echo "build-local-base.sh: debootstrap $SUITE from $MIRROR"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/rootfs" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -20 "$work/debootstrap.log" >&2
        echo "build-local-base.sh: debootstrap failed" >&2
        exit 1
    }
    cat >"$work/rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://security.debian.org/debian-security $SUITE-security main
EOF
    for ca in $(host_cas); do cp "$ca" "$work/rootfs/usr/local/share/ca-certificates/"; done
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" --numeric-owner -cf - . | "$DOCKER" import - locust-ml-base:rootfs >/dev/null
    "$DOCKER" build --network host --build-arg ROOTFS=locust-ml-base:rootfs \
        --label "$LABEL=$base_hash" -t "$BASE" - <"$ROOT/docker/Dockerfile.local-base"
    "$DOCKER" image rm locust-ml-base:rootfs >/dev/null
    rm -rf "$work"
    trap - EXIT
    report "$BASE" built "$t0"
fi
base_id=$(image_id "$BASE")

# build TAG HASH DOCKERFILE CONTEXT BUILD-ARG: one image, unless up to date.
build() {
    t0=$(now)
    if up_to_date "$1" "$2"; then
        report "$1" "up to date" "$t0"
        return
    fi
    if [ "$4" = - ]; then
        "$DOCKER" build --network host --build-arg "$5" --label "$LABEL=$2" -t "$1" - <"$3"
    else
        "$DOCKER" build --network host --build-arg "$5" --label "$LABEL=$2" -t "$1" -f "$3" "$4"
    fi
    report "$1" built "$t0"
}

# -- Prometheus ----------------------------------------------------------------
prometheus_hash=$({ echo "$base_id"; cat "$ROOT/docker/Dockerfile.local-prometheus"; } | digest)
build "$PROMETHEUS" "$prometheus_hash" "$ROOT/docker/Dockerfile.local-prometheus" - "BASE_IMAGE=$BASE"
[ "$base_only" = true ] && exit 0

# -- locust-ml's images ----------------------------------------------------------
# What reaches the build context: .dockerignore's allowlist (its `!` lines).
context_hash=$(
    cd "$ROOT"
    # shellcheck disable=SC2046 # one word per allowlisted path
    find $(sed -n 's/^!//p' .dockerignore) -type f ! -name '*.pyc' ! -path '*/__pycache__/*' |
        LC_ALL=C sort | xargs sha256sum | digest
)
for pair in "$LOCUST:Dockerfile.locust" "$SERVER:Dockerfile.server"; do
    tag=${pair%:*}
    file=$ROOT/docker/${pair##*:}
    hash=$({ echo "$base_id $context_hash"; cat "$file"; } | digest)
    build "$tag" "$hash" "$file" "$ROOT" "PYTHON_IMAGE=$BASE"
done
