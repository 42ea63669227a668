#!/usr/bin/env bash
# The quickstart: builds holdfast, brings the quickstart stack up on this machine and
# shows it running. Run from anywhere: examples/quickstart/up.sh
# Needs Docker and Debian's busybox-static (installed here when missing, as root).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ ! -x /bin/busybox ]; then
  echo "==> installing busybox-static (the quickstart image is built from it)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
cp /bin/busybox "$here/image/busybox"

echo "==> building holdfast" >&2
cargo build --quiet --release -p holdfast --manifest-path "$root/Cargo.toml"
holdfast="$root/target/release/holdfast"
export HOLDFAST_STATE_DIR="${HOLDFAST_STATE_DIR:-$root/target/holdfast-state}"

echo "==> holdfast apply -f examples/quickstart/holdfast.yaml" >&2
"$holdfast" apply -f "$here/holdfast.yaml" --timeout 2m

echo "==> running:" >&2
docker ps --filter label=io.holdfast.project=quickstart --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
echo >&2
echo "==> curl http://127.0.0.1:18080/" >&2
curl -fsS http://127.0.0.1:18080/ || wget -qO- http://127.0.0.1:18080/
echo >&2
cat >&2 <<MSG
Next:
  $holdfast run -f $here/holdfast.yaml     # keep it so: kill a container and watch it come back
  $holdfast delete -f $here/holdfast.yaml  # remove it again (add --volumes to drop its volume)
MSG
