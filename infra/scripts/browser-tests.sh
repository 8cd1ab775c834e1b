#!/usr/bin/env bash
# The app's flows in a real browser (tests/browser/flows.test.mjs): Debian's Chromium driven
# by npm's playwright-core. Installs what it uses: the chromium package (apt-get, as root) and
# the npm packages from tests/browser/package-lock.json. Playwright's own browser download is
# never used (it needs a network this machine does not have).
# Screenshots and the runner's log go to target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ ! -x /usr/bin/chromium ]; then
  as_root=()
  [ "$(id -u)" = 0 ] || as_root=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get install -y --no-install-recommends chromium >/dev/null \
    || { "${as_root[@]}" apt-get update >/dev/null && "${as_root[@]}" apt-get install -y --no-install-recommends chromium >/dev/null; }
fi
/usr/bin/chromium --version

(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo build --locked --bin whatatalk-local
rm -rf target/browser-artifacts
cd tests/browser
node --test --test-concurrency=1 flows.test.mjs
