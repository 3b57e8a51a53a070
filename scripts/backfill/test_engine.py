"""The template's backfill state machine run on moto's engine, end to end (run by `make test`).

A JSON Lines manifest of a few hundred URLs and a small CSV one, each through run.py: moto's
Step Functions and S3, the proxy, a local origin and the function under cargo lambda watch; and
batches as large as a batch may be, every item refused, whose answers must fit the limit on a
state's output. It fails, never skips, when moto is missing or not the pinned version.
"""

import base64
import importlib.metadata
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

PINNED_MOTO = "5.2.5"  # scripts/tools.sh MOTO_VERSION
STATE_LIMIT = 256 * 1024  # Step Functions' limit on a state's output, and on a batch
RUN_STARTED_AT = "2026-11-27T08:00:27.318Z"  # $$.Execution.StartTime as AWS writes it


def batch_bytes(item):
    """The size of `item`'s one-item batch as an ItemBatcher sends it: compact JSON."""
    batch = {"Items": [item], "BatchInput": {"run_started_at": RUN_STARTED_AT}}
    return len(json.dumps(batch, separators=(",", ":")).encode())


def full_batches(size):
    """Two items refused for good, each filling its one-item batch to `size` bytes (the first to
    within a base64 quantum): an inline page that is no image, and a URL item whose bad
    posted_at the refusal's message quotes."""
    page = {"data": "", "file_name": "page.png", "metadata": {"source": "crawl-42"}}
    room = (size - batch_bytes(page)) // 4 * 4  # whole base64 quanta
    page["data"] = base64.b64encode(b"x" * (room // 4 * 3)).decode()
    late = {"url": "http://127.0.0.1:9/" + "p" * 1500 + ".png", "file_name": "late.png", "posted_at": ""}
    late["posted_at"] = "t" * (size - batch_bytes(late))
    return [page, late]


class Engine(unittest.TestCase):
    def test_moto_is_the_pinned_version(self):
        self.assertEqual(importlib.metadata.version("moto"), PINNED_MOTO)

    def backfill(self, manifest, images):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "summary.json")
            code = run.main(["--manifest", os.path.join(tmp, manifest), "--images", str(images),
                             "--work", os.path.join(tmp, "work"), "--timeout", "300", "--summary-json", out,
                             "--param", "BackfillMaxConcurrency=8"])
            with open(out) as f:
                summary = json.load(f)
        return code, summary

    def check(self, code, s, images):
        # demo_items: `images` PNGs, 3 flaky (503 once), 3 missing, 2 HTML pages, 2 duplicates.
        self.assertEqual(s["execution_status"], "SUCCEEDED", s)
        self.assertEqual(s["items"], images + 10)
        self.assertEqual(s["batches"], images + 10 - 2, "one-item batches; duplicates are the same batch")
        self.assertEqual(code, 0, s)
        self.assertEqual(s["stored"], {"created": images + 3, "existing": 2}, s)  # flaky ones after a retry; duplicates
        self.assertEqual(s["failed_by_code"], {"fetch_failed": 3, "unsupported_media_type": 2}, s)
        self.assertEqual(s["error_answers_by_type"], {"ImageIngest.Transient": 3}, "each flaky batch failed once")
        self.assertEqual(s["items_in_failed_batches_by_error"], {}, s)
        self.assertEqual(s["invocations"], s["batches"] + 2 + 3, "duplicates run twice; flaky batches once more")
        self.assertEqual(s["map_output"], {"batches": s["batches"] + 2}, s)
        self.assertEqual(s["objects_in_bucket"], s["stored"].get("created"), s)
        self.assertEqual(s["map_run"]["batches"]["failed"], sum(s["items_in_failed_batches_by_error"].values()), s)
        self.assertEqual(s["map_run"]["items"]["total"], s["items"], s)

    def test_jsonl_manifest(self):
        code, s = self.backfill("urls.jsonl", 300)
        self.check(code, s, 300)

    def test_csv_manifest(self):
        code, s = self.backfill("urls.csv", 60)
        self.check(code, s, 60)

    def test_full_batches_of_refused_items_fit_the_state_output_limit(self):
        # moto has no ItemBatcher, so every item is a batch of its own (docs/backfills.md): each
        # item here is as large as a whole batch may be, less room for moto's own spelling of the
        # batch (spaces, a longer StartTime), which it also holds to 256 KiB as a child's input.
        items = full_batches(STATE_LIMIT - 1144)
        sizes = [batch_bytes(item) for item in items]
        self.assertTrue(all(STATE_LIMIT - 1148 < n <= STATE_LIMIT - 1144 for n in sizes), sizes)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = os.path.join(tmp, "full.jsonl")
            with open(manifest, "w") as f:
                f.writelines(json.dumps(item) + "\n" for item in items)
            out = os.path.join(tmp, "summary.json")
            code = run.main(["--manifest", manifest, "--work", os.path.join(tmp, "work"), "--timeout", "300",
                             "--summary-json", out])
            with open(out) as f:
                s = json.load(f)
        print(f"batches of {STATE_LIMIT - 1144} bytes: largest sent {s['largest_batch_bytes']} bytes, "
              f"largest answer {s['largest_answer_bytes']} bytes")
        # The answers echo the items whole only while they fit, and cut messages quoting them: an
        # answer over the limit would fail its child execution with States.DataLimitExceeded.
        self.assertEqual(s["execution_status"], "SUCCEEDED", s)
        self.assertEqual(code, 0, s)
        self.assertEqual((s["items"], s["batches"]), (2, 2), s)
        self.assertEqual(s["failed_by_code"], {"unsupported_media_type": 1, "invalid_request": 1}, s)
        self.assertEqual(s["answers_with_items_shortened"], 2, s)
        self.assertGreaterEqual(s["largest_batch_bytes"], STATE_LIMIT - 1144, s)
        self.assertLessEqual(s["largest_answer_bytes"], STATE_LIMIT, s)
        self.assertEqual(s["error_answers_by_type"], {}, s)
        self.assertEqual(s["items_in_failed_batches_by_error"], {}, s)
        self.assertEqual(s["engine_errors"], {}, "no States.DataLimitExceeded, nor any other")
        self.assertEqual(s["map_run"]["batches"]["failed"], 0, s)
        self.assertEqual(s["map_run"]["items"]["total"], 2, s)


class StartMoto(unittest.TestCase):
    def test_a_port_taken_before_moto_binds_it_is_given_up_for_another(self):
        import socket
        import urllib.request

        import engine

        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        free_port = engine.free_port
        engine.free_port = lambda: next(ports, None) or free_port()
        log = os.path.join(tempfile.mkdtemp(prefix="start-moto-"), "moto.log")
        moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
        try:
            proc, port = engine.start_moto(moto_server, log)
        finally:
            engine.free_port = free_port
        try:
            self.assertNotEqual(port, taken.getsockname()[1])
            with open(log, "rb") as f:
                self.assertIn(b"in use", f.read(), "the first moto found its port taken")
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/data.json", timeout=10).close()
        finally:
            taken.close()
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
