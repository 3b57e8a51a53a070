# The commands CI and people run. `make check` is what CI runs (see .ci/run).
.PHONY: fuzz fuzz-smoke build check fmt lint test test-deps test-backfill test-deploy template-lint demo watch invoke deploy backfill rerender probe-moto bench bench-smoke bench-backfill bench-url bench-upload bench-renditions bench-facts bench-presign clean

EVENT ?= events/apigw-v2-raw-png.json

# The tools scripts/tools.sh installs at pinned versions come first on PATH, ahead of any other
# version on the machine (moto_server for the tests, cfn-lint, checkov, sam, cargo-lambda).
export PATH := $(shell scripts/tools.sh --bin-dir):$(PATH)
export SAM_CLI_TELEMETRY := 0
# The pinned axe-core the browser tests inject (testkit/tests/browser.rs, tests/integration/browser.rs);
# `make test-deps` installs it. A test that needs it fails when the file is missing.
export AXE_CORE_JS := $(shell scripts/tools.sh --axe)

# Where cargo builds: ./target unless CARGO_TARGET_DIR or build.target-dir says otherwise.
TARGET_DIR = $(shell scripts/target-dir.sh)

# The one debug build that the tests, the bench smoke, the demo and the backfill engine share
# (docs/development.md, "Builds"): every binary and test target in one cargo invocation.
DEBUG_BUILD = scripts/debug-build.sh
# Times a step into $(TIMINGS) when .ci/run sets it; otherwise only runs it.
TIMED = scripts/timed.sh

# What `make deploy` uploads: `sam build` runs `cargo lambda build --release --arm64` (the
# template's BuildMethod: rust-cargolambda) and puts the bootstrap alone in .aws-sam/build, whose
# template `sam deploy` and `sam package` then use. Packaging template.yaml itself would zip the
# whole source folder (make test-deploy checks that it does not).
build:
	scripts/tools.sh cargo-lambda arm64 sam
	rm -rf .aws-sam/build
	$(TIMED) sam-build sam build --beta-features

check: fmt lint test

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test-deps:
	$(TIMED) tools scripts/tools.sh moto cfn-lint checkov sam cargo-lambda nasm chromium axe-core

# The template's linters, the debug build and cargo test, the backfill engine and the deploy
# path; the arm64 release build runs beside the rest (scripts/test.sh says why).
test: test-deps
	scripts/test.sh

# The deploy path with no AWS account: what `make deploy` uploads, packaged by `sam package`
# into moto's S3, read back and checked (one executable aarch64 bootstrap, Lambda's size limits,
# every artifact uploaded, cfn-lint), then that bootstrap run under qemu-aarch64 for one API
# Gateway event (scripts/deploy/test_package.py). Fails if a tool is missing.
test-deploy: build
	scripts/tools.sh moto cfn-lint cargo-lambda qemu
	$(MOTO_PYTHON) scripts/deploy/test_package.py

# The backfill state machine: its definition against the template's parameters and the
# transformation for moto (unit tests), then the template's own definition run on moto's engine
# over a few hundred URLs, and the re-render state machine over a few originals
# (scripts/backfill/, docs/backfills.md). Fails if moto is missing.
MOTO_PYTHON = $(shell scripts/tools.sh --python moto)
test-backfill:
	scripts/tools.sh moto cargo-lambda
	$(MOTO_PYTHON) scripts/backfill/test_transform.py
	$(MOTO_PYTHON) scripts/backfill/test_engine.py
	$(MOTO_PYTHON) scripts/backfill/test_rerender.py

# The SAM template: cfn-lint, SAM's own validation, and checkov's security checks (the ones
# that do not apply are skipped in place in template.yaml, each with its reason).
template-lint:
	scripts/tools.sh cfn-lint checkov sam
	cfn-lint template.yaml
	sam validate --lint --template-file template.yaml
	checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

demo:
	scripts/demo.sh

watch:
	scripts/tools.sh cargo-lambda
	cargo lambda watch --bin image-ingest

# A backfill on moto's Step Functions engine: MANIFEST=urls.jsonl or urls.csv (generated, 1,000
# PNGs on a local origin, when the file does not exist); PARAMS="BackfillMaxConcurrency=8 ...".
MANIFEST ?= urls.jsonl
PARAMS ?=
backfill:
	scripts/tools.sh moto cargo-lambda
	$(MOTO_PYTHON) scripts/backfill/run.py --manifest $(MANIFEST) $(foreach p,$(PARAMS),--param $(p))

# The re-render state machine on moto's engine: a few originals written under KeyPrefix (and keys
# that are not originals), then RerenderStateMachine with the function's RENDITIONS from PARAMS
# ("Renditions=320,1280 RenditionFormat=jpeg ..."); prints the renditions made per key
# (docs/backfills.md, "Re-rendering the archive").
rerender:
	scripts/tools.sh moto cargo-lambda
	$(MOTO_PYTHON) scripts/backfill/run.py --state-machine RerenderStateMachine $(foreach p,$(PARAMS),--param $(p))

# What moto's Step Functions does with each Distributed Map feature (docs/backfills.md).
probe-moto:
	scripts/tools.sh moto
	$(MOTO_PYTHON) scripts/backfill/probe_moto.py

invoke:
	scripts/tools.sh cargo-lambda
	cargo lambda invoke image-ingest --data-file $(EVENT)

# The first deploy asks its questions and can save them to samconfig.toml; later ones reuse
# them. GUIDED=--guided asks again.
GUIDED ?= $(if $(wildcard samconfig.toml),,--guided)
deploy: build
	sam deploy $(GUIDED)

# Benchmarks print ratios measured side by side in one run; they are not part of `make test`.
# floor-default is the same bare Lambda built as the SDK's examples would: the SDK's default
# HTTPS client (rustls on aws-lc), default release profile and aws-lc's jitter entropy left on.
DEFAULT_BUILD = AWS_LC_SYS_NO_JITTER_ENTROPY=0 CARGO_PROFILE_RELEASE_LTO=false \
	CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_STRIP=none \
	cargo build -p floor --features sdk-default-client --target-dir $(TARGET_DIR)/bench-default

bench: build
	cargo build --release -p image-ingest -p local-s3 -p floor -p bench
	$(DEFAULT_BUILD) --release
	env $$(bench/setup.sh) BENCH_OUT=bench $(TARGET_DIR)/release/lambda-bench
	$(TARGET_DIR)/release/url-stream
	BENCH_OUT=bench BENCH_ROUNDS=5 $(TARGET_DIR)/release/upload-verify

# A few iterations of everything, on debug builds, to prove the harness end to end (CI runs it).
bench-smoke:
	$(DEBUG_BUILD) --bench
	$(DEFAULT_BUILD)
	env $$(bench/setup.sh) BENCH_PROFILE=debug BENCH_ROUNDS=1 BENCH_WARM=3 $(TARGET_DIR)/debug/lambda-bench
	BENCH_PROFILE=debug BENCH_URL_BYTES=20000000 BENCH_ROUNDS=1 $(TARGET_DIR)/debug/url-stream
	BENCH_PROFILE=debug BENCH_UPLOAD_BYTES=20000000 BENCH_ROUNDS=1 $(TARGET_DIR)/debug/upload-verify
	env $$(bench/setup.sh) BENCH_PROFILE=debug BENCH_BACKFILL_URLS=300 BENCH_BACKFILL_CAPPED_URLS=100 \
		BENCH_BACKFILL_CONCURRENCY=10 BENCH_ROUNDS=2 $(TARGET_DIR)/debug/backfill
	env $$(bench/setup-renditions.sh) BENCH_PROFILE=debug BENCH_ROUNDS=1 BENCH_RENDITION_PASSES=1 \
		BENCH_RENDITION_PHOTOS=1 $(TARGET_DIR)/debug/renditions

bench-url:
	cargo build --release -p image-ingest -p bench
	$(TARGET_DIR)/release/url-stream

# 10,000 URLs in Distributed Map batches through the function, against a Python handler
# (aiohttp + boto3) at the same concurrency, then 2,000 more with each confined to Lambda's CPU
# share by a cgroup (needs root): images/s, peak RSS, cost per million on Lambda.
bench-backfill:
	cargo build --release -p image-ingest -p bench
	env $$(bench/setup.sh) BENCH_OUT=bench $(TARGET_DIR)/release/backfill
	BENCH_OUT=bench $(TARGET_DIR)/release/dedupe-crawl

# sharp's benchmark task (a 2725x2225 JPEG photo to 720x588, Lanczos, JPEG quality 80), then WebP
# at 720 and at 320 px, by the function's rendition code, sharp (npm) and Pillow (PyPI), each
# confined by a cgroup to one vCPU, Lambda's share at 1,769 MB (needs root): images/s and peak RSS
# (docs/renditions-bench.md).
bench-renditions:
	cargo build --release -p bench
	env $$(bench/setup-renditions.sh) BENCH_OUT=bench $(TARGET_DIR)/release/renditions

# A 1 GiB staged object verified and promoted, against a bare GetObject that only reads it.
bench-upload:
	cargo build --release -p image-ingest -p bench
	BENCH_OUT=bench BENCH_ROUNDS=5 $(TARGET_DIR)/release/upload-verify

# Criterion micro-benchmark of the image facts: header reads under 50 µs, the completeness walk's
# throughput (bench/micro/benches/facts.rs).
bench-facts:
	cargo bench -p microbench --bench facts

bench-presign:
	cargo bench -p microbench --bench presign

# Coverage-guided fuzzing (cargo-fuzz): every target for FUZZ_SECONDS (default 60) each.
fuzz:
	scripts/fuzz.sh

fuzz-smoke:
	FUZZ_SECONDS=10 FUZZ_SANITIZER=none FUZZ_DEV=1 scripts/fuzz.sh

clean:
	cargo clean
	rm -rf .demo .aws-sam
