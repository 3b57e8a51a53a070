"""A Distributed Map batch handler the way teams write one today: asyncio + aiohttp fetches the
URLs, boto3 stores them through a thread pool (boto3 blocks), BATCH_CONCURRENCY items at once.

Takes the same batch as image-ingest, `{"Items":[{"url":...}],"BatchInput":{"run_started_at":...}}`,
keys items without `posted_at` at `run_started_at` under year/month/day/time/name, and answers
`{"stored":[...],"failed":[...]}`; it raises when any item failed, so the state machine retries.
Runs under awslambdaric, AWS's own runtime interface client (bench/peer/app.py's set-up).
"""
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
import boto3
from botocore.config import Config

BUCKET = os.environ["BUCKET_NAME"]
CONCURRENCY = int(os.environ.get("BATCH_CONCURRENCY", "10"))
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"),
    config=Config(s3={"addressing_style": "path"}, max_pool_connections=CONCURRENCY),
)
pool = ThreadPoolExecutor(max_workers=CONCURRENCY)


def handler(event, context):
    return asyncio.run(backfill(event["Items"], event["BatchInput"]["run_started_at"]))


async def backfill(items, run_started_at):
    started = datetime.fromisoformat(run_started_at.replace("Z", "+00:00"))
    limit = asyncio.Semaphore(CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results = await asyncio.gather(*(ingest(session, limit, started, item) for item in items))
    stored = [r for ok, r in results if ok]
    failed = [r for ok, r in results if not ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(items)} items failed: {failed[:5]}")
    return {"stored": stored, "failed": failed}


async def ingest(session, limit, started, item):
    url = item["url"]
    when = datetime.fromisoformat(item["posted_at"].replace("Z", "+00:00")) if "posted_at" in item else started
    name = item.get("file_name") or urlsplit(url).path.rsplit("/", 1)[-1] or "object"
    key = f"{when:%Y/%m/%d/%H%M%S}/{name}"
    async with limit:
        try:
            async with session.get(url) as response:
                response.raise_for_status()
                content_type = response.headers.get("Content-Type", "")
                if not content_type.startswith("image/"):
                    return False, {"url": url, "error": f"not an image: {content_type}"}
                body = await response.read()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(
                pool,
                lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type),
            )
        except Exception as e:  # noqa: BLE001 - every failure is reported with its item
            return False, {"url": url, "error": repr(e)}
    return True, {"url": url, "key": key, "size": len(body)}
