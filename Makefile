# One command runner; .ci/run calls these targets.
CARGO ?= cargo

.PHONY: all fmt fmt-check clippy test build release

all: fmt-check clippy test

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build:
	$(CARGO) build --workspace --all-targets

release:
	$(CARGO) build --release --bin vigil

test:
	$(CARGO) test --workspace
