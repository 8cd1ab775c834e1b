"""The real Lambda binaries under `cargo lambda watch`, invoked with the sample events of
events/ against DynamoDB Local and moto (started by infra/test.sh), and their effects checked
in the table, the queues and the bucket.

Run by infra/scripts/lambda-e2e.sh with the test stack's virtualenv (boto3 comes with moto).
"""

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def resources():
    """A table, a key, a bucket and two queues, as template.yaml makes them."""
    name = f"lambda-e2e-{uuid.uuid4().hex[:8]}"
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ["pk", "sk", "gsi1pk", "gsi1sk"]
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    boto3.client("s3").create_bucket(Bucket=name)
    sqs = boto3.client("sqs")
    sends = sqs.create_queue(QueueName=f"{name}-sends")["QueueUrl"]
    jobs = sqs.create_queue(QueueName=f"{name}-jobs")["QueueUrl"]
    return {
        "WHATATALK_TABLE": name,
        "WHATATALK_KMS_KEY_ID": key,
        "WHATATALK_BUCKET": name,
        "WHATATALK_SEND_QUEUE_URL": sends,
        "WHATATALK_JOB_QUEUE_URL": jobs,
        "WHATATALK_S3_PATH_STYLE": "true",
        "WHATATALK_GRAPH_URL": "http://127.0.0.1:9/",
        "WHATATALK_APP_SECRET": "test-app-secret",
        "WHATATALK_VERIFY_TOKEN": "test-verify-token",
        "WHATATALK_BILLING_SECRET": "whsec_test_billing_secret",
        "RUST_LOG": "warn",
    }


def invoke(port, function, event):
    out = subprocess.run(
        ["cargo", "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(port),
         "--data-file", os.path.join(ROOT, "events", event), "--output-format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    if out.returncode != 0:
        raise SystemExit(f"invoke {function} {event} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def check(what, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        raise SystemExit(f"{what}: {detail}")


def main():
    env = resources()
    port = free_port()
    watch = subprocess.Popen(
        ["cargo", "lambda", "watch", "--ignore-changes", "-q", "-A", "127.0.0.1", "-P", str(port),
         "--env-vars", ",".join(f"{k}={v}" for k, v in env.items())],
        cwd=ROOT, stdout=sys.stderr, stderr=sys.stderr,
    )
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("cargo lambda watch did not start")
                time.sleep(0.5)
        ddb = boto3.client("dynamodb")
        table = env["WHATATALK_TABLE"]

        r = invoke(port, "api", "api/signup.json")
        check("api: signup answers 201", r.get("statusCode") == 201, r)
        account = json.loads(r["body"])["account_id"]
        items = ddb.scan(TableName=table)["Items"]
        check("api: the account is in the table",
              any(i["pk"]["S"] == f"ACCOUNT#{account}" and i["sk"]["S"] == "ACCOUNT" for i in items), items)
        check("api: its business name is sealed",
              not any("Example Bakery" in str(i) for i in items), "plaintext in the table")
        r = invoke(port, "api", "api/account-unknown-key.json")
        check("api: an unknown key is 401", r.get("statusCode") == 401, r)
        r = invoke(port, "api", "api/app-login.json")
        page = r.get("body", "")
        if r.get("isBase64Encoded"):
            page = base64.b64decode(page).decode()
        check("api: the app's login page is HTML under a strict CSP",
              r.get("statusCode") == 200
              and "script-src 'self'" in str(r.get("headers", {}).get("content-security-policy"))
              and "<form" in page, r)

        r = invoke(port, "webhook", "webhook/verify.json")
        check("webhook: the handshake echoes the challenge",
              r.get("statusCode") == 200 and r.get("body") == "1158201444", r)
        r = invoke(port, "webhook", "webhook/message-bad-signature.json")
        check("webhook: a forged payload is 401", r.get("statusCode") == 401, r)
        r = invoke(port, "webhook", "webhook/message.json")
        check("webhook: a signed payload for no tenant's number is 200", r.get("statusCode") == 200, r)

        r = invoke(port, "billing", "billing/webhook-request.json")
        check("billing: a stale signature is 400", r.get("statusCode") == 400, r)

        r = invoke(port, "jobs", "jobs/contact-import.json")
        failures = [f["itemIdentifier"] for f in r.get("batchItemFailures", [])]
        check("jobs: the malformed message is reported back to SQS",
              "2e1424d4-f796-459a-8184-9c92662be6da" in failures, r)

        r = invoke(port, "sender", "sender/send-tasks.json")
        failures = [f["itemIdentifier"] for f in r.get("batchItemFailures", [])]
        check("sender: the malformed task is reported back to SQS",
              "8f2c1a4e-1d5b-4a61-9a38-2f0f5b0c7d13" in failures, r)

        r = invoke(port, "retention", "retention/scheduled.json")
        check("retention: a complete run over the one account",
              r.get("complete") is True and r.get("accounts") == 1, r)
        # A closing account whose erasure job was lost: the run queues it again, which the
        # retention function's role (template.yaml) must allow; a port its role does not
        # grant would fail the run here (shared::adapters::denied).
        ddb.update_item(
            TableName=table,
            Key={"pk": {"S": f"ACCOUNT#{account}"}, "sk": {"S": "ACCOUNT"}},
            UpdateExpression="SET #s = :closing",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":closing": {"S": "closing"}},
        )
        r = invoke(port, "retention", "retention/scheduled.json")
        check("retention: a run with a closing account completes", r.get("complete") is True, r)
        bodies = [m["Body"] for m in boto3.client("sqs").receive_message(
            QueueUrl=env["WHATATALK_JOB_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])]
        check("retention: the lost erasure job is queued again",
              any(account in b and "erase" in b.lower() for b in bodies), bodies)
        print("all Lambda binaries answered as expected")
    finally:
        watch.terminate()
        try:
            watch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watch.kill()


if __name__ == "__main__":
    main()
