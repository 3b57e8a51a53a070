"""Probes what moto's Step Functions interpreter does with the Distributed Map features a backfill uses.

    make probe-moto      (or: $(scripts/tools.sh --bin-dir)/../moto python ... see the Makefile)

Each probe prints one line: the feature, what moto did, and the evidence (the error it gave, the
payloads a stub Lambda received, the objects it wrote). docs/backfills.md records the results for
the pinned moto version. The Lambda here is a stub in this process, behind the same proxy
`make backfill` uses, so nothing else is needed.
"""

import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine  # noqa: E402

ROLE = f"arn:aws:iam::{engine.ACCOUNT}:role/probe"
FN = f"arn:aws:lambda:{engine.REGION}:{engine.ACCOUNT}:function:probe"
BUCKET = "probe-bucket"


class Stub:
    """A Lambda that records what it is sent. An item {"transient": n} fails n times with
    ImageIngest.Transient, {"permanent": true} always fails with ImageIngest.Permanent."""

    def __init__(self):
        self.payloads = []
        self.attempts = {}
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()

    def reset(self):
        with self.lock:
            self.payloads, self.attempts, self.peak = [], {}, 0

    def __call__(self, name, body, headers):
        payload = json.loads(body or b"null")
        with self.lock:
            self.payloads.append(payload)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.05)
            items = payload.get("Items", [payload]) if isinstance(payload, dict) else [payload]
            for item in items:
                if not isinstance(item, dict):
                    continue
                key = json.dumps(item, sort_keys=True)
                with self.lock:
                    n = self.attempts[key] = self.attempts.get(key, 0) + 1
                if n <= int(item.get("service_error") or 0):
                    body = json.dumps({"Type": "Service", "Message": "probe"}).encode()
                    return 500, [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ServiceException"), ("x-amzn-RequestId", "probe-request")], body
                if item.get("permanent") in (True, "true"):
                    return error("ImageIngest.Permanent", "refused")
                if n <= int(item.get("transient") or 0):
                    return error("ImageIngest.Transient", f"attempt {n}")
            return 200, [("Content-Type", "application/json")], json.dumps({"ok": len(items)}).encode()
        finally:
            with self.lock:
                self.in_flight -= 1


def error(kind, message):
    body = json.dumps({"errorType": kind, "errorMessage": message}).encode()
    return 200, [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")], body


def machine(map_state, extra_states=None):
    states = {"Backfill": dict(map_state, End=True)}
    states.update(extra_states or {})
    return {"StartAt": "Backfill", "States": states}


def dmap(reader_config, **fields):
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FN, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "End": True,
    }
    task.update(fields.pop("task", {}))
    state = {
        "Type": "Map",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Ingest",
            "States": {"Ingest": task},
        },
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": reader_config,
            "Parameters": {"Bucket": BUCKET, "Key.$": "$.manifest"},
        },
        "MaxConcurrency": 4,
    }
    state.update(fields)
    return state


class Probe:
    def __init__(self, moto, stub):
        self.moto, self.stub = moto, stub
        self.sfn = moto.client("stepfunctions")
        self.s3 = moto.client("s3")
        self.n = 0
        self.results = []

    def create(self, definition):
        self.n += 1
        return self.sfn.create_state_machine(
            name=f"probe{self.n}", definition=json.dumps(definition), roleArn=ROLE
        )["stateMachineArn"]

    def run(self, definition, manifest, body, timeout=60):
        self.s3.put_object(Bucket=BUCKET, Key=manifest, Body=body.encode())
        self.stub.reset()
        arn = self.create(definition)
        ex = self.sfn.start_execution(stateMachineArn=arn, name=f"run{self.n}", input=json.dumps({"manifest": manifest}))
        counts = []

        def tick(d):
            runs = self.sfn.list_map_runs(executionArn=ex["executionArn"]).get("mapRuns", [])
            if runs:
                m = self.sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
                counts.append((m["itemCounts"]["succeeded"], m["itemCounts"]["total"]))

        d = engine.wait_execution(self.sfn, ex["executionArn"], timeout, tick, 0.3)
        d["_counts"] = counts
        d["_events"] = self.sfn.get_execution_history(executionArn=ex["executionArn"], maxResults=1000)["events"]
        return d

    def report(self, feature, verdict, evidence):
        self.results.append({"feature": feature, "verdict": verdict, "evidence": evidence})
        print(f"[{verdict:>11}] {feature}\n              {evidence}", flush=True)


def create_error(p, definition):
    try:
        p.create(definition)
        return None
    except Exception as e:  # botocore ClientError
        return str(e)


def main():
    import importlib.metadata

    version = importlib.metadata.version("moto")
    print(f"moto {version}")
    stub = Stub()
    log = os.path.join(tempfile.gettempdir(), f"probe-moto-{os.getpid()}.log")
    moto = engine.Moto(stub, log).start()
    p = Probe(moto, stub)
    try:
        p.s3.create_bucket(Bucket=BUCKET)
        csv_body = "url,file_name,metadata.source\nhttp://a/1.png,one.png,crawl\nhttp://a/2.png,,\n"
        jsonl_body = '{"url":"http://a/1.png"}\n{"url":"http://a/2.png"}\n'
        json_body = json.dumps([{"url": "http://a/1.png"}, {"url": "http://a/2.png", "posted_at": "2026-01-02T03:04:05Z"}])
        wrap = {"Items.$": "States.Array($$.Map.Item.Value)",
                "BatchInput": {"run_started_at.$": "$$.Execution.StartTime"}}

        # 1. ItemBatcher
        err = create_error(p, machine(dmap({"InputType": "JSON"}, ItemBatcher={"MaxItemsPerBatch": 2})))
        p.report("ItemBatcher", "refused" if err else "accepted", err or "created")

        # 2. JSON Lines
        err = create_error(p, machine(dmap({"InputType": "JSONL"})))
        p.report("ItemReader InputType JSONL", "refused" if err else "accepted", err or "created")

        # 3. CSV ItemReader, ItemSelector wrapping each item as a one-item batch
        d = p.run(machine(dmap({"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}, ItemSelector=wrap)), "m/a.csv", csv_body)
        p.report("CSV ItemReader + ItemSelector ($$.Map.Item.Value, $$.Execution.StartTime)",
                 "works" if d["status"] == "SUCCEEDED" else d["status"],
                 f"payloads={sorted(map(json.dumps, stub.payloads))} startDate={d['startDate'].isoformat()}")

        # 4. JSON ItemReader
        d = p.run(machine(dmap({"InputType": "JSON"}, ItemSelector=wrap)), "m/a.json", json_body)
        p.report("JSON ItemReader", "works" if d["status"] == "SUCCEEDED" else d["status"],
                 f"payloads={sorted(map(json.dumps, stub.payloads))}")

        # 5. Retry on a custom error name, with backoff
        retry = [{"ErrorEquals": ["ImageIngest.Transient"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 3}]
        body = json.dumps([{"id": 1, "transient": 2}, {"id": 2}])
        t0 = time.time()
        d = p.run(machine(dmap({"InputType": "JSON"}, task={"Retry": retry})), "m/retry.json", body)
        took = time.time() - t0
        attempts = {k: v for k, v in stub.attempts.items()}
        p.report("Retry ErrorEquals [ImageIngest.Transient], IntervalSeconds 1, BackoffRate 2",
                 "works" if d["status"] == "SUCCEEDED" and max(attempts.values()) == 3 else d["status"],
                 f"attempts per item={attempts}, execution took {took:.1f}s (1 s + 2 s of backoff expected)")

        # 6. Retry exhausted: what the map run does with a failed child
        body = json.dumps([{"id": 1, "transient": 9}, {"id": 2}])
        d = p.run(machine(dmap({"InputType": "JSON"}, task={"Retry": [dict(retry[0], MaxAttempts=1)]})), "m/exhaust.json", body)
        p.report("a child failing after its retries, no ToleratedFailure* field (AWS: the map run fails)",
                 "map run " + d["status"],
                 f"attempts={dict(stub.attempts)} execution {d['status']} output={d.get('output')} last counts={d['_counts'][-1:]}")

        # 7. ToleratedFailurePercentage
        body = json.dumps([{"id": i} for i in range(9)] + [{"id": 9, "permanent": True}])
        d = p.run(machine(dmap({"InputType": "JSON"}, ToleratedFailurePercentage=0.0)), "m/tolerate.json", body)
        p.report("ToleratedFailurePercentage 0.0 with 1 of 10 items failing (AWS: the map run fails)",
                 "map run " + d["status"], f"execution {d['status']} error={d.get('error')}")
        err = create_error(p, machine(dmap({"InputType": "JSON"}, ToleratedFailurePercentage=50)))
        p.report("ToleratedFailurePercentage written as an integer (50)", "refused" if err else "accepted", err or "created")

        # 7b. Lambda's own errors become Lambda.<code>, which Retry matches
        body = json.dumps([{"id": 1, "service_error": 1}])
        lretry = [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}]
        d = p.run(machine(dmap({"InputType": "JSON"}, task={"Retry": lretry})), "m/svc.json", body)
        p.report("Retry ErrorEquals [Lambda.ServiceException] on a 500 ServiceException from Invoke",
                 "works" if d["_counts"][-1][0] == 1 else "no", f"attempts={dict(stub.attempts)} counts={d['_counts'][-1:]}")

        # 7c. StartExecution without a name
        arn = p.create(machine(dmap({"InputType": "JSON"})))
        first = p.sfn.start_execution(stateMachineArn=arn, input=json.dumps({"manifest": "m/svc.json"}))["executionArn"]
        err = None
        try:
            p.sfn.start_execution(stateMachineArn=arn, input=json.dumps({"manifest": "m/svc.json"}))
        except Exception as e:
            err = str(e)
        p.report("StartExecution without a name (AWS: a generated UUID)", "named " + first.rsplit(":", 1)[-1],
                 f"first={first} second: {err or 'accepted, under the same name'}")
        engine.wait_execution(p.sfn, first, 30)

        # 8. ResultWriter
        rw = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": BUCKET, "Prefix": "results"}}
        d = p.run(machine(dmap({"InputType": "JSON"}, ResultWriter=rw)), "m/rw.json", json.dumps([{"id": 1}, {"id": 2}]))
        keys = [o["Key"] for o in p.s3.list_objects_v2(Bucket=BUCKET, Prefix="results/").get("Contents", [])]
        bodies = {k: json.loads(p.s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys}
        p.report("ResultWriter (Bucket, Prefix)", d["status"], f"objects={bodies} output={d.get('output')}")
        rw_cfg = dict(rw, WriterConfig={"OutputType": "JSONL", "Transformation": "NONE"})
        err = create_error(p, machine(dmap({"InputType": "JSON"}, ResultWriter=rw_cfg)))
        p.report("ResultWriter WriterConfig", "refused" if err else "accepted", err or "created")

        # 9. MaxConcurrency and the map run's counts
        body = json.dumps([{"id": i} for i in range(40)])
        d = p.run(machine(dmap({"InputType": "JSON"}, MaxConcurrency=3)), "m/conc.json", body)
        p.report("MaxConcurrency 3", "honoured" if stub.peak <= 3 else "ignored",
                 f"peak concurrent invocations={stub.peak}; DescribeMapRun (succeeded,total) samples={d['_counts'][:3]}...{d['_counts'][-1:]}")

        # 10. Lambda's own errors as error names (Lambda.ServiceException etc.)
        names = {e["type"] for e in d["_events"]}
        p.report("history events of a distributed map", "info", sorted(names))

        # 11. Path fields
        m = dmap({"InputType": "JSON"}, MaxConcurrencyPath="$.settings.c", ToleratedFailurePercentagePath="$.settings.t")
        del m["MaxConcurrency"]
        settings = {"Type": "Pass", "Parameters": {"manifest.$": "$.manifest", "settings": {
            "c.$": "States.StringToJson('2')", "t.$": "States.StringToJson('5')"}}, "Next": "Backfill"}
        definition = {"StartAt": "Settings", "States": {"Settings": settings, "Backfill": dict(m, End=True)}}
        d = p.run(definition, "m/paths.json", json.dumps([{"id": i} for i in range(10)]))
        runs = p.sfn.list_map_runs(executionArn=d["executionArn"])["mapRuns"]
        mr = p.sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
        p.report("MaxConcurrencyPath / ToleratedFailurePercentagePath from States.StringToJson in a Pass state",
                 "works" if d["status"] == "SUCCEEDED" and stub.peak <= 2 else d["status"],
                 f"peak={stub.peak} DescribeMapRun maxConcurrency={mr['maxConcurrency']} toleratedFailurePercentage={mr['toleratedFailurePercentage']} error={d.get('error')} {str(d.get('cause'))[:200]}")

        # 12. ItemReader over ListObjectsV2 (the re-render state machine's)
        listing = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": BUCKET, "Prefix": "archive/"}}
        for i in range(3):
            p.s3.put_object(Bucket=BUCKET, Key=f"archive/2026/11/24/20301{i}/a{i}.png", Body=b"x" * (i + 1))
        p.s3.put_object(Bucket=BUCKET, Key="elsewhere/b.png", Body=b"y")
        lmap = dmap({}, ItemSelector=wrap)
        lmap["ItemReader"] = listing
        d = p.run(machine(lmap), "m/unused.json", "[]")
        keys = sorted(i["Key"] for b in stub.payloads for i in b["Items"])
        p.report("ItemReader arn:aws:states:::s3:listObjectsV2 (Bucket, Prefix), no ReaderConfig",
                 "works" if d["status"] == "SUCCEEDED" and len(keys) == 3 else d["status"],
                 f"keys={keys} first item={json.dumps(stub.payloads[0]['Items'][0]) if stub.payloads else None}")

        # 13. ... over a prefix with nothing under it
        lmap["ItemReader"] = {"Resource": listing["Resource"], "Parameters": {"Bucket": BUCKET, "Prefix": "nothing-here/"}}
        d = p.run(machine(lmap), "m/unused.json", "[]")
        p.report("ItemReader listObjectsV2 over an empty prefix (AWS: a map run of 0 items)",
                 d["status"], f"error={d.get('error')} cause={str(d.get('cause'))[:200]} invocations={len(stub.payloads)}")

        # 14. ... over more than one page (ListObjectsV2 answers at most 1,000 keys a page)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: p.s3.put_object(Bucket=BUCKET, Key=f"many/{i:05d}", Body=b"z"), range(1005)))
        lmap["ItemReader"] = {"Resource": listing["Resource"], "Parameters": {"Bucket": BUCKET, "Prefix": "many/"}}
        lmap["MaxConcurrency"] = 16
        d = p.run(machine(lmap), "m/unused.json", "[]", timeout=300)
        keys = sorted(i["Key"] for b in stub.payloads for i in b["Items"])
        p.report("ItemReader listObjectsV2 over 1,005 keys (AWS: every page, through ContinuationToken)",
                 f"{len(keys)} items" if d["status"] == "SUCCEEDED" else d["status"],
                 f"execution {d['status']}; items {len(keys)}, last key {keys[-1] if keys else None}")
    finally:
        moto.stop()
    out = os.environ.get("PROBE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"moto": version, "probes": p.results}, f, indent=2, default=str)


if __name__ == "__main__":
    main()
