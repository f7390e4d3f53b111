#!/usr/bin/env bash
# Checks that the packages deploy/Containerfile installs, with everything they depend on and what a
# Debian 12 base image holds, provide every shared library BINARY loads. No image is built: this
# needs only ldd, dpkg and apt-cache on a Debian 12 machine.
# Usage: bash deploy/check-image-libraries.sh BINARY
set -euo pipefail
binary=${1:?usage: check-image-libraries.sh BINARY}
here=$(cd "$(dirname "$0")" && pwd)
packages=$(sed -n 's/.*apt-get install -y --no-install-recommends \([^&\\]*\).*/\1/p' "$here/Containerfile")
[ -n "$packages" ] || { echo "no apt-get install line in $here/Containerfile" >&2; exit 2; }
# The base image's own packages: Debian's required and essential ones.
base=$(dpkg-query -W -f '${Package} ${Priority} ${Essential}\n' | awk '$2 == "required" || $3 == "yes" {print $1}')
closure=$( (echo "$base"; apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $packages | grep -v '^ ' | sed 's/:.*//') | sort -u)
status=0
while read -r name path; do
    [ -n "$path" ] || continue
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1 || true)
    [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 || true)
    if [ -z "$owner" ]; then
        echo "MISSING $name ($path) comes from no Debian package: link it in (--static-swift-stdlib)"
        status=1
    elif ! grep -qx "$owner" <<<"$closure"; then
        echo "MISSING $name ($path) is in $owner, which the image does not install"
        status=1
    fi
done < <(ldd "$binary" | awk '$2 == "=>" {print $1, $3}')
[ $status -eq 0 ] && echo "every library of $binary is in the image's packages ($packages)"
exit $status
