#!/usr/bin/env bash
# Proves the README's first command: `cargo run --bin whatatalk-local` builds without the AWS
# SDK, starts on embedded defaults and answers GET /health. Uses 127.0.0.1:3000 (the default)
# when it is free, another free loopback port otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if cargo tree -p infra -e normal --prefix none 2>/dev/null | grep -q '^aws-sdk-'; then
  echo "whatatalk-local must not depend on the AWS SDK" >&2
  exit 1
fi
cargo build --locked --bin whatatalk-local

data=$(mktemp -d)
port_free() { python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', $1))" 2>/dev/null; }
if port_free 3000; then
  addr=127.0.0.1:3000
  unset WHATATALK_ADDR
else
  addr=127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export WHATATALK_ADDR=$addr
fi
WHATATALK_DATA_DIR="$data" target/debug/whatatalk-local >"$data/out.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  if body=$(curl -fsS "http://$addr/health" 2>/dev/null); then
    echo "GET http://$addr/health -> $body"
    [ "$body" = '{"status":"ok"}' ] || { echo "unexpected body" >&2; exit 1; }
    exit 0
  fi
  sleep 0.1
done
echo "whatatalk-local did not answer on $addr:" >&2
cat "$data/out.log" >&2
exit 1
