#!/usr/bin/env bash
# A local S3 for running duff-lambda-etl on a laptop: starts moto (PyPI) on 127.0.0.1,
# creates the raw and lake buckets, uploads the bundled samples and writes an S3
# notification event for them. Ctrl-C stops the server.
#
#   deploy/local-s3.sh [PORT]          # default 5000
#
# Then, in another terminal, see duff-lambda-etl/README.md ("Running it locally").
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${1:-5000}"
PY="${PYTHON:-python3}"
EVENT="${DUFF_EVENT_FILE:-/tmp/duff-s3-event.json}"

if ! "$PY" -c 'import moto, flask, flask_cors, boto3' 2>/dev/null; then
  echo "installing moto[server] with pip --user ..." >&2
  "$PY" -m pip install --quiet --user 'moto[server]>=5,<6' \
    || "$PY" -m pip install --quiet --user --break-system-packages 'moto[server]>=5,<6'
fi

"$PY" -m moto.server -H 127.0.0.1 -p "$PORT" >/tmp/duff-moto.log 2>&1 &
MOTO=$!
trap 'kill "$MOTO" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

ENDPOINT="http://127.0.0.1:$PORT" EVENT="$EVENT" "$PY" - <<'PY'
import json, os, urllib.parse, datetime
import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for b in ("duff-raw", "duff-lake"):
    s3.create_bucket(Bucket=b)
records = []
for name in ("orders.csv", "day1.csv", "day2.csv"):
    key = f"incoming/{name}"
    body = open(f"examples/data/{name}", "rb").read()
    etag = s3.put_object(Bucket="duff-raw", Key=key, Body=body)["ETag"].strip('"')
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    records.append({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": now,
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "local",
               "bucket": {"name": "duff-raw", "ownerIdentity": {"principalId": "local"}, "arn": "arn:aws:s3:::duff-raw"},
               "object": {"key": urllib.parse.quote_plus(key, safe="/"), "size": len(body), "eTag": etag,
                          "sequencer": "00"}}})
json.dump({"Records": records}, open(os.environ["EVENT"], "w"), indent=2)
PY

cat <<EOF
local S3 on http://127.0.0.1:$PORT (moto; log in /tmp/duff-moto.log)
buckets duff-raw (samples under incoming/) and duff-lake; event for the samples in $EVENT

run the function against it:
  export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing DUFF_LAKE_URI=s3://duff-lake/lake
  cargo lambda watch                                          # terminal 1
  cargo lambda invoke duff-lambda-etl --data-file $EVENT      # terminal 2
Ctrl-C stops the server.
EOF
wait "$MOTO"
