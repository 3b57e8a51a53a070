"""The way users archive images today: a boto3 handler, as the original workflow writes it.

HeadBucket once per execution environment (a cached boolean), then PutObject under
year/month/day/time/name. Runs under awslambdaric, AWS's own runtime interface client.
"""
import base64
import os
from datetime import datetime, timezone

import boto3
from botocore.config import Config

BUCKET = os.environ["BUCKET_NAME"]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"),
    config=Config(s3={"addressing_style": "path"}),
)
bucket_checked = False


def handler(event, context):
    global bucket_checked
    if not bucket_checked:
        s3.head_bucket(Bucket=BUCKET)
        bucket_checked = True
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    name = event.get("rawPath", "/object").rsplit("/", 1)[-1]
    epoch_ms = event.get("requestContext", {}).get("timeEpoch")
    when = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc) if epoch_ms else datetime.now(timezone.utc)
    key = f"{when:%Y/%m/%d/%H%M%S}/{name}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/png")
    return {"statusCode": 201, "body": '{"key": "%s"}' % key}
