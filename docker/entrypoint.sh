#!/bin/sh
# The image's entrypoint: run the step as the unprivileged job user, whoever started the container.
#
# SageMaker starts the container as root and mounts /opt/ml/model, /opt/ml/output and
# /opt/ml/processing/output/<name> as root-owned volumes, hiding the image's own chown
# (aws/sagemaker-python-sdk#4764). Started as root, this hands exactly those mount points to the
# job user and then drops to that user with setpriv (util-linux, in every Debian base): no
# capabilities, no new privileges. Started as anyone else (docker/podman --user, a local run), there
# is nothing to hand over and no privilege to drop: it runs the command as it is.
set -eu

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

user=gridcast
uid=$(id -u "$user")
gid=$(id -g "$user")
for path in /opt/ml/model /opt/ml/output /opt/ml/output/data /opt/ml/processing/output /opt/ml/processing/output/*; do
  if [ -d "$path" ] && [ ! -L "$path" ]; then
    # Not fatal: the step then fails on its own write, with its own message.
    chown "$uid:$gid" "$path" || echo "gridcast-entrypoint: cannot hand $path to $user" >&2
  fi
done

export HOME=/home/gridcast USER="$user" LOGNAME="$user"
exec setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all --no-new-privs -- "$@"
