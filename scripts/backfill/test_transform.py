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


def policy_by_action(template, params, state_machine):
    """Each action of the state machine's role, with its resources and conditions."""
    props = template["Resources"][state_machine]["Properties"]
    statements = transform.Resolver(template, params, NAMES).resolve(props["Policies"])[0]["Statement"]
    by_action = {}
    for s in statements:
        for a in [s["Action"]] if isinstance(s["Action"], str) else s["Action"]:
            entry = by_action.setdefault(a, {"resources": [], "conditions": []})
            entry["resources"].extend([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
            entry["conditions"].append(s.get("Condition"))
    return by_action


class Rerender(unittest.TestCase):
    """RerenderStateMachine: a Distributed Map over ListObjectsV2 of KeyPrefix, otherwise the backfill's."""

    @classmethod
    def setUpClass(cls):
        cls.template = transform.load_template(TEMPLATE)
        cls.params = transform.parameter_values(cls.template)
        cls.raw = transform.definition_of(cls.template, transform.RERENDER)
        cls.definition = transform.resolve(cls.template, cls.params, NAMES, transform.RERENDER)
        cls.backfill = transform.resolve(cls.template, cls.params, NAMES)["States"]["BackfillJsonLines"]
        cls.map = cls.definition["States"]["Rerender"]

    def test_shape(self):
        self.assertEqual(self.definition["StartAt"], "Settings")
        self.assertEqual(self.definition["States"]["Settings"]["Next"], "Rerender")
        self.assertEqual([n for n, _ in transform.map_states(self.definition["States"])], ["Rerender"])
        self.assertTrue(self.map["End"])
        props = self.template["Resources"][transform.RERENDER]["Properties"]
        self.assertEqual(props["Name"], {"Fn::Sub": "${AWS::StackName}-rerender"})
        self.assertEqual(props["Type"], "STANDARD")

    def test_lists_key_prefix_of_the_stack_s_bucket(self):
        reader = self.map["ItemReader"]
        self.assertEqual(reader["Resource"], "arn:aws:states:::s3:listObjectsV2")
        self.assertEqual(reader["Parameters"], {"Bucket": "the-bucket", "Prefix": self.params["KeyPrefix"]})
        self.assertNotIn("ReaderConfig", reader)  # one item per object, as ListObjectsV2 lists it
        self.assertEqual(self.raw["States"]["Rerender"]["ItemReader"]["Parameters"]["Prefix"], {"Ref": "KeyPrefix"})
        d = transform.resolve(self.template, transform.parameter_values(self.template, {"KeyPrefix": "archive/"}), NAMES, transform.RERENDER)
        self.assertEqual(d["States"]["Rerender"]["ItemReader"]["Parameters"]["Prefix"], "archive/")

    def test_settings_carry_the_template_parameters(self):
        fields = self.raw["States"]["Settings"]["Parameters"]
        self.assertEqual(set(fields), {"settings"}, "no manifest: the execution input is {}")
        expected = {key: param for key, (param, _) in SETTINGS.items()}
        expected["max_items_per_batch"] = "RerenderMaxItemsPerBatch"
        self.assertEqual(set(fields["settings"]), {k + ".$" for k in SETTINGS})
        for key, param in expected.items():
            self.assertEqual(fields["settings"][key + ".$"], {"Fn::Sub": f"States.StringToJson('${{{param}}}')"})
            self.assertEqual(self.template["Parameters"][param]["Type"], "Number")
        for key, (_, path) in SETTINGS.items():
            self.assertEqual(dig(self.map, path), f"$.settings.{key}", path)

    def test_batching_concurrency_and_tolerance_are_the_backfill_s(self):
        for field in ["ItemBatcher", "MaxConcurrencyPath", "ToleratedFailurePercentagePath"]:
            self.assertEqual(self.map[field], self.backfill[field], field)
        self.assertEqual(self.map["ItemBatcher"]["BatchInput"], {"run_started_at.$": "$$.Execution.StartTime"})
        self.assertEqual(self.map["ItemProcessor"]["ProcessorConfig"], {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"})

    def test_same_task_and_retry_as_the_backfill(self):
        task = self.map["ItemProcessor"]["States"]["Render"]
        ingest = self.backfill["ItemProcessor"]["States"]["Ingest"]
        self.assertEqual(task, ingest)  # Resource, Parameters, OutputPath, Retry, End; no Catch
        self.assertEqual(task["Retry"], ingest["Retry"])
        self.assertNotIn("Catch", task)
        self.assertEqual({e for r in task["Retry"] for e in r["ErrorEquals"]}, LAMBDA_ERRORS | {"ImageIngest.Transient"})

    def test_report_goes_beside_the_backfill_s(self):
        self.assertEqual(self.map["ResultWriter"], {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "the-bucket", "Prefix": self.params["BackfillResultsPrefix"] + "/rerender"},
        })

    def test_batches_are_capped_at_the_function_s_item_limit(self):
        with open(os.path.join(HERE, "..", "..", "src", "request.rs")) as f:
            source = f.read()
        limit = int(re.search(r"pub const MAX_ITEMS: usize = (\d+);", source).group(1))
        param = self.template["Parameters"]["RerenderMaxItemsPerBatch"]
        self.assertEqual(param["MaxValue"], limit)
        self.assertLessEqual(param["Default"], limit)
        self.assertIn("RerenderMaxItemsPerBatch", source, "the function's refusal names the parameter")

    def test_role_lists_key_prefix_writes_reports_and_reads_nothing(self):
        by_action = policy_by_action(self.template, self.params, transform.RERENDER)
        results = f"arn:aws:s3:::the-bucket/{self.params['BackfillResultsPrefix']}/rerender/*"
        self.assertEqual(by_action["s3:ListBucket"], {"resources": ["arn:aws:s3:::the-bucket"],
                                                      "conditions": [{"StringEquals": {"s3:prefix": self.params["KeyPrefix"]}}]})
        self.assertEqual(by_action["s3:PutObject"]["resources"], [results])
        self.assertEqual(by_action["s3:GetObject"]["resources"], [results], "the function reads the originals, not the role")
        self.assertEqual(by_action["lambda:InvokeFunction"]["resources"][0], NAMES["ImageIngestFunction.Arn"])
        self.assertEqual(by_action["states:StartExecution"]["resources"],
                         ["arn:aws:states:us-east-1:123456789012:stateMachine:image-ingest-rerender"])
        for action in ["states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"]:
            self.assertEqual(by_action[action]["resources"], ["arn:aws:states:us-east-1:123456789012:execution:image-ingest-rerender/*"])
        self.assertTrue(all("*" not in a for a in by_action))
        self.assertNotIn("s3:DeleteObject", by_action)

    def test_an_empty_key_prefix_lists_the_bucket_without_a_condition(self):
        params = transform.parameter_values(self.template, {"KeyPrefix": ""})
        by_action = policy_by_action(self.template, params, transform.RERENDER)
        self.assertEqual(by_action["s3:ListBucket"], {"resources": ["arn:aws:s3:::the-bucket"], "conditions": [None]})

    def test_role_matches_the_backfill_s_but_for_its_name_and_reader(self):
        rerender = policy_by_action(self.template, self.params, transform.RERENDER)
        backfill = policy_by_action(self.template, self.params, transform.STATE_MACHINE)
        self.assertEqual(set(rerender) - set(backfill), {"s3:ListBucket"})
        self.assertEqual(set(backfill) - set(rerender), set())
        self.assertEqual(rerender["lambda:InvokeFunction"], backfill["lambda:InvokeFunction"])

    def test_function_environment(self):
        env = self.template["Resources"]["ImageIngestFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["RENDITIONS"], {"Ref": "Renditions"})
        self.assertEqual(env["RENDITION_FORMAT"], {"Ref": "RenditionFormat"})
        self.assertEqual(env["RENDITION_PREFIX"], {"Ref": "RenditionPrefix"})
        p = self.template["Parameters"]
        self.assertEqual(p["Renditions"]["Default"], "320")
        self.assertEqual(p["RenditionFormat"], dict(p["RenditionFormat"], Default="webp", AllowedValues=["webp", "jpeg"]))
        self.assertEqual(p["RenditionPrefix"]["Default"], "renditions/")
        self.assertEqual(p["RenditionPrefix"]["AllowedPattern"], p["UploadPrefix"]["AllowedPattern"])
        pattern = re.compile(p["Renditions"]["AllowedPattern"])
        for ok in ["", "320", "320,1280", "320, 1280"]:
            self.assertTrue(pattern.match(ok), ok)
        for bad in ["320,", "big", "-1", "320;640"]:
            self.assertFalse(pattern.match(bad), bad)

    def test_rule_keeps_renditions_apart_from_key_and_upload_prefixes(self):
        rule = self.template["Rules"]["RenditionPrefixIsNotKeyPrefixNorUploadPrefix"]
        asserts = [a["Assert"] for a in rule["Assertions"]]
        self.assertEqual(asserts, [{"Fn::Not": [{"Fn::Equals": [{"Ref": "RenditionPrefix"}, {"Ref": other}]}]}
                                   for other in ["KeyPrefix", "UploadPrefix"]])
        self.assertNotIn("RuleCondition", rule)

    def test_output(self):
        self.assertEqual(self.template["Outputs"]["RerenderStateMachineArn"]["Value"], {"Ref": transform.RERENDER})

    def test_for_moto(self):
        moto, changes = transform.for_moto(self.definition)
        state = moto["States"]["Rerender"]
        self.assertEqual(state["ItemReader"], self.map["ItemReader"], "moto runs the listObjectsV2 reader as it is")
        self.assertNotIn("ItemBatcher", state)
        self.assertNotIn("ResultWriter", state)
        self.assertEqual(state["ItemSelector"], {"Items.$": "States.Array($$.Map.Item.Value)",
                                                 "BatchInput": {"run_started_at.$": "$$.Execution.StartTime"}})
        self.assertEqual(state["ResultSelector"], {"batches.$": "States.ArrayLength($)"})
        self.assertEqual(len(changes), 2, changes)
        self.assertEqual(transform.item_readers(moto), {"Rerender": "arn:aws:states:::s3:listObjectsV2"})
        self.assertEqual(transform.item_readers(self.definition), transform.item_readers(moto))


if __name__ == "__main__":
    unittest.main()
