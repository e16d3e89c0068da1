#!/usr/bin/env bash
# Download every wheel the image installs into .wheelhouse, hash-checked against the locks, so the
# image build itself needs no network (and air-gapped builders can carry the folder in).
#
#   docker/build-wheelhouse.sh [DEST]          (default .wheelhouse at the repository root)
#
# Wheels are for CPython 3.11 on manylinux x86_64 whatever the host, and are cached in
# $GRIDCAST_CACHE (default ~/.cache/gridcast) keyed by the lock contents.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${1:-.wheelhouse}
PYTHON=${PYTHON:-python3}
CACHE=${GRIDCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gridcast}/wheelhouse

# The image's build backend, with the hashes dev.lock pins for it: setuptools builds gridcast's wheel.
build_lock=$(mktemp)
trap 'rm -f "$build_lock"' EXIT
awk '/^setuptools==/ { on = 1 } on { print; if (!/\\$/) exit }' requirements/dev.lock > "$build_lock"
grep -q '^setuptools==' "$build_lock" || { echo "error: requirements/dev.lock pins no setuptools" >&2; exit 1; }

key=$(cat requirements/image.lock "$build_lock" | sha256sum | cut -c1-16)
cached=$CACHE/$key
if [ ! -f "$cached/.complete" ]; then
  rm -rf "$cached.partial" && mkdir -p "$cached.partial"
  for lock in requirements/image.lock "$build_lock"; do
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --require-hashes --no-deps \
      --only-binary=:all: --implementation cp --python-version 3.11 --abi cp311 --abi abi3 --abi none \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux1_x86_64 --platform linux_x86_64 --platform any \
      -r "$lock" -d "$cached.partial"
  done
  cp "$build_lock" "$cached.partial/build.lock"
  touch "$cached.partial/.complete"
  rm -rf "$cached" && mv "$cached.partial" "$cached"
fi

mkdir -p "$DEST"
find "$DEST" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
cp -l "$cached"/* "$DEST"/ 2>/dev/null || cp "$cached"/* "$DEST"/
echo "$DEST: $(find "$DEST" -name '*.whl' | wc -l) wheels for requirements/image.lock + build.lock (cache key $key)"
