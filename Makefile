# The commands CI and people run. `make check` is what CI runs (see .ci/run).
.PHONY: build check fmt lint test test-deps demo watch invoke deploy bench bench-url clean

EVENT ?= events/apigw-v2-raw-png.json

build:
	scripts/tools.sh cargo-lambda arm64
	cargo lambda build --release --arm64 --bin image-ingest

check: fmt lint test

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

test-deps:
	scripts/tools.sh moto cfn-lint

test: test-deps
	cargo test --workspace
	cfn-lint template.yaml

demo:
	scripts/demo.sh

watch:
	scripts/tools.sh cargo-lambda
	cargo lambda watch --bin image-ingest

invoke:
	scripts/tools.sh cargo-lambda
	cargo lambda invoke image-ingest --data-file $(EVENT)

deploy: build
	scripts/tools.sh sam
	SAM_CLI_TELEMETRY=0 sam deploy --guided

# Benchmarks print ratios measured side by side in one run; they are not part of `make test`.
bench: bench-url

bench-url:
	cargo build --release -p image-ingest -p bench
	target/release/url-stream

clean:
	cargo clean
	rm -rf .demo .aws-sam
