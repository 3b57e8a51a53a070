"""Tests of the backfill state machine in template.yaml and of its transformation for moto.

    make test-backfill-unit   (run by `make test`)
"""

import copy
import json
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import transform  # noqa: E402

TEMPLATE = os.path.join(HERE, "..", "..", "template.yaml")
NAMES = {"ImageBucket": "the-bucket", "ImageIngestFunction.Arn": "arn:aws:lambda:us-east-1:123456789012:function:image-ingest"}

# Which template parameter each field of the Settings state carries, and the Map fields reading it.
SETTINGS = {
    "max_items_per_batch": ("BackfillMaxItemsPerBatch", ("ItemBatcher", "MaxItemsPerBatchPath")),
    "max_input_bytes_per_batch": ("BackfillMaxInputBytesPerBatch", ("ItemBatcher", "MaxInputBytesPerBatchPath")),
    "max_concurrency": ("BackfillMaxConcurrency", ("MaxConcurrencyPath",)),
    "tolerated_failure_percentage": ("BackfillToleratedFailurePercentage", ("ToleratedFailurePercentagePath",)),
}
LAMBDA_ERRORS = {"Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}


def dig(d, path):
    for p in path:
        d = d[p]
    return d


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = transform.load_template(TEMPLATE)
        cls.raw = transform.definition_of(cls.template)
        cls.params = transform.parameter_values(cls.template)
        cls.definition = transform.resolve(cls.template, cls.params, NAMES)
        cls.maps = {"BackfillJsonLines": "JSONL", "BackfillCsv": "CSV"}

    def test_settings_carry_the_template_parameters(self):
        fields = self.raw["States"]["Settings"]["Parameters"]["settings"]
        self.assertEqual(set(fields), {k + ".$" for k in SETTINGS})
        for key, (param, _) in SETTINGS.items():
            self.assertIn(param, self.template["Parameters"])
            self.assertEqual(fields[key + ".$"], {"Fn::Sub": f"States.StringToJson('${{{param}}}')"})
            self.assertEqual(self.template["Parameters"][param]["Type"], "Number")

    def test_map_fields_read_the_settings(self):
        for name in self.maps:
            state = self.definition["States"][name]
            for key, (_, path) in SETTINGS.items():
                self.assertEqual(dig(state, path), f"$.settings.{key}", f"{name} {path}")
            self.assertNotIn("MaxConcurrency", state)
            self.assertNotIn("ToleratedFailurePercentage", state)

    def test_resolved_settings_are_numbers_at_run_time(self):
        params = transform.parameter_values(self.template, {"BackfillMaxConcurrency": 7})
        d = transform.resolve(self.template, params, NAMES)
        self.assertEqual(d["States"]["Settings"]["Parameters"]["settings"]["max_concurrency.$"], "States.StringToJson('7')")
        self.assertNotIn("Fn::", json.dumps(d))
        self.assertNotIn('"Ref"', json.dumps(d))

    def test_the_two_maps_differ_only_in_reader_config(self):
        a = copy.deepcopy(self.raw["States"]["BackfillJsonLines"])
        b = copy.deepcopy(self.raw["States"]["BackfillCsv"])
        self.assertEqual(a["ItemReader"].pop("ReaderConfig"), {"InputType": "JSONL"})
        self.assertEqual(b["ItemReader"].pop("ReaderConfig"), {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})
        self.assertEqual(a, b)

    def test_choice_by_manifest_key(self):
        choice = self.definition["States"]["ManifestFormat"]
        self.assertEqual(choice["Choices"], [{"Variable": "$.manifest", "StringMatches": "*.csv", "Next": "BackfillCsv"}])
        self.assertEqual(choice["Default"], "BackfillJsonLines")

    def test_batches_carry_the_execution_start_time(self):
        for name in self.maps:
            state = self.definition["States"][name]
            self.assertEqual(state["ItemBatcher"]["BatchInput"], {"run_started_at.$": "$$.Execution.StartTime"})
            self.assertEqual(state["ItemReader"]["Parameters"], {"Bucket": "the-bucket", "Key.$": "$.manifest"})
            self.assertEqual(state["ResultWriter"]["Parameters"], {"Bucket": "the-bucket", "Prefix": self.params["BackfillResultsPrefix"]})
            self.assertEqual(state["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED")

    def test_retry_lambda_errors_and_transient(self):
        for name in self.maps:
            task = self.definition["States"][name]["ItemProcessor"]["States"]["Ingest"]
            self.assertEqual(task["Resource"], "arn:aws:states:::lambda:invoke")
            self.assertEqual(task["Parameters"], {"FunctionName": NAMES["ImageIngestFunction.Arn"], "Payload.$": "$"})
            retries = [set(r["ErrorEquals"]) for r in task["Retry"]]
            self.assertIn(LAMBDA_ERRORS, retries)
            self.assertIn({"ImageIngest.Transient"}, retries)
            for r in task["Retry"]:
                self.assertGreater(r["BackoffRate"], 1)
                self.assertNotIn("States.ALL", r["ErrorEquals"])
            self.assertNotIn("Catch", task)  # a caught error would count as a success

    def test_role_is_scoped_to_the_prefixes_and_the_function(self):
        props = self.template["Resources"][transform.STATE_MACHINE]["Properties"]
        statements = transform.Resolver(self.template, self.params, NAMES).resolve(props["Policies"])[0]["Statement"]
        by_action = {}
        for s in statements:
            for a in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
                by_action.setdefault(a, []).extend([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
        manifests = f"arn:aws:s3:::the-bucket/{self.params['BackfillManifestPrefix']}/*"
        results = f"arn:aws:s3:::the-bucket/{self.params['BackfillResultsPrefix']}/*"
        self.assertEqual(sorted(by_action["s3:GetObject"]), sorted([manifests, results]))
        self.assertEqual(by_action["s3:PutObject"], [results])
        self.assertEqual(by_action["lambda:InvokeFunction"][0], NAMES["ImageIngestFunction.Arn"])
        self.assertTrue(by_action["states:StartExecution"][0].endswith(":stateMachine:image-ingest-backfill"))
        self.assertEqual(props["Name"], {"Fn::Sub": "${AWS::StackName}-backfill"})
        for action in ["states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"]:
            self.assertTrue(by_action[action][0].endswith(":execution:image-ingest-backfill/*"))
        self.assertTrue(all("*" not in a for a in by_action))

    def test_every_backfill_parameter_is_used(self):
        text = json.dumps(self.template["Resources"][transform.STATE_MACHINE])
        for name in self.template["Parameters"]:
            if name.startswith("Backfill"):
                self.assertIn(name, text)

    def test_batches_are_capped_at_the_function_s_item_limit(self):
        # The function refuses a batch of more than MAX_ITEMS whole (src/request.rs); a larger
        # MaxItemsPerBatch would fail every batch of a large manifest.
        with open(os.path.join(HERE, "..", "..", "src", "request.rs")) as f:
            limit = int(re.search(r"pub const MAX_ITEMS: usize = (\d+);", f.read()).group(1))
        param = self.template["Parameters"]["BackfillMaxItemsPerBatch"]
        self.assertEqual(param["MaxValue"], limit)
        self.assertLessEqual(param["Default"], limit)

    def test_function_environment(self):
        env = self.template["Resources"]["ImageIngestFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["MAX_PIXELS"], {"Ref": "MaxPixels"})
        self.assertEqual(env["STRIP_LOCATION"], {"Ref": "StripLocation"})
        self.assertEqual(env["FETCH_MAX_PER_HOST"], {"Ref": "FetchMaxPerHost"})
        p = self.template["Parameters"]
        self.assertEqual(p["MaxPixels"]["Default"], 100000000)
        self.assertEqual(p["StripLocation"]["AllowedValues"], ["false", "true"])
        self.assertEqual(p["FetchMaxPerHost"]["Default"], 10)


class ForMoto(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        template = transform.load_template(TEMPLATE)
        cls.definition = transform.resolve(template, transform.parameter_values(template), NAMES)
        cls.moto, cls.changes = transform.for_moto(cls.definition)

    def test_batcher_becomes_a_one_item_batch(self):
        for name in ["BackfillJsonLines", "BackfillCsv"]:
            state = self.moto["States"][name]
            self.assertNotIn("ItemBatcher", state)
            self.assertEqual(state["ItemSelector"], {
                "Items.$": "States.Array($$.Map.Item.Value)",
                "BatchInput": {"run_started_at.$": "$$.Execution.StartTime"},
            })

    def test_jsonl_reads_as_json_and_csv_is_kept(self):
        self.assertEqual(self.moto["States"]["BackfillJsonLines"]["ItemReader"]["ReaderConfig"], {"InputType": "JSON"})
        self.assertEqual(self.moto["States"]["BackfillCsv"]["ItemReader"]["ReaderConfig"], {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"})

    def test_only_what_moto_lacks_changes(self):
        original = copy.deepcopy(self.definition)
        moto = copy.deepcopy(self.moto)
        for name in ["BackfillJsonLines", "BackfillCsv"]:
            for key in ["ItemBatcher", "ResultWriter"]:
                del original["States"][name][key]
            del moto["States"][name]["ItemSelector"]
            self.assertEqual(moto["States"][name].pop("ResultSelector"), {"batches.$": "States.ArrayLength($)"})
            original["States"][name]["ItemReader"]["ReaderConfig"]["InputType"] = moto["States"][name]["ItemReader"]["ReaderConfig"]["InputType"]
        self.assertEqual(original, moto)
        self.assertEqual(len(self.changes), 5, self.changes)
        self.assertNotEqual(self.definition, self.moto, "the input is not modified")
        self.assertIn("ItemBatcher", self.definition["States"]["BackfillCsv"])

    def test_refuses_item_selector_with_batcher(self):
        d = copy.deepcopy(self.definition)
        d["States"]["BackfillCsv"]["ItemSelector"] = {"x.$": "$$.Map.Item.Value"}
        with self.assertRaises(ValueError):
            transform.for_moto(d)

    def test_integer_tolerance_becomes_float(self):
        d = {"StartAt": "M", "States": {"M": {"Type": "Map", "ToleratedFailurePercentage": 5, "End": True}}}
        out, changes = transform.for_moto(d)
        self.assertIsInstance(out["States"]["M"]["ToleratedFailurePercentage"], float)
        self.assertEqual(len(changes), 1)

    def test_jsonl_to_json(self):
        self.assertEqual(json.loads(transform.jsonl_to_json('{"url":"a"}\n\n{"url":"b","posted_at":"2026-01-01T00:00:00Z"}\n')),
                         [{"url": "a"}, {"url": "b", "posted_at": "2026-01-01T00:00:00Z"}])


if __name__ == "__main__":
    unittest.main()
