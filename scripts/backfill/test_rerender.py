"""The template's re-render state machine run on moto's engine, end to end (run by `make test`).

run.py --state-machine RerenderStateMachine writes originals under KeyPrefix (PNGs made here
above 320 px, and the JPEG fixture) and keys under it that are not originals, then runs the
template's RerenderStateMachine twice over that listing: moto's Step Functions and S3 (versioned,
as the template's bucket), the proxy, and the function under cargo lambda watch. The first run
makes every missing rendition and refuses the keys that are not originals; the second writes
nothing. Originals are never written. It fails, never skips, when moto is missing.
"""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

PNGS = 3
SIZES = [32, 320]  # the JPEG fixture is 67x41: it gets the 32 px rendition only


def expected_renditions(key):
    """What the function makes of an original of demo_originals: renditions/<size>/<date path>/<stem>.webp."""
    path = key[len("images/"):]
    stem = path.rsplit(".", 1)[0]
    sizes = [32] if key.endswith("baseline.jpg") else SIZES
    return [f"renditions/{size}/{stem}.webp" for size in sizes]


class Rerender(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "summary.json")
            cls.code = run.main(["--state-machine", "RerenderStateMachine", "--images", str(PNGS), "--runs", "2",
                                 "--work", os.path.join(tmp, "work"), "--timeout", "300", "--summary-json", out,
                                 "--param", "Renditions=" + ",".join(map(str, SIZES)),
                                 "--param", "BackfillMaxConcurrency=4"])
            with open(out) as f:
                cls.s = json.load(f)
        cls.listed = cls.s["originals"] + cls.s["strays"]

    def test_the_listing_of_key_prefix_reaches_the_function(self):
        s = self.s
        self.assertEqual(len(s["originals"]), PNGS + 1)
        self.assertEqual(len(s["strays"]), 2)
        for run_ in s["runs"]:
            self.assertEqual(run_["execution_status"], "SUCCEEDED", run_)
            self.assertEqual(sorted(run_["keys"]), sorted(self.listed), "every listed key is answered, once")
            self.assertEqual(run_["map_run"]["items"]["total"], len(self.listed), run_)
            # moto has no ItemBatcher: one batch per key (docs/backfills.md)
            self.assertEqual(run_["map_run"]["batches"]["total"], len(self.listed), run_)
            self.assertEqual(run_["map_run"]["batches"]["failed"], 0, run_)
            self.assertEqual(run_["map_output"], {"batches": len(self.listed)}, run_)
            self.assertEqual(run_["invocations"], len(self.listed), "no retries")
            self.assertEqual(run_["error_answers_by_type"], {}, run_)
            self.assertEqual(run_["items_in_failed_batches"], {}, run_)
            self.assertFalse(run_["aws_map_run_would_fail"], run_)
        self.assertEqual(self.code, 0)
        self.assertEqual(s["engine_errors"], {})

    def test_keys_that_are_not_originals_are_refused_per_item(self):
        for run_ in self.s["runs"]:
            for key in self.s["strays"]:
                self.assertEqual(run_["keys"][key]["refused"], "invalid_request", run_["keys"][key])
                self.assertIn("not an archived original", run_["keys"][key]["message"])

    def test_originals_are_never_written(self):
        self.assertTrue(self.s["originals_unchanged"], "ETag and number of versions of every listed key")
        for key in self.listed:
            self.assertEqual(self.s["versions_at_end"][key][0], 1, key)
        for run_ in self.s["runs"]:
            self.assertEqual([k for k in run_["written"] if k.startswith("images/")], [], run_["written"])

    def test_every_original_gets_its_renditions_once(self):
        first, second = self.s["runs"]
        made = []
        for key in self.s["originals"]:
            expected = expected_renditions(key)
            self.assertEqual(first["keys"][key].get("renditions"), expected, first["keys"][key])
            self.assertEqual(second["keys"][key].get("renditions"), expected, "the second run finds them")
            made += expected
        self.assertEqual(sorted(self.s["renditions"]), sorted(made))
        for key, head in self.s["renditions"].items():
            self.assertEqual(head["content_type"], "image/webp", key)
            self.assertGreater(head["size"], 0, key)
            self.assertTrue(head["riff_webp"], f"{key} is a WebP file")
            self.assertIn(head["source_key"], self.s["originals"], key)
        renditions = [k for k in first["written"] if not k.startswith("facts/")]
        self.assertEqual(renditions, sorted(made), "the first run writes every rendition, once")
        # And a gallery facts marker per original (put here by hand, so without one until now).
        markers = sorted(k.split("!")[0] for k in first["written"] if k.startswith("facts/"))
        self.assertEqual(markers, sorted("facts/" + k.split("/", 1)[1] for k in self.s["originals"]))
        self.assertEqual(second["written"], [], "the second run writes nothing: conditional writes")


if __name__ == "__main__":
    unittest.main(verbosity=2)
