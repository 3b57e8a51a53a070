"""The template's backfill state machine run on moto's engine, end to end (run by `make test`).

A JSON Lines manifest of a few hundred URLs and a small CSV one, each through run.py: moto's
Step Functions and S3, the proxy, a local origin and the function under cargo lambda watch. It
fails, never skips, when moto is missing or not the pinned version.
"""

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
