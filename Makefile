# Airlock: two commands on a fresh machine with only the Rust toolchain.
#   make demo   the whole job end to end on the embedded defaults (dev keys, fixtures)
#   make test   every test plus the lint gates (what .ci/run runs)
CARGO ?= cargo
BIN := target/release

.PHONY: all build demo test lint fmt clippy unit fuzz-check bench compare keys-dev clean

all: build

build:
	$(CARGO) build --release --locked --workspace --bins

demo: build
	bash scripts/demo.sh

test: lint unit fuzz-check

lint: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

# The fuzz targets live outside the workspace; compile them so an API change cannot break them
# unseen (running them needs cargo-fuzz: RUSTC_BOOTSTRAP=1 cargo fuzz run <target>).
fuzz-check:
	cd fuzz && $(CARGO) check --bins --locked

bench:
	$(CARGO) bench --workspace --locked

keys-dev:
	bash scripts/gen-dev-keys.sh

clean:
	$(CARGO) clean
	rm -rf out
