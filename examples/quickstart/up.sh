#!/usr/bin/env bash
# The quickstart: builds holdfast and checks the quickstart's desired-state file.
# Run from anywhere: examples/quickstart/up.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

echo "==> building holdfast" >&2
cargo build --quiet --release -p holdfast --manifest-path "$root/Cargo.toml"
holdfast="$root/target/release/holdfast"

echo "==> validating $here/holdfast.yaml" >&2
"$holdfast" validate "$here/holdfast.yaml"

echo "==> resolved desired state (defaults filled in):" >&2
"$holdfast" validate --print "$here/holdfast.yaml" 2>/dev/null
