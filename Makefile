# One command runner; .ci/run calls these targets.
CARGO ?= cargo

.PHONY: all fmt fmt-check clippy test build release crds chart

all: fmt-check clippy chart test

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

# Regenerate crds/ and the chart's copy from the Rust types.
crds:
	VIGIL_UPDATE_CRDS=1 $(CARGO) test -p vigil-operator --test crds

# Lint, render and validate the Helm chart (needs helm; see .ci/run).
chart:
	bash charts/vigil/test.sh
