#!/usr/bin/env bash
# Build the managed-host image of the real-host tests: a Debian bookworm root filesystem with
# systemd, python3 (3.11), openssh-server and sudo (mmdebstrap), imported into podman as
# $GPUOPS_HOST_IMAGE. Nothing comes from an image registry; apt is the only source.
#
# The image is built once: when podman already has it, this does nothing. The tag carries a
# hash of this script, so changing the recipe builds a new image.
#
# python3-yaml is there because the collection writes YAML CDI specs with PyYAML (a declared
# managed-host dependency that Debian servers usually have; the role does not install it).
# Inside: user "gpuops" with passwordless sudo and an empty ~/.ssh (hostctl.py copies the
# run's public key in), and ssh.service only starts once hostctl.py has written
# /etc/ssh/sshd_config.d/gpuops-listen.conf (ListenAddress 127.0.0.1:<port>): the containers
# share the machine's network, so no sshd may ever listen anywhere else.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${GPUOPS_HOST_IMAGE:-$(bash "$here/image-name.sh")}
mirror=${GPUOPS_HOST_MIRROR:-http://deb.debian.org/debian}
work=${GPUOPS_HOST_BUILD_DIR:-$here/../../build/hosts}

if podman image exists "$image"; then
    echo "$image: already built"
    exit 0
fi

mkdir -p "$work"
rootfs="$work/rootfs.tar"
start=$(date +%s)
# The hooks' "$1" is mmdebstrap's (the root being built), so it stays in single quotes.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --include=systemd,systemd-sysv,dbus,python3,python3-yaml,openssh-server,sudo,procps,iproute2 \
    --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash gpuops' \
    --customize-hook='install -d -m 0700 -o 1000 -g 1000 "$1/home/gpuops/.ssh"' \
    --customize-hook='echo "gpuops ALL=(ALL) NOPASSWD: ALL" > "$1/etc/sudoers.d/gpuops" && chmod 0440 "$1/etc/sudoers.d/gpuops"' \
    --customize-hook='mkdir -p "$1/etc/systemd/system/ssh.service.d"' \
    --customize-hook='printf "[Unit]\nConditionPathExists=/etc/ssh/sshd_config.d/gpuops-listen.conf\n" > "$1/etc/systemd/system/ssh.service.d/gpuops-loopback.conf"' \
    --customize-hook='chroot "$1" systemctl mask ssh.socket getty@tty1.service console-getty.service systemd-logind.service' \
    --customize-hook='echo gpuops-host > "$1/etc/hostname"' \
    --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
    bookworm "$rootfs" "$mirror"
podman import --quiet \
    --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
    "$rootfs" "$image" >/dev/null
rm -f "$rootfs"
echo "$image: built in $(( $(date +%s) - start )) s"
