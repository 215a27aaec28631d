#!/usr/bin/env bash
# Builds the image without a container registry: a Debian bookworm minbase root file system from
# Debian's mirror (debootstrap), this machine's node 20 and npm copied in, imported into podman as
# the base image, then `podman build` with NODE_IMAGE pointing at it. For machines that reach
# Debian's mirror and the npm registry but no image registry. Needs root, podman and debootstrap
# (apt-get install -y podman debootstrap). About 4 minutes the first time (3m43s here).
#   bash deploy/local-base-image.sh            # base image, then localhost/ovserve:0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=localhost/node:20-bookworm-slim-local
ROOTFS=$(mktemp -d /tmp/ovserve-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

if ! podman image exists "$BASE"; then
  debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian
  NODE=$(command -v node)
  NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  install -m 0755 "$NODE" "$ROOTFS/usr/local/bin/node"
  mkdir -p "$ROOTFS/usr/local/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
  chroot "$ROOTFS" sh -c 'groupadd -g 1000 node && useradd -u 1000 -g node -m -s /bin/bash node'
  # npm inside the build trusts the same certificate authorities as this machine.
  mkdir -p "$ROOTFS/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb
  tar -C "$ROOTFS" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["node"]' - "$BASE"
fi

# chroot isolation: this machine's crun cannot create containers (cgroups, setrlimit). The docker
# format keeps HEALTHCHECK, which the OCI image format drops.
podman build --format docker --isolation=chroot --network=host --pull=never \
  --build-arg NODE_IMAGE="$BASE" -t localhost/ovserve:0.1.0 .
