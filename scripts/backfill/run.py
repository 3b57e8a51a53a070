"""`make backfill`, `make rerender`: the template's state machines, run on moto's Step Functions engine.

    make backfill                       # a generated manifest of 1,000+ URLs (JSON Lines)
    make backfill MANIFEST=urls.csv     # generated too when the file does not exist
    make backfill MANIFEST=my.jsonl PARAMS="BackfillMaxConcurrency=8"
    make rerender PARAMS="Renditions=320,1280"   # --state-machine RerenderStateMachine, below

With --state-machine RerenderStateMachine (no manifest): writes a few originals under KeyPrefix
(PNGs larger than 320 px and the JPEG fixture, each under a date path) and keys under KeyPrefix
that are not originals, starts the function with RENDITIONS, RENDITION_FORMAT and
RENDITION_PREFIX from the template's parameters, runs the re-render state machine (--runs times),
and prints the renditions made for each listed key, the keys refused, and the object versions
each run wrote.

Starts, all on 127.0.0.1: moto_server (S3 and Step Functions) behind the routing proxy of
engine.py, an origin serving the manifest's URLs, and the function under `cargo lambda watch`
(FETCH_ALLOW_PRIVATE=loopback, S3 pointing at moto). Takes BackfillStateMachine's Definition from
template.yaml, resolves it with the template's parameters, applies transform.for_moto (printing
each change), creates it in moto, uploads the manifest under BackfillManifestPrefix and starts an
execution. Prints the map run's counts while it runs and a summary at the end. Exits non-zero when
the execution does not succeed or the map run would have failed on AWS (failed items above
ToleratedFailurePercentage).
"""

import argparse
import collections
import csv
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
import http.server

import botocore.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import engine  # noqa: E402
import transform  # noqa: E402

BUCKET = "image-ingest-backfill"
FUNCTION = "image-ingest"
FUNCTION_ARN = f"arn:aws:lambda:{engine.REGION}:{engine.ACCOUNT}:function:{FUNCTION}"
ROLE = f"arn:aws:iam::{engine.ACCOUNT}:role/backfill"


# ---------------------------------------------------------------- the origin


def png(n, size=8):
    """A small PNG, different for every n."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rgb = bytes([(n * 37) % 256, (n // 256) % 256, n % 256])
    raw = b"".join(b"\x00" + rgb * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Origin:
    """/img/img-N.png a PNG; /flaky/flaky-N.png 503 on the first request, then another PNG;
    /missing/missing-N.png 404; /page/page-N.png an HTML page sent as image/png."""

    def __init__(self):
        self.requests = collections.Counter()
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                with origin.lock:
                    origin.requests[self.path] += 1
                    seen = origin.requests[self.path]
                kind, _, name = self.path.lstrip("/").partition("/")
                n = int("".join(c for c in name if c.isdigit()) or 0)
                if kind == "img":
                    self.reply(200, "image/png", png(n))
                elif kind == "flaky" and seen > 1:
                    self.reply(200, "image/png", png(1_000_000 + n))
                elif kind == "flaky":
                    self.reply(503, "text/plain", b"try again")
                elif kind == "page":
                    self.reply(200, "image/png", b"<html><body>not a picture</body></html>")
                else:
                    self.reply(404, "text/plain", b"not found")

            def reply(self, status, ctype, body):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.port = engine.free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def demo_items(images, base):
    """`images` PNG URLs, then a few that fail for good or once, and duplicates."""
    items = [{"url": f"{base}/img/img-{n}.png"} for n in range(images)]
    items[0].update(file_name="first.png", posted_at="2026-11-24T20:30:15Z", metadata={"source": "backfill-demo"})
    items += [{"url": f"{base}/flaky/flaky-{n}.png"} for n in range(3)]      # 503 once: transient, retried
    items += [{"url": f"{base}/missing/missing-{n}.png"} for n in range(3)]  # 404: fetch_failed, for good
    items += [{"url": f"{base}/page/page-{n}.png"} for n in range(2)]        # HTML: unsupported_media_type
    items += [dict(items[n]) for n in (1, 2)]                          # duplicates: existing
    return items


def write_manifest(path, items):
    if path.endswith(".csv"):
        names = sorted({k for it in items for k in (it.get("metadata") or {})})
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["url", "file_name", "posted_at"] + [f"metadata.{k}" for k in names])
        for it in items:
            md = it.get("metadata") or {}
            w.writerow([it["url"], it.get("file_name", ""), it.get("posted_at", "")] + [md.get(k, "") for k in names])
        text = out.getvalue()
    else:
        text = "".join(json.dumps(it) + "\n" for it in items)
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- the function


class Invocations:
    """Every answer the function gave, and the last error of each batch that never succeeded.

    A child execution ends at its first success, so the successful answers are one per child
    execution (two for a batch the manifest holds twice)."""

    def __init__(self, invoke):
        self.invoke = invoke
        self.answers = []  # (payload, answer) of every successful invocation
        self.errors = {}  # payload key -> last error document
        self.error_types = collections.Counter()  # every error answer, retried ones included
        self.succeeded = set()
        self.count = 0
        self.largest_batch = 0  # bytes of the largest payload the function was sent
        self.largest_answer = 0  # bytes of the largest successful answer
        self.calls = []  # (payload, failed, answer) of every invocation, in order
        self.lock = threading.Lock()

    def __call__(self, name, body, headers):
        status, hdrs, out = self.invoke(name, body, headers)
        payload = json.loads(body or b"null")
        key = json.dumps(payload, sort_keys=True)
        failed = any(k.lower() == "x-amz-function-error" for k, _ in hdrs)
        try:
            answer = json.loads(out)
        except ValueError:
            answer = {"errorType": "?", "errorMessage": out.decode("utf-8", "replace")}
        with self.lock:
            self.count += 1
            self.calls.append((payload, failed, answer))
            self.largest_batch = max(self.largest_batch, len(body or b""))
            if failed:
                self.errors[key] = answer
                self.error_types[answer.get("errorType", "?")] += 1
            else:
                self.succeeded.add(key)
                self.answers.append((payload, answer))
                self.largest_answer = max(self.largest_answer, len(out))
        return status, hdrs, out


def start_function(work, s3_port, lambda_port, env_extra):
    env_file = os.path.join(work, "function.env")
    env = {
        "BUCKET_NAME": BUCKET, "KEY_PREFIX": "images/", "FETCH_ALLOW_PRIVATE": "loopback",
        "S3_FORCE_PATH_STYLE": "true", "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{s3_port}",
        "AWS_REGION": engine.REGION, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update(env_extra)
    with open(env_file, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in env.items())
    log = open(os.path.join(work, "function.log"), "ab")
    # cargo lambda watch's emulator in front of the workspace's debug build, which the tests
    # share (scripts/serve-function.sh): no second build of the function.
    proc = subprocess.Popen(
        ["nice", "scripts/serve-function.sh", env_file, str(lambda_port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc, log


def stop_process_group(proc):
    import signal

    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def warm_up(invoke, timeout):
    """The first invoke may wait for the debug build; later ones answer at once."""
    deadline = time.time() + timeout
    while True:
        try:
            status, _, out = invoke(FUNCTION, b'{"items":[]}', {})
            return status, out
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(1)


# ---------------------------------------------------------------- the run


def execute(sfn, invocations, definition, machine, name, input, timeout, interval=2.0):
    """Creates `definition` as state machine `machine` (or reuses it), runs one execution named
    `name` with `input`, printing the map run's counts every `interval` seconds. Returns (DescribeExecution,
    DescribeMapRun or None, seconds)."""
    try:
        arn = sfn.create_state_machine(name=machine, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        arn = f"arn:aws:states:{engine.REGION}:{engine.ACCOUNT}:stateMachine:{machine}"
    ex = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(input))
    t0 = time.time()
    last = [None]

    def tick(d):
        try:
            runs = sfn.list_map_runs(executionArn=ex["executionArn"]).get("mapRuns", [])
            if not runs:
                return
            m = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
        except botocore.exceptions.ClientError:
            return  # moto 5.2.5 answers 500 to ListMapRuns until the execution's worker is set up
        i, e = m["itemCounts"], m["executionCounts"]
        line = (f"    {time.time() - t0:5.0f}s map run {m['status']}: batches succeeded {e['succeeded']}, "
                f"failed {e['failed']}, running {e['running']} of {e['total']}; invocations {invocations.count}")
        if line != last[0]:
            print(line, flush=True)
            last[0] = line

    d = engine.wait_execution(sfn, ex["executionArn"], timeout, tick, interval)
    took = time.time() - t0
    print(f"==> execution {d['status']} in {took:.0f}s")
    if d["status"] != "SUCCEEDED":
        print(f"    {d.get('error')}: {d.get('cause')}")
    runs = sfn.list_map_runs(executionArn=ex["executionArn"]).get("mapRuns", [])
    m = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"]) if runs else None
    return d, m, took


def summarize(items_total, invocations, output, tolerated):
    """Counts by outcome from the function's answers and the batches that never succeeded."""
    stored = collections.Counter()
    failed = collections.Counter()
    failed_batches = collections.Counter()
    shortened = 0
    warm_up = json.dumps({"items": []})
    for payload, answer in invocations.answers:
        if payload == {"items": []}:
            continue
        shortened += answer.get("items_shortened") is True
        for s in answer.get("stored", []):
            stored[s.get("status", "?")] += 1
        for f in answer.get("failed", []):
            failed[f.get("error", {}).get("code", "?")] += 1
    for key, error in invocations.errors.items():
        if key in invocations.succeeded or key == warm_up:
            continue
        payload = json.loads(key)
        failed_batches[error.get("errorType", "?")] += len(payload.get("Items") or payload.get("items") or [])
    lost = sum(failed_batches.values())
    share = 100.0 * lost / items_total if items_total else 0.0
    batches = len((invocations.succeeded | set(invocations.errors)) - {warm_up})
    return {
        "items": items_total, "batches": batches, "invocations": invocations.count,
        "stored": dict(stored), "failed_by_code": dict(failed),
        "items_in_failed_batches_by_error": dict(failed_batches),
        "failed_share_percent": round(share, 2), "tolerated_failure_percentage": tolerated,
        "aws_map_run_would_fail": share > tolerated,
        "error_answers_by_type": dict(invocations.error_types),
        "map_output": output,
        "largest_batch_bytes": invocations.largest_batch, "largest_answer_bytes": invocations.largest_answer,
        "answers_with_items_shortened": shortened,
    }


def engine_errors(log_path):
    """The errors moto's interpreter logged (a task's States.DataLimitExceeded among them), by name."""
    with open(log_path, errors="replace") as f:
        return dict(collections.Counter(re.findall(r"Exception=\w+, Error=([\w.]+)", f.read())))


def print_summary(s):
    print("==> summary")
    print(f"    items {s['items']} in {s['batches']} batches, {s['invocations']} invocations (retries included)")
    print("    stored: " + (", ".join(f"{k} {v}" for k, v in sorted(s["stored"].items())) or "none"))
    if s["error_answers_by_type"]:
        print("    invocations that failed (then retried or not): "
              + ", ".join(f"{k} {v}" for k, v in sorted(s["error_answers_by_type"].items())))
    print("    failed, by code: " + (", ".join(f"{k} {v}" for k, v in sorted(s["failed_by_code"].items())) or "none"))
    if s["engine_errors"]:
        print("    errors moto's interpreter logged: "
              + ", ".join(f"{k} {v}" for k, v in sorted(s["engine_errors"].items())))
    if s["items_in_failed_batches_by_error"]:
        print("    items in batches that failed after their retries: "
              + ", ".join(f"{k} {v}" for k, v in sorted(s["items_in_failed_batches_by_error"].items())))
    verdict = "would FAIL" if s["aws_map_run_would_fail"] else "would succeed"
    print(f"    largest batch sent {s['largest_batch_bytes']} bytes, largest answer {s['largest_answer_bytes']} bytes; "
          f"answers with items shortened: {s['answers_with_items_shortened']}")
    print(f"    {s['failed_share_percent']}% of items failed with their batch; ToleratedFailurePercentage "
          f"{s['tolerated_failure_percentage']}: on AWS the map run {verdict} (moto tolerates every failure)")


# ---------------------------------------------------------------- the re-render run

FIXTURE_JPEG = os.path.join(ROOT, "testkit", "fixtures", "images", "baseline.jpg")


def gradient_png(width, height, seed):
    """An RGB PNG of `width` x `height` pixels, a gradient different for every seed."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = []
    for y in range(height):
        g = (y * 255 // max(height - 1, 1) + seed * 40) % 256
        rows.append(b"\x00" + b"".join(bytes(((x * 255 // max(width - 1, 1)) % 256, g, (seed * 71 + x // 16) % 256))
                                       for x in range(width)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b""))


def demo_originals(key_prefix, images):
    """(key, content type, bytes) of `images` PNGs above 320 px and the 67x41 JPEG fixture,
    each under a date path, as the function stores them."""
    out = [(f"{key_prefix}2026/11/24/2030{n:02d}/photo-{n}.png", "image/png", gradient_png(400 + 80 * n, 300 + 40 * n, n))
           for n in range(images)]
    with open(FIXTURE_JPEG, "rb") as f:
        out.append((f"{key_prefix}2026/11/25/101500/baseline.jpg", "image/jpeg", f.read()))
    return out


def demo_strays(key_prefix):
    """Keys under KeyPrefix that are not originals (no date path): refused with invalid_request."""
    return [(f"{key_prefix}README.txt", "text/plain", b"not an original: no date path\n"),
            (f"{key_prefix}2026/11/24/loose.png", "image/png", gradient_png(330, 10, 9))]


def versions(s3, bucket, prefix=""):
    """{key: (number of versions, ETag of the latest)} of every object under `prefix`."""
    out = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for v in page.get("Versions", []):
            n, etag = out.get(v["Key"], (0, None))
            out[v["Key"]] = (n + 1, v["ETag"] if v["IsLatest"] else etag)
    return out


def rerender_report(calls):
    """What one run's answers say, key by key: the renditions made, or the refusal's code; and
    the keys of batches that never succeeded, with their last error."""
    keys, failed_batches, error_types = {}, {}, collections.Counter()
    for payload, failed, answer in calls:
        items = payload.get("Items") if isinstance(payload, dict) else None
        if not items:
            continue  # the warm-up
        listed = [item.get("Key", "?") for item in items]
        if failed:
            error_types[answer.get("errorType", "?")] += 1
            for key in listed:
                failed_batches[key] = answer.get("errorType", "?")
            continue
        for key in listed:
            failed_batches.pop(key, None)
        for entry in answer.get("stored", []):
            keys[entry["key"]] = {"renditions": [r["key"] for r in entry.get("renditions") or []],
                                  "renditions_skipped": entry.get("renditions_skipped")}
        for entry in answer.get("failed", []):
            keys[listed[entry["index"]]] = {"refused": entry["error"]["code"], "message": entry["error"].get("message")}
    return keys, failed_batches, dict(error_types)


def rerender(args, template, params, work):
    definition = transform.resolve(template, params, {"ImageBucket": BUCKET, "ImageIngestFunction.Arn": FUNCTION_ARN},
                                   transform.RERENDER)
    moto_definition, changes = transform.for_moto(definition)
    print(f"==> the template's {transform.RERENDER}, less what moto lacks (scripts/backfill/transform.py):")
    for c in changes:
        print("    - " + c)
    with open(os.path.join(work, "definition.moto.json"), "w") as f:
        json.dump(moto_definition, f, indent=2)
    key_prefix, rendition_prefix = params["KeyPrefix"], params["RenditionPrefix"]
    tolerated = float(params["BackfillToleratedFailurePercentage"])

    lambda_port = engine.free_port()
    invocations = Invocations(engine.cargo_lambda_invoker(lambda_port, FUNCTION))
    moto = engine.Moto(invocations, os.path.join(work, "moto.log"))
    function = None
    try:
        moto.start()
        s3, sfn = moto.client("s3"), moto.client("stepfunctions")
        s3.create_bucket(Bucket=BUCKET)
        # As the template's bucket: then every write, a rewrite of the same bytes included, is a version.
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        originals = demo_originals(key_prefix, args.images if args.images is not None else 4)
        strays = demo_strays(key_prefix)
        for key, ctype, body in originals + strays:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=ctype)
        print(f"==> s3://{BUCKET}/{key_prefix}: {len(originals)} originals written as the function stores them, "
              f"{len(strays)} keys that are not originals")
        listed = sum(len(p.get("Contents", [])) for p in
                     s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=key_prefix))
        if listed > 1000:
            print(f"    {listed} keys under {key_prefix!r}: moto's ItemReader lists only the first 1,000 (one page)")

        env_extra = {k: params[p] for k, p in [
            ("KEY_PREFIX", "KeyPrefix"), ("UPLOAD_PREFIX", "UploadPrefix"), ("RENDITIONS", "Renditions"),
            ("RENDITION_FORMAT", "RenditionFormat"), ("RENDITION_PREFIX", "RenditionPrefix"),
            ("MAX_PIXELS", "MaxPixels"), ("BATCH_CONCURRENCY", "BatchConcurrency")]}
        env_extra["FACTS_PREFIX"] = "facts/"  # as template.yaml sets it: the gallery's facts markers
        print(f"==> moto on 127.0.0.1:{moto.moto_port} behind the proxy on {moto.proxy.port}; the function behind "
              f"cargo lambda watch's emulator on {lambda_port}, RENDITIONS={env_extra['RENDITIONS']!r} "
              f"RENDITION_FORMAT={env_extra['RENDITION_FORMAT']} RENDITION_PREFIX={rendition_prefix}")
        function, function_log = start_function(work, moto.moto_port, lambda_port, env_extra)
        _, out = warm_up(invocations.invoke, 900)
        print(f"    the function answers: {out[:120].decode('utf-8', 'replace')}")

        seeded = versions(s3, BUCKET)
        before = seeded
        runs = []
        for r in range(args.runs):
            name = f"rerender-{int(time.time())}-{r + 1}"
            print(f"==> run {r + 1} of {args.runs}: start-execution --name {name} --input '{{}}'")
            first = len(invocations.calls)
            d, m, took = execute(sfn, invocations, moto_definition, "image-ingest-rerender", name, {}, args.timeout, 0.5)
            calls = invocations.calls[first:]
            after = versions(s3, BUCKET)
            written = sorted(k for k, (n, _) in after.items() if n > before.get(k, (0, None))[0])
            keys, failed_batches, error_types = rerender_report(calls)
            items = m["itemCounts"]["total"] if m else 0
            share = 100.0 * len(failed_batches) / items if items else 0.0
            run = {"execution": name, "execution_status": d["status"], "seconds": round(took, 1),
                   "execution_error": [d.get("error"), d.get("cause")] if d["status"] != "SUCCEEDED" else None,
                   "map_output": json.loads(d.get("output") or "null"),
                   "map_run": {"status": m["status"], "items": m["itemCounts"], "batches": m["executionCounts"]} if m else None,
                   "invocations": sum(1 for p, _, _ in calls if isinstance(p, dict) and p.get("Items")),
                   "keys": keys, "items_in_failed_batches": failed_batches, "error_answers_by_type": error_types,
                   "failed_share_percent": round(share, 2), "aws_map_run_would_fail": share > tolerated,
                   "written": written}
            runs.append(run)
            print_rerender_run(run)
            before = after

        final = versions(s3, BUCKET)
        renditions = {}
        for key in sorted(k for k in final if k.startswith(rendition_prefix)):
            # GetObject, not HeadObject: the proxy answers a HEAD with Content-Length 0.
            got = s3.get_object(Bucket=BUCKET, Key=key)
            body = got["Body"].read()
            renditions[key] = {"content_type": got["ContentType"], "size": len(body),
                               "riff_webp": body[:4] == b"RIFF" and body[8:12] == b"WEBP",
                               "source_key": got.get("Metadata", {}).get("source-key")}
        summary = {
            "key_prefix": key_prefix, "rendition_prefix": rendition_prefix, "renditions_setting": params["Renditions"],
            "rendition_format": params["RenditionFormat"], "tolerated_failure_percentage": tolerated,
            "originals": [k for k, _, _ in originals], "strays": [k for k, _, _ in strays],
            "originals_unchanged": all(final.get(k) == seeded[k] for k, _, _ in originals + strays),
            "versions_seeded": {k: list(v) for k, v in seeded.items()},
            "versions_at_end": {k: list(v) for k, v in final.items()},
            "renditions": renditions, "runs": runs, "engine_errors": engine_errors(os.path.join(work, "moto.log")),
        }
        print(f"==> {len(renditions)} objects under s3://{BUCKET}/{rendition_prefix}; originals unchanged "
              f"(ETag and versions): {summary['originals_unchanged']}")
        report = os.path.join(work, "report.json")
        with open(report, "w") as f:
            json.dump({"summary": summary, "calls": [{"input": p, "failed": e, "answer": a} for p, e, a in invocations.calls]},
                      f, indent=1, default=str)
        print(f"    every invocation with its answer: {report}; logs in {work}/")
        if args.summary_json:
            with open(args.summary_json, "w") as f:
                json.dump(summary, f, indent=2, default=str)
        ok = all(r["execution_status"] == "SUCCEEDED" and not r["aws_map_run_would_fail"] for r in runs)
        return 0 if ok else 1
    finally:
        if function is not None:
            stop_process_group(function)
            function_log.close()
        moto.stop()


def print_rerender_run(run):
    keys = run["keys"]
    rendered = sorted(k for k, v in keys.items() if "renditions" in v)
    refused = collections.Counter(v["refused"] for v in keys.values() if "refused" in v)
    m = run["map_run"] or {}
    print(f"    {m.get('items', {}).get('total', 0)} keys listed, {run['invocations']} invocations (retries included); "
          f"{len(rendered)} originals answered, refused: "
          + (", ".join(f"{c} {n}" for c, n in sorted(refused.items())) or "none"))
    for key in sorted(keys):
        v = keys[key]
        if "renditions" in v:
            made = ", ".join(v["renditions"]) or f"none ({v['renditions_skipped'] or 'no planned size is smaller'})"
            print(f"    {key} -> {made}")
        else:
            print(f"    {key} refused: {v['refused']} ({(v.get('message') or '')[:100]})")
    for key, error in sorted(run["items_in_failed_batches"].items()):
        print(f"    {key}: its batch failed after its retries ({error})")
    if run["error_answers_by_type"]:
        print("    invocations that failed (then retried or not): "
              + ", ".join(f"{k} {n}" for k, n in sorted(run["error_answers_by_type"].items())))
    print(f"    object versions written by this run: {len(run['written'])}"
          + (" (" + ", ".join(run["written"][:6]) + (", ..." if len(run["written"]) > 6 else "") + ")" if run["written"] else ""))
    verdict = "would FAIL" if run["aws_map_run_would_fail"] else "would succeed"
    print(f"    {run['failed_share_percent']}% of keys failed with their batch: on AWS the map run {verdict}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default="", help="JSON Lines (.jsonl) or CSV (.csv); generated when missing")
    ap.add_argument("--state-machine", default=transform.STATE_MACHINE, choices=transform.STATE_MACHINES,
                    help="the template's state machine to run (RerenderStateMachine needs no manifest)")
    ap.add_argument("--images", type=int, default=None,
                    help="PNG URLs in a generated manifest (1,000); originals written for a re-render (4)")
    ap.add_argument("--runs", type=int, default=1, help="re-render: executions one after the other")
    ap.add_argument("--param", action="append", default=[], help="a template parameter, Name=Value")
    ap.add_argument("--work", default=os.path.join(ROOT, ".backfill"))
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--summary-json", default="")
    args = ap.parse_args(argv)

    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    template = transform.load_template(os.path.join(ROOT, "template.yaml"))
    overrides = dict(p.split("=", 1) for p in args.param)
    params = transform.parameter_values(template, overrides)
    if args.state_machine == transform.RERENDER:
        return rerender(args, template, params, work)
    if args.images is None:
        args.images = 1000
    definition = transform.resolve(template, params, {"ImageBucket": BUCKET, "ImageIngestFunction.Arn": FUNCTION_ARN})
    moto_definition, changes = transform.for_moto(definition)
    print("==> the template's BackfillStateMachine, less what moto lacks (scripts/backfill/transform.py):")
    for c in changes:
        print("    - " + c)
    with open(os.path.join(work, "definition.moto.json"), "w") as f:
        json.dump(moto_definition, f, indent=2)

    origin = Origin()
    base = f"http://127.0.0.1:{origin.port}"
    manifest = args.manifest or "urls.jsonl"
    if os.path.exists(manifest):
        manifest_path = manifest
        with open(manifest_path) as f:
            text = f.read()
    else:
        manifest_path = os.path.join(work, os.path.basename(manifest))
        write_manifest(manifest_path, demo_items(args.images, base))
        with open(manifest_path) as f:
            text = f.read()
        print(f"==> generated {manifest_path}: {args.images} PNGs on {base} and a few that fail")
    is_csv = manifest_path.endswith(".csv")
    items_total = (len(list(csv.reader(io.StringIO(text)))) - 1) if is_csv else sum(1 for l in text.splitlines() if l.strip())

    lambda_port = engine.free_port()
    invocations = Invocations(engine.cargo_lambda_invoker(lambda_port, FUNCTION))
    moto = engine.Moto(invocations, os.path.join(work, "moto.log"))
    function = None
    try:
        moto.start()
        s3, sfn = moto.client("s3"), moto.client("stepfunctions")
        s3.create_bucket(Bucket=BUCKET)
        env_extra = {k: params[p] for k, p in [("FETCH_MAX_PER_HOST", "FetchMaxPerHost"), ("MAX_PIXELS", "MaxPixels"),
                                               ("STRIP_LOCATION", "StripLocation"), ("BATCH_CONCURRENCY", "BatchConcurrency")]}
        print(f"==> moto on 127.0.0.1:{moto.moto_port} behind the proxy on {moto.proxy.port}; "
              f"the function behind cargo lambda watch's emulator on {lambda_port} (first run builds it)")
        function, function_log = start_function(work, moto.moto_port, lambda_port, env_extra)
        status, out = warm_up(invocations.invoke, 900)
        print(f"    the function answers: {out[:120].decode('utf-8', 'replace')}")

        key = f"{params['BackfillManifestPrefix']}/{os.path.basename(manifest_path)}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())
        start_key = key
        if not is_csv:  # moto reads JSON arrays, not JSON Lines: a converted copy beside it
            start_key = key + ".json"
            s3.put_object(Bucket=BUCKET, Key=start_key, Body=transform.jsonl_to_json(text).encode())
        name = f"backfill-{int(time.time())}"
        print(f"==> s3://{BUCKET}/{key}: {items_total} items; start-execution --name {name} "
              f"--input '{{\"manifest\":\"{start_key}\"}}'")
        d, m, _ = execute(sfn, invocations, moto_definition, "image-ingest-backfill", name, {"manifest": start_key}, args.timeout)
        output = json.loads(d.get("output") or "null")
        tolerated = float(params["BackfillToleratedFailurePercentage"])
        summary = summarize(items_total, invocations, output, tolerated)
        summary["execution_status"] = d["status"]
        if d["status"] != "SUCCEEDED":
            summary["execution_error"] = [d.get("error"), d.get("cause")]
        summary["map_run"] = {"status": m["status"], "items": m["itemCounts"], "batches": m["executionCounts"]}
        listed = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="images/")
        summary["objects_in_bucket"] = sum(len(p.get("Contents", [])) for p in listed)
        summary["engine_errors"] = engine_errors(os.path.join(work, "moto.log"))
        print_summary(summary)
        print(f"    objects under s3://{BUCKET}/images/: {summary['objects_in_bucket']}")
        report = os.path.join(work, "report.json")
        with open(report, "w") as f:
            json.dump({"summary": summary,
                       "answers": [{"input": p, "answer": a} for p, a in invocations.answers],
                       "failed_batches": [{"input": json.loads(k), "error": e} for k, e in invocations.errors.items()
                                          if k not in invocations.succeeded]}, f, indent=1)
        print(f"    the function's answers and the failed batches: {report}; logs in {work}/")
        if args.summary_json:
            with open(args.summary_json, "w") as f:
                json.dump(summary, f, indent=2)
        ok = d["status"] == "SUCCEEDED" and not summary["aws_map_run_would_fail"]
        return 0 if ok else 1
    finally:
        if function is not None:
            stop_process_group(function)
            function_log.close()
        moto.stop()
        origin.stop()


if __name__ == "__main__":
    sys.exit(main())
