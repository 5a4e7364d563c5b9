# synscan: the two commands a newcomer needs are `make demo` and `make test`.
CARGO ?= cargo
RELEASE := target/release

.PHONY: all build demo test lint bench bench-e2e bench-rate clean

all: build

build:
	$(CARGO) build --release --bins

# Raises a throwaway two-namespace lab, scans it, prints the results, tears it down.
demo: build
	$(RELEASE)/synscan-lab demo --synscan $(RELEASE)/synscan

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

# Unit tests, then end-to-end tests against namespace labs (root needed for those; they
# skip with a note otherwise). One test at a time: lab scans share two cores.
test: lint
	$(CARGO) test --release -- --test-threads=1

bench:
	$(CARGO) bench --bench hot_paths

bench-e2e: build
	bash benches/e2e.sh

# --rate accuracy from 1k pps to the ceiling, on a send-only lab.
bench-rate: build
	bash benches/rate.sh

clean:
	$(CARGO) clean

# Fuzzes the receive path (parse + cookie validation + classification) for FUZZ_SECONDS.
# Needs `cargo install cargo-fuzz`; RUSTC_BOOTSTRAP=1 lets cargo fuzz use its nightly flags
# on the stable toolchain. fuzz/ is its own workspace, outside the main build.
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz:
	cd fuzz && mkdir -p corpus/reply && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run reply corpus/reply seeds/reply -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1
