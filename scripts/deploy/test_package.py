"""The deploy path with no AWS account (run by `make test-deploy`, part of `make test`).

`make build` has built what `make deploy` uploads (sam build into .aws-sam/build). This packages
it with `sam package`, the upload step of `sam deploy`, into a bucket on moto, reads back what
was uploaded and checks it as Lambda would take it: one zip with an executable aarch64
`bootstrap` at its root and nothing else, within Lambda's size limits, every artifact the
template references uploaded, and a template cfn-lint passes. Then it runs that very bootstrap
under qemu-aarch64, behind cargo lambda watch's Runtime API, against moto's S3 for one API
Gateway event. It fails, never skips, when a tool is missing.
"""

import base64
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "backfill"))
import engine  # noqa: E402  (free ports, waiting for them, the Invoke API client)
import run  # noqa: E402  (stopping a process group)

ARTIFACTS = "image-ingest-artifacts"
BUCKET = "image-ingest-deploy-test"
# Lambda's limits for a .zip deployment package (uploaded through S3): zipped and unzipped.
MAX_ZIPPED = 50 * 1000 * 1000
MAX_UNZIPPED = 250 * 1000 * 1000
EM_AARCH64 = 183


class TemplateLoader:
    """YAML with CloudFormation's short tags (`!Ref`, `!Sub`, ...) read as plain values."""

    @staticmethod
    def load(text):
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def tagged(loader, tag, node):
            if isinstance(node, yaml.ScalarNode):
                return {tag: loader.construct_scalar(node)}
            if isinstance(node, yaml.SequenceNode):
                return {tag: loader.construct_sequence(node, deep=True)}
            return {tag: loader.construct_mapping(node, deep=True)}

        Loader.add_multi_constructor("!", tagged)
        return yaml.load(text, Loader=Loader)


def s3_locations(node, path="Resources"):
    """Every `s3://bucket/key` string and `{Bucket, Key}` location in a template, with where it is."""
    if isinstance(node, str):
        if node.startswith("s3://"):
            bucket, _, key = node[5:].partition("/")
            yield path, bucket, key
    elif isinstance(node, dict):
        if set(node) >= {"Bucket", "Key"} and all(isinstance(node[k], str) for k in ("Bucket", "Key")):
            yield path, node["Bucket"], node["Key"]
        for name, value in node.items():
            yield from s3_locations(value, f"{path}.{name}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from s3_locations(value, f"{path}[{i}]")


def require(command):
    found = shutil.which(command)
    if not found:
        raise RuntimeError(f"{command} is not on PATH: run `make test-deploy`, which installs it")
    return found


class Packaged(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="deploy-test-")
        moto_server = os.path.join(os.path.dirname(sys.executable), "moto_server")
        cls.moto, cls.moto_port = engine.start_moto(moto_server, os.path.join(cls.tmp, "moto.log"))
        try:
            cls.endpoint = f"http://127.0.0.1:{cls.moto_port}"
            cls.env = dict(os.environ, AWS_ENDPOINT_URL=cls.endpoint, AWS_ACCESS_KEY_ID="test",
                           AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=engine.REGION,
                           AWS_REGION=engine.REGION, AWS_EC2_METADATA_DISABLED="true", SAM_CLI_TELEMETRY="0")
            cls.s3 = cls.client("s3")
            for bucket in (ARTIFACTS, BUCKET):
                cls.s3.create_bucket(Bucket=bucket)
            cls.template_path = os.path.join(cls.tmp, "packaged.yaml")
            # As `sam deploy` packages: no --template-file, so sam takes .aws-sam/build/template.yaml
            # when `make build` made one, and template.yaml (the source folder) when it did not.
            started = time.time()
            package = subprocess.run(
                [require("sam"), "package", "--s3-bucket", ARTIFACTS, "--region", engine.REGION,
                 "--output-template-file", cls.template_path, "--force-upload"],
                cwd=ROOT, env=cls.env, capture_output=True, text=True,
            )
            if package.returncode != 0:
                raise RuntimeError(f"sam package failed:\n{package.stdout}\n{package.stderr[-4000:]}")
            print(f"sam package: {time.time() - started:.1f} s", file=sys.stderr)
            with open(cls.template_path) as f:
                cls.template = TemplateLoader.load(f.read())
            code_uri = cls.template["Resources"]["ImageIngestFunction"]["Properties"]["CodeUri"]
            assert isinstance(code_uri, str) and code_uri.startswith("s3://"), f"CodeUri {code_uri!r}"
            bucket, _, key = code_uri[5:].partition("/")
            cls.zip_bytes = cls.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def client(cls, service):
        import boto3

        return boto3.client(service, region_name=engine.REGION, endpoint_url=cls.endpoint,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def test_the_function_artifact_is_an_executable_aarch64_bootstrap_alone(self):
        archive = zipfile.ZipFile(io.BytesIO(self.zip_bytes))
        names = archive.namelist()
        self.assertEqual(names, ["bootstrap"], f"the zip holds {len(names)} entries, e.g. {names[:10]}")
        info = archive.getinfo("bootstrap")
        mode = info.external_attr >> 16
        self.assertTrue(mode & stat.S_IXUSR, f"bootstrap's mode is {oct(mode)}: Lambda could not run it")
        head = archive.open("bootstrap").read(20)
        self.assertEqual(head[:4], b"\x7fELF")
        self.assertEqual(head[4], 2, "a 64-bit ELF")
        self.assertEqual(int.from_bytes(head[18:20], "little"), EM_AARCH64, "built for aarch64")
        zipped, unzipped = len(self.zip_bytes), info.file_size
        print(f"function zip: {zipped / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped", file=sys.stderr)
        self.assertLessEqual(zipped, MAX_ZIPPED)
        self.assertLessEqual(unzipped, MAX_UNZIPPED)

    def test_every_artifact_the_template_references_is_uploaded(self):
        locations = list(s3_locations(self.template["Resources"]))
        self.assertTrue(locations, "the packaged template references no artifact")
        for where, bucket, key in locations:
            with self.subTest(where=where):
                self.assertEqual(bucket, ARTIFACTS)
                self.s3.head_object(Bucket=bucket, Key=key)
        # Nothing the template points at is left as a local path.
        for name, resource in self.template["Resources"].items():
            properties = resource.get("Properties", {})
            for field in ("CodeUri", "DefinitionUri", "ContentUri"):
                value = properties.get(field)
                if value is not None:
                    with self.subTest(resource=name, field=field):
                        self.assertTrue(isinstance(value, str) and value.startswith("s3://") or isinstance(value, dict),
                                        f"{name}.{field} = {value!r}")

    def test_the_packaged_template_passes_cfn_lint(self):
        lint = subprocess.run([require("cfn-lint"), self.template_path], capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_the_packaged_bootstrap_stores_an_object_under_qemu(self):
        work = os.path.join(self.tmp, "task")
        os.makedirs(work)
        archive = zipfile.ZipFile(io.BytesIO(self.zip_bytes))
        self.assertIn("bootstrap", archive.namelist(), "no bootstrap at the zip's root: Lambda would fail every start")
        archive.extract("bootstrap", work)
        bootstrap = os.path.join(work, "bootstrap")
        os.chmod(bootstrap, 0o755)  # zipfile does not restore modes; the first test checks the zip's
        port = engine.free_port()
        env_file = os.path.join(self.tmp, "function.env")
        env = {
            "BUCKET_NAME": BUCKET, "KEY_PREFIX": "images/", "AWS_ENDPOINT_URL_S3": self.endpoint,
            "S3_FORCE_PATH_STYLE": "true", "AWS_REGION": engine.REGION, "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
        }
        with open(env_file, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in env.items())
        log = open(os.path.join(self.tmp, "function.log"), "ab")
        # cargo lambda watch's Runtime API in front of the packaged bootstrap, run by qemu.
        server = subprocess.Popen(
            [os.path.join(ROOT, "scripts", "serve-function.sh"), env_file, str(port),
             require("qemu-aarch64"), "-L", "/usr/aarch64-linux-gnu", bootstrap],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            engine.wait_for_port(port, 60, server)
            with open(os.path.join(ROOT, "events", "apigw-v2-raw-png.json"), "rb") as f:
                event = f.read()
            invoke = engine.cargo_lambda_invoker(port, "image-ingest")
            status, headers, out = invoke("image-ingest", event, {})
            self.assertEqual(status, 200, out)
            self.assertNotIn("x-amz-function-error", {k.lower() for k, _ in headers}, out)
            answer = json.loads(out)
            self.assertEqual(answer.get("statusCode"), 201, answer)
            stored = self.s3.get_object(Bucket=BUCKET, Key="images/2026/11/24/203015/tabby.png")
            self.assertEqual(stored["Body"].read(), base64.b64decode(json.loads(event)["body"]))
            self.assertEqual(stored["ContentType"], "image/png")
        finally:
            run.stop_process_group(server)
            log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
