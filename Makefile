# Airlock: two commands on a fresh machine with only the Rust toolchain.
#   make demo   the whole job end to end: keys generated now, example catalog and payload
#   make test   every test plus the lint gates (what .ci/run runs)
CARGO ?= cargo
# Honour CARGO_TARGET_DIR (a shared build cache): the binaries are where cargo puts them.
CARGO_TARGET_DIR ?= target
BIN := $(CARGO_TARGET_DIR)/release
export BIN
PREFIX ?= $(HOME)/.local

.PHONY: all build demo test lint fmt clippy unit bench-check fuzz-check ffi-test python-test node-test go-test musl-test bindings bench compare keys-dev \
	install-docs vectors clean

all: build

build:
	$(CARGO) build --release --locked --workspace --bins

demo: build
	bash scripts/demo.sh

test: lint unit bench-check fuzz-check ffi-test python-test node-test go-test musl-test

lint: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# The scenario tests drive every binary, also those of packages without tests of their own
# (airlock-agent, example-product): build them all first.
unit:
	$(CARGO) build --workspace --locked --bins
	$(CARGO) test --workspace --locked

# Every criterion benchmark once, in test mode (small sizes, debug build): a broken
# benchmark fails here, not months later. `make bench` measures.
bench-check:
	$(CARGO) test --benches --workspace --locked

# The fuzz targets live outside the workspace; compile them so an API change cannot break them
# unseen (running them needs cargo-fuzz: RUSTC_BOOTSTRAP=1 cargo fuzz run <target>).
fuzz-check:
	cd fuzz && $(CARGO) check --bins --locked

# The C ABI (crates/runtime-ffi, libairlock): its static library linked into a C test program
# built with the system compiler, run over the language-neutral vectors and a site the vendor
# tools make (fixture.sh), under valgrind when it is installed (no leak, no invalid access).
FFI_DIR := $(CARGO_TARGET_DIR)/ffi
VALGRIND := $(shell command -v valgrind >/dev/null 2>&1 && echo valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=1)
ffi-test:
	$(CARGO) build --workspace --locked --bins
	$(CARGO) build --locked -p runtime-ffi
	mkdir -p $(FFI_DIR)
	$(CC) -std=c11 -Wall -Wextra -Werror -Wno-format-truncation -g -o $(FFI_DIR)/test_airlock \
		crates/runtime-ffi/tests/c/test_airlock.c -Icrates/runtime-ffi/include \
		$(CARGO_TARGET_DIR)/debug/libairlock.a -lpthread -ldl -lm
	$(CC) -std=c11 -Wall -Wextra -Werror -g -o $(FFI_DIR)/product crates/runtime-ffi/examples/product.c \
		-Icrates/runtime-ffi/include $(CARGO_TARGET_DIR)/debug/libairlock.a -lpthread -ldl -lm
	BIN=$(CARGO_TARGET_DIR)/debug bash crates/runtime-ffi/tests/c/fixture.sh $(FFI_DIR)/site >/dev/null
	AIRLOCK_INSTANCE_ID=ffi-test-machine $(FFI_DIR)/product $(FFI_DIR)/site/trust.json \
		$(FFI_DIR)/site/license $(FFI_DIR)/site/state gate teleport > $(FFI_DIR)/product.out; \
		test $$? = 3 && grep -q "feature teleport: 402 feature_not_licensed" $(FFI_DIR)/product.out
	AIRLOCK_INSTANCE_ID=ffi-test-machine $(VALGRIND) $(FFI_DIR)/test_airlock vectors $(FFI_DIR)/site
	@# The shared library: only prefixed symbols exported (no clash with another native
	@# library's), and the same test linked against it, on a site of its own.
	@if nm -D --defined-only $(CARGO_TARGET_DIR)/debug/libairlock.so | awk '{print $$3}' | grep -v '^airlock_'; then \
		echo "libairlock.so exports the symbols above, without the airlock_ prefix"; exit 1; fi
	$(CC) -std=c11 -Wall -Wextra -Werror -Wno-format-truncation -g -o $(FFI_DIR)/test_airlock_shared \
		crates/runtime-ffi/tests/c/test_airlock.c -Icrates/runtime-ffi/include \
		-L$(CARGO_TARGET_DIR)/debug -lairlock -Wl,-rpath,$(abspath $(CARGO_TARGET_DIR))/debug
	BIN=$(CARGO_TARGET_DIR)/debug bash crates/runtime-ffi/tests/c/fixture.sh $(FFI_DIR)/site-shared >/dev/null
	AIRLOCK_INSTANCE_ID=ffi-test-machine $(FFI_DIR)/test_airlock_shared vectors $(FFI_DIR)/site-shared

# The Python package (bindings/python: PyO3, an abi3 wheel for CPython 3.9+, built with maturin)
# in a virtual environment of its own, tested with pytest over the vectors and the C test's site.
PY_VENV := $(CARGO_TARGET_DIR)/py-venv
python-test:
	$(CARGO) build --workspace --locked --bins
	test -x $(PY_VENV)/bin/python || python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/python -m pip install -q --disable-pip-version-check "maturin>=1.5,<2" "pytest>=7"
	cd bindings/python && $(CARGO) fmt --check && $(CARGO) clippy --locked -q -- -D warnings
	@# The wheel a user installs (abi3, CPython 3.9+), installed as a user would, not the source.
	rm -rf $(CARGO_TARGET_DIR)/wheels
	cd bindings/python && $(abspath $(PY_VENV))/bin/maturin build --locked -q -i $(abspath $(PY_VENV))/bin/python \
		-o $(abspath $(CARGO_TARGET_DIR))/wheels
	ls $(CARGO_TARGET_DIR)/wheels/airlock-*-cp39-abi3-*.whl
	$(PY_VENV)/bin/python -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
		$(CARGO_TARGET_DIR)/wheels/airlock-*-cp39-abi3-*.whl
	cd $(CARGO_TARGET_DIR) && $(abspath $(PY_VENV))/bin/python -c \
		"import airlock; assert 'site-packages' in airlock.__file__, airlock.__file__"
	AIRLOCK_BIN=$(abspath $(CARGO_TARGET_DIR))/debug $(PY_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		bindings/python/tests

# The Node.js addon (bindings/node: napi-rs over the same safe API; index.js and its TypeScript
# types index.d.ts), tested with Node's own runner over the vectors and the C test's site.
NODE_ADDON := $(abspath $(CARGO_TARGET_DIR))/node/airlock.node
node-test:
	$(CARGO) build --workspace --locked --bins
	cd bindings/node && $(CARGO) fmt --check && $(CARGO) clippy --locked -q -- -D warnings
	cd bindings/node && $(CARGO) build --locked -q
	mkdir -p $(dir $(NODE_ADDON))
	cp $$(cd bindings/node && $(CARGO) metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/libairlock_node.so $(NODE_ADDON)
	AIRLOCK_NODE_ADDON=$(NODE_ADDON) AIRLOCK_BIN=$(abspath $(CARGO_TARGET_DIR))/debug node --test bindings/node/test/
	@# The package as published (package.json's "files", the addon beside index.js), loaded by
	@# its directory the way `require('@airlock/runtime')` loads it, without AIRLOCK_NODE_ADDON.
	rm -rf $(dir $(NODE_ADDON))pkg && mkdir -p $(dir $(NODE_ADDON))pkg
	cp bindings/node/package.json bindings/node/index.js bindings/node/index.d.ts $(dir $(NODE_ADDON))pkg/
	cp $(NODE_ADDON) $(dir $(NODE_ADDON))pkg/airlock.node
	cd $(dir $(NODE_ADDON)) && env -u AIRLOCK_NODE_ADDON node -e \
		"const a = require('./pkg'); if (!/^\d+\.\d+\.\d+$$/.test(a.version()) || typeof a.check !== 'function') process.exit(1)"

# The Go module (bindings/go: cgo over the static libairlock, errors.Is on check codes), tested
# with `go test` over the vectors and the C test's site (Debian's golang-go).
go-test:
	@command -v go >/dev/null || { echo "go-test needs Go: apt-get install golang-go (.ci/run does)"; exit 1; }
	$(CARGO) build --workspace --locked --bins
	$(CARGO) build --locked -p runtime-ffi
	cd bindings/go && test -z "$$(gofmt -l .)" && go vet ./... >/dev/null
	cd bindings/go && CGO_LDFLAGS="$(abspath $(CARGO_TARGET_DIR))/debug/libairlock.a" \
		AIRLOCK_BIN=$(abspath $(CARGO_TARGET_DIR))/debug go test -count=1 ./...

# Static builds for Alpine and scratch images: runtime-verify, airlock-agent and libairlock.a for
# x86_64-unknown-linux-musl. The musl runtime-verify runs the license and bundle vectors; the C
# test program, linked statically with musl-gcc against the musl libairlock.a (and Rust's own
# libunwind for musl, not the host's libgcc_eh), runs every vector and the scenario.
MUSL := x86_64-unknown-linux-musl
MUSL_DIR := $(CARGO_TARGET_DIR)/$(MUSL)/release
musl-test:
	@rustup target list --installed 2>/dev/null | grep -qx $(MUSL) || rustup target add $(MUSL)
	@command -v musl-gcc >/dev/null || { echo "musl-test needs musl-gcc: apt-get install musl-tools (.ci/run does)"; exit 1; }
	$(CARGO) build --workspace --locked --bins
	$(CARGO) build --release --locked --target $(MUSL) -p runtime-verify -p agent -p runtime-ffi
	for b in runtime-verify airlock-agent; do \
		file $(MUSL_DIR)/$$b | grep -q "static" || { echo "$$b is not static"; exit 1; }; done
	bash scripts/vectors-cli.sh $(MUSL_DIR)/runtime-verify
	$(MUSL_DIR)/airlock-agent --version
	mkdir -p $(FFI_DIR)
	musl-gcc -std=c11 -Wall -Wextra -Werror -Wno-format-truncation -static -nodefaultlibs \
		-o $(FFI_DIR)/test_airlock_musl crates/runtime-ffi/tests/c/test_airlock.c \
		-Icrates/runtime-ffi/include $(MUSL_DIR)/libairlock.a \
		$$(rustc --print sysroot)/lib/rustlib/$(MUSL)/lib/self-contained/libunwind.a -lc
	BIN=$(CARGO_TARGET_DIR)/debug bash crates/runtime-ffi/tests/c/fixture.sh $(FFI_DIR)/site-musl >/dev/null
	AIRLOCK_INSTANCE_ID=ffi-test-machine $(FFI_DIR)/test_airlock_musl vectors $(FFI_DIR)/site-musl

# Every language binding, built and tested.
bindings: ffi-test python-test node-test go-test

bench:
	$(CARGO) bench --workspace --locked

# Rewrites the language-neutral vectors (vectors/README.md) from the test kit; a test fails
# when the committed ones differ from what this writes.
vectors:
	$(CARGO) run --locked -q -p testkit --example gen_vectors -- vectors

# Shell completions (bash, zsh, fish) and man pages, generated from the clap definitions.
install-docs: build
	mkdir -p $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	for b in factory packager runtime-verify; do \
		$(BIN)/$$b man $(DESTDIR)$(PREFIX)/share/man/man1 >/dev/null && \
		$(BIN)/$$b completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$b && \
		$(BIN)/$$b completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$b && \
		$(BIN)/$$b completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$b.fish \
		|| exit 1; \
	done

keys-dev:
	bash scripts/gen-dev-keys.sh

clean:
	$(CARGO) clean
	rm -rf out
