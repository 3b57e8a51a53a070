"""moto's Step Functions engine on 127.0.0.1, with a proxy in front that sends Lambda invokes elsewhere.

moto's ASL interpreter (moto >= 5.2.5, enabled with the config API) makes its AWS calls
(ItemReader's GetObject, Lambda's Invoke) to http://localhost:$MOTO_PORT. moto_server is started
with MOTO_PORT pointing at the proxy below, not at itself: the proxy forwards
`POST /2015-03-31/functions/<name>/invocations` to a Lambda (cargo lambda watch's Invoke API, or a
stub in this process) and everything else to moto_server.

Runs with the python of the pinned moto virtualenv (scripts/tools.sh moto): it needs boto3 and PyYAML,
which moto brings.
"""

import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations")
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=60, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds}s")


def start_moto(moto_server, log_path, env=None, tries=5, seconds=60):
    """moto_server on a free port, logging to `log_path`: (process, port).

    A port found free can be bound by another process first (a parallel test's moto), and a
    probe by connecting would then find that one. So moto's own "Running on" line says it
    started, and a lost port is tried again.
    """
    for _ in range(tries):
        port = free_port()
        with open(log_path, "ab") as log:
            offset = log.tell()
            proc = subprocess.Popen([moto_server, "-H", "127.0.0.1", "-p", str(port)],
                                    stdout=log, stderr=subprocess.STDOUT, env=env)
        banner = f"Running on http://127.0.0.1:{port}".encode()
        deadline = time.time() + seconds
        while time.time() < deadline:
            with open(log_path, "rb") as log:
                log.seek(offset)
                if banner in log.read():
                    return proc, port
            if proc.poll() is not None:
                proc.wait()
                break  # the port was taken: try another
            time.sleep(0.1)
        else:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"moto_server did not start within {seconds}s (see {log_path})")
    raise RuntimeError(f"moto_server lost its free port {tries} times (see {log_path})")


class Proxy:
    """Routes Lambda invokes to `invoke(name, body, headers) -> (status, headers, body)`, the rest to moto."""

    def __init__(self, moto_port, invoke, port=None):
        self.moto_port = moto_port
        self.invoke = invoke
        self.port = port or free_port()
        self.invocations = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see FIELD-NOTES: no 40 ms Nagle stalls

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                match = INVOKE_PATH.match(self.path)
                if match and self.command == "POST":
                    with proxy.lock:
                        proxy.invocations += 1
                    name = urllib.parse.unquote(match.group(1))
                    status, headers, out = proxy.invoke(name, body, dict(self.headers))
                else:
                    status, headers, out = forward(
                        "127.0.0.1", proxy.moto_port, self.command, self.path, body, self.headers
                    )
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def forward(host, port, method, path, body, headers, timeout=900):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        hdrs = {k: v for k, v in headers.items() if k.lower() not in ("connection", "content-length")}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data
    finally:
        conn.close()


def cargo_lambda_invoker(port, function_name):
    """Invoke through cargo lambda watch's Invoke API on 127.0.0.1:port, answering as Lambda does.

    Lambda answers a function error with 200, `X-Amz-Function-Error: Unhandled` and the error
    document `{"errorType","errorMessage"}` as the payload; moto's interpreter reads `errorType`
    from that payload as the error name that Retry and Catch match. cargo lambda watch answers a
    function error with a non-200 status instead, so this turns it into Lambda's shape.
    """

    def invoke(_name, body, headers):
        path = f"/2015-03-31/functions/{function_name}/invocations"
        status, hdrs, out = forward("127.0.0.1", port, "POST", path, body, {"Content-Type": "application/json"})
        names = {k.lower(): v for k, v in hdrs}
        if status == 200 and "x-amz-function-error" not in names:
            return 200, [("Content-Type", "application/json")], out
        try:
            doc = json.loads(out)
        except ValueError:
            doc = {}
        if not isinstance(doc, dict) or "errorType" not in doc:
            doc = {"errorType": "Lambda.Unknown", "errorMessage": out.decode("utf-8", "replace")}
        return (
            200,
            [("Content-Type", "application/json"), ("X-Amz-Function-Error", "Unhandled")],
            json.dumps(doc).encode(),
        )

    return invoke


class Moto:
    """moto_server on a free port, with Step Functions execution switched on, behind a Proxy."""

    def __init__(self, invoke, log_path, moto_server=None):
        self.proxy = Proxy(None, invoke)  # its moto port is known once moto runs
        env = dict(os.environ, MOTO_PORT=str(self.proxy.port))
        # The moto_server of the virtualenv this runs in: never another version found on PATH.
        self.moto_server = moto_server = moto_server or os.path.join(os.path.dirname(sys.executable), "moto_server")
        self.proc, self.moto_port = start_moto(moto_server, log_path, env)
        self.proxy.moto_port = self.moto_port

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()  # never leave moto_server running behind a failed start
            raise

    def _start(self):
        self.proxy.start()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.moto_port}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            method="POST", headers={"Content-Type": "application/json"},
        )
        # moto 5.2.5 keeps the setting but does not echo it back (its answer lists only batch and
        # lambda), so whether it took effect shows when an execution runs.
        urllib.request.urlopen(req, timeout=10).close()
        return self

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.proxy.port}"

    def client(self, service):
        import boto3

        return boto3.client(
            service, region_name=REGION, endpoint_url=self.endpoint,
            aws_access_key_id="test", aws_secret_access_key="test",
        )

    def stop(self):
        if self.proxy.thread.is_alive():
            self.proxy.stop()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_execution(sfn, arn, timeout, on_tick=None, interval=1.0):
    deadline = time.time() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if on_tick:
            on_tick(d)
        if d["status"] != "RUNNING":
            return d
        if time.time() > deadline:
            raise TimeoutError(f"execution still RUNNING after {timeout}s")
        time.sleep(interval)
