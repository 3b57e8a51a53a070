"""The state machines of template.yaml (BackfillStateMachine, RerenderStateMachine), as moto's engine can run them.

Two steps, each a pure function tested by scripts/backfill/test_transform.py:

1. `resolve(template, parameters, names, state_machine)`: the `Definition` of the state machine with its
   CloudFormation intrinsics (!Ref, !Sub, !GetAtt, !If over the template's Conditions) resolved,
   as CloudFormation would, with the template's parameter defaults unless overridden.

2. `for_moto(definition)`: takes out only what moto 5.2.5's interpreter lacks (probed by
   scripts/backfill/probe_moto.py, recorded in docs/backfills.md):
   - ItemBatcher (refused at creation): replaced by an ItemSelector that wraps each item as a
     one-item batch with the same BatchInput,
     `{"Items.$": "States.Array($$.Map.Item.Value)", "BatchInput": <ItemBatcher.BatchInput>}`,
     so the function receives exactly the batch shape AWS sends, one item at a time.
   - ReaderConfig InputType JSONL (refused at creation): becomes JSON; the runner uploads the
     manifest converted to a JSON array (`jsonl_to_json`) and starts the execution on that copy.
   - ResultWriter (moto writes only an empty manifest.json and replaces the map's output with
     it): replaced by `ResultSelector: {"batches.$": "States.ArrayLength($)"}`, which keeps the
     map's output small as a ResultWriter does (every batch's answer would exceed the 256 KiB
     state-output limit); the runner writes the report from the answers it saw.
   Everything else (Choice, Pass with States.StringToJson, ItemReader, the s3:listObjectsV2
   ItemReader among them (moto lists one page, at most 1,000 keys), MaxConcurrencyPath,
   ToleratedFailurePercentagePath, Retry with MaxDelaySeconds and JitterStrategy, the Lambda task)
   is left as the template has it. The changes are returned as a list, which the runner prints.
"""

import copy
import json
import re

import yaml

STATE_MACHINE = "BackfillStateMachine"
RERENDER = "RerenderStateMachine"
STATE_MACHINES = (STATE_MACHINE, RERENDER)
BATCH_WRAPPER_ITEMS = "States.Array($$.Map.Item.Value)"


class CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short tags as their long form ({"Ref": x}, ...)."""


def _tag(loader, tag, node):
    name = tag[1:]
    long = "Ref" if name == "Ref" else "Fn::" + name
    if isinstance(node, yaml.ScalarNode):
        value = node.value
        if name == "GetAtt":
            value = value.split(".", 1)
        return {long: value}
    if isinstance(node, yaml.SequenceNode):
        return {long: loader.construct_sequence(node, deep=True)}
    return {long: loader.construct_mapping(node, deep=True)}


for _t in ["!Ref", "!Sub", "!GetAtt", "!If", "!Equals", "!Not", "!And", "!Or", "!Join", "!Select", "!Split", "!FindInMap", "!Condition"]:
    CfnLoader.add_constructor(_t, lambda loader, node, t=_t: _tag(loader, t, node))


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


def parameter_values(template, overrides=None):
    values = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    for k, v in (overrides or {}).items():
        if k not in values:
            raise KeyError(f"template.yaml has no parameter {k}")
        values[k] = str(v)
    return values


NO_VALUE = object()  # !Ref AWS::NoValue: the key or list entry holding it is dropped


class Resolver:
    """Resolves intrinsics. `names` gives Ref values of resources and `Resource.Attr` values."""

    def __init__(self, template, parameters, names):
        self.template = template
        self.values = dict(parameters)
        self.values.update({"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                            "AWS::Partition": "aws", "AWS::StackName": "image-ingest", "AWS::NoValue": NO_VALUE})
        self.values.update(names)
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name not in self.values:
            raise KeyError(f"no value for !Ref {name}")
        return self.values[name]

    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.ref(".".join(arg))
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    text, local = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
                else:
                    text, local = arg, {}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(local[m.group(1)] if m.group(1) in local else self.ref(m.group(1))), text)
            if key == "Fn::If":
                cond, yes, no = arg
                return self.resolve(yes if self.condition(cond) else no)
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(arg))
            if key == "Fn::Or":
                return any(self.resolve(arg))
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"{key} in the state machine definition")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def definition_of(template, state_machine=STATE_MACHINE):
    return template["Resources"][state_machine]["Properties"]["Definition"]


def resolve(template, parameters, names, state_machine=STATE_MACHINE):
    return Resolver(template, parameters, names).resolve(copy.deepcopy(definition_of(template, state_machine)))


def item_readers(definition):
    """The `Resource` of each Map state's ItemReader, by state name."""
    return {name: state["ItemReader"]["Resource"] for name, state in map_states(definition["States"]) if "ItemReader" in state}


def map_states(states):
    """Every Map state, nested ones included, as (name, state)."""
    for name, state in states.items():
        if state.get("Type") == "Map":
            yield name, state
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            yield from map_states(processor.get("States", {}))
        elif state.get("Type") == "Parallel":
            for branch in state.get("Branches", []):
                yield from map_states(branch.get("States", {}))


def for_moto(definition):
    """Returns (definition moto can run, list of the changes made)."""
    out = copy.deepcopy(definition)
    changes = []
    for name, state in map_states(out["States"]):
        batcher = state.pop("ItemBatcher", None)
        if batcher is not None:
            if "ItemSelector" in state:
                raise ValueError(f"{name}: ItemSelector and ItemBatcher together cannot become one-item batches")
            selector = {"Items.$": BATCH_WRAPPER_ITEMS}
            if "BatchInput" in batcher:
                selector["BatchInput"] = batcher["BatchInput"]
            state["ItemSelector"] = selector
            changes.append(f"{name}: ItemBatcher {json.dumps(batcher, sort_keys=True)} -> ItemSelector {json.dumps(selector, sort_keys=True)} (one item per batch)")
        reader = state.get("ItemReader", {}).get("ReaderConfig", {})
        if reader.get("InputType") == "JSONL":
            reader["InputType"] = "JSON"
            changes.append(f"{name}: ReaderConfig InputType JSONL -> JSON (the runner converts the manifest)")
        if state.pop("ResultWriter", None) is not None:
            if "ResultSelector" in state:
                raise ValueError(f"{name}: ResultSelector and ResultWriter together are not handled")
            # With a ResultWriter the map's output is a small object; without one it is every
            # batch's answer, over the 256 KiB state-output limit (States.DataLimitExceeded) on
            # AWS and on moto alike for a large map run. Keep it small as ResultWriter does.
            state["ResultSelector"] = {"batches.$": "States.ArrayLength($)"}
            changes.append(f"{name}: ResultWriter -> ResultSelector {{\"batches.$\": \"States.ArrayLength($)\"}} (the runner writes the report)")
        if isinstance(state.get("ToleratedFailurePercentage"), int):
            state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
            changes.append(f"{name}: ToleratedFailurePercentage written as a float (moto's parser refuses an integer)")
    return out, changes


def jsonl_to_json(text):
    """A JSON Lines manifest as the JSON array moto's ItemReader reads (blank lines skipped)."""
    return json.dumps([json.loads(line) for line in text.splitlines() if line.strip()])
