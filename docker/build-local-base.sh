#!/usr/bin/env bash
# Build the image's base without any registry: a Debian bookworm root filesystem (python3.11, as
# the lock expects) made with debootstrap and imported into the container engine. Use it where
# Docker Hub is out of reach:  --build-arg BASE_IMAGE=localhost/gridcast-base:bookworm
#
#   docker/build-local-base.sh [IMAGE]        (default localhost/gridcast-base:bookworm; needs root)
#
# The rootfs tarball is cached in $GRIDCAST_CACHE (default ~/.cache/gridcast), keyed by suite,
# package list and architecture; delete it to pick up Debian point releases.
set -euo pipefail

IMAGE=${1:-localhost/gridcast-base:bookworm}
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What python:3.11-slim offers our steps: python with venv, useradd, CA roots, /etc/services, zones.
PACKAGES=python3,python3-venv,passwd,ca-certificates,netbase,tzdata
ENGINE=${CONTAINER_ENGINE:-podman}
CACHE=${GRIDCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridcast}/base
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "$(uname -m)" | sha256sum | cut -c1-16)
TARBALL=$CACHE/$SUITE-$KEY.tar

current=$("$ENGINE" image inspect --format '{{ index .Labels "org.gridcast.base-key" }}' "$IMAGE" 2>/dev/null || true)
if [ "$current" = "$KEY" ]; then
  echo "$IMAGE is up to date (base key $KEY)"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  [ "$(id -u)" = 0 ] || { echo "error: debootstrap needs root (cached tarball $TARBALL is missing)" >&2; exit 1; }
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg  # present on Debian; a package on Ubuntu
  [ -f "$keyring" ] || { echo "error: $keyring is missing (apt-get install debian-archive-keyring)" >&2; exit 1; }
  debootstrap --variant=minbase --include="$PACKAGES" --keyring="$keyring" "$SUITE" "$rootfs" "$MIRROR"
  # Nothing a job needs: package indexes, downloaded .debs, docs, manuals, logs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
  mkdir -p "$CACHE"
  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
fi

"$ENGINE" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --change "LABEL org.gridcast.base-key=$KEY" \
  "$TARBALL" "$IMAGE"
echo "built $IMAGE from $TARBALL"
