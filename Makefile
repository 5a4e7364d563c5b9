# synscan: the two commands a newcomer needs are `make demo` and `make test`;
# `make install` puts the binary, its man page and shell completions under PREFIX.
CARGO ?= cargo
# Where cargo puts what it builds: asked from cargo itself, so CARGO_TARGET_DIR and
# build.target-dir in a cargo config are honoured (target/ when cargo cannot say).
TARGET_DIR := $(or $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'),target)
RELEASE := $(TARGET_DIR)/release

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
# The dedicated user root-started scans switch to (src/scan/run_as.rs names the same).
SYSTEM_USER := synscan
CREATE_SYSTEM_USER := useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(SYSTEM_USER)

.PHONY: all build demo test lint bench bench-follow-regex bench-follow bench-e2e bench-memory bench-rate bench-rate-e2e bench-sparse bench-discovery bench-udp bench-tries bench-ipv6 clean install uninstall

all: build

# Both workspace members (default-members): the scanner and the lab.
build:
	$(CARGO) build --release --bins

# Raises a throwaway two-namespace lab, scans it, shows the open and filtered ports and the
# verdict, leaves the full report in a file it names, tears the lab down.
demo: build
	$(RELEASE)/synscan-lab demo --synscan $(RELEASE)/synscan

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

# Unit tests, then end-to-end tests against namespace labs. Tests that need root are marked
# #[ignore = "needs root: ..."]: run as root they all run; otherwise cargo lists them as
# ignored. One test at a time: lab scans share two cores. Both crates of the workspace are
# tested (default-members); the lab's own tests make cargo build the synscan-lab binary.
ROOT_TESTS := $(if $(filter 0,$(shell id -u)),--include-ignored,)
test: lint
	@[ -n "$(ROOT_TESTS)" ] || echo "make test: not root, so the tests that need root are only listed as ignored"
	$(CARGO) test --release -- --test-threads=1 $(ROOT_TESTS)

bench:
	$(CARGO) bench --bench hot_paths

# The follow-up layer's regex engines over nmap-service-probes and the banner corpus.
bench-follow-regex:
	$(CARGO) bench --bench follow_regex

# The follow-up library alone (service, TLS, HTTP) against nmap -sV -T4 on the lab's real
# daemons, the replayed banner corpus and quiet ports.
bench-follow: build
	RELEASE=$(RELEASE) E2E_NO_BUILD=1 bash benches/follow.sh

bench-e2e: build
	RELEASE=$(RELEASE) bash benches/e2e.sh

# Peak RSS send-only against masscan as the scan's size, timeout and rate grow (scenario m).
bench-memory: build
	RELEASE=$(RELEASE) E2E_SCENARIOS=m E2E_TOOLS="synscan masscan" bash benches/e2e.sh

# IPv6 send-only against IPv4 on one mixed lab, with masscan and nmap -6 (issue #12's row).
bench-ipv6: build
	RELEASE=$(RELEASE) E2E_SCENARIOS=6 bash benches/e2e.sh

# The adaptive default rate against nmap -T4 and fixed rates (issue #11's rows h d l r).
bench-rate-e2e: build
	RELEASE=$(RELEASE) E2E_SCENARIOS="h d l r" E2E_TOOLS="synscan nmap" bash benches/e2e.sh

# The adaptive rate where answers are scarce (issue #22's rows s1 s2 s3; S4 is bench-rate-e2e's d l r).
bench-sparse: build
	RELEASE=$(RELEASE) E2E_SCENARIOS="s1 s2 s3" E2E_TOOLS="synscan nmap" bash benches/e2e.sh

# Host discovery (issue #21 rows D1, D2): a /16 with 1% alive in three kinds (nmap -sn -T4,
# masscan --ping, zmap icmp_echoscan) and an ARP sweep of a /24 (nmap -sn, masscan --arpscan).
bench-discovery: build
	RELEASE=$(RELEASE) bash benches/discovery.sh

# UDP (issue #19 rows U1, U2): nmap -sU -T4 and masscan -pU on the UDP lab (`serve --udp`,
# Linux's ICMP limit per address pair), scored against its truth, beside the floor the limit sets.
bench-udp: build
	RELEASE=$(RELEASE) bash benches/udp.sh

# Retries under 5% loss each way: misses over many runs against the tries' arithmetic.
bench-tries: build
	RELEASE=$(RELEASE) E2E_SCENARIOS=t E2E_TOOLS=synscan bash benches/e2e.sh

# --rate accuracy from 1k pps to the ceiling, on a send-only lab.
bench-rate: build
	RELEASE=$(RELEASE) bash benches/rate.sh

clean:
	$(CARGO) clean

# The binary to $(DESTDIR)$(BINDIR), the man page and bash/zsh/fish completions generated
# from the clap definition. File capabilities are not set here (a packager's DESTDIR
# cannot hold them): run `sudo setcap cap_net_raw+ep $(BINDIR)/synscan` afterwards, or
# capabilities/setcap.sh $(BINDIR)/synscan. It also creates the dedicated system user
# $(SYSTEM_USER) (no shell, no home) that root-started scans switch to once their sockets are
# open, since nobody is shared with other daemons, and that the systemd units in
# capabilities/ name: on a real install as root; a packager (DESTDIR) creates it in the
# package's own scripts.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(DATADIR)/bash-completion/completions \
		$(DESTDIR)$(DATADIR)/zsh/site-functions \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(RELEASE)/synscan $(DESTDIR)$(BINDIR)/synscan
	$(RELEASE)/synscan --generate man > $(DESTDIR)$(MANDIR)/man1/synscan.1
	$(RELEASE)/synscan --generate bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/synscan
	$(RELEASE)/synscan --generate zsh > $(DESTDIR)$(DATADIR)/zsh/site-functions/_synscan
	$(RELEASE)/synscan --generate fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/synscan.fish
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		id -u $(SYSTEM_USER) >/dev/null 2>&1 || $(CREATE_SYSTEM_USER); \
	else \
		echo "create the $(SYSTEM_USER) system user as root: $(CREATE_SYSTEM_USER)"; \
	fi
	@echo "installed $(DESTDIR)$(BINDIR)/synscan; to scan without root: sudo setcap cap_net_raw+ep $(BINDIR)/synscan"

uninstall:
	@echo "the $(SYSTEM_USER) system user is kept (userdel $(SYSTEM_USER) removes it)"
	rm -f $(DESTDIR)$(BINDIR)/synscan $(DESTDIR)$(MANDIR)/man1/synscan.1 \
		$(DESTDIR)$(DATADIR)/bash-completion/completions/synscan \
		$(DESTDIR)$(DATADIR)/zsh/site-functions/_synscan \
		$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/synscan.fish

# Fuzzes the receive path (parse + cookie validation + classification) for FUZZ_SECONDS.
# Needs `cargo install cargo-fuzz`; RUSTC_BOOTSTRAP=1 lets cargo fuzz use its nightly flags
# on the stable toolchain. fuzz/ is its own workspace, outside the main build.
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz:
	cd fuzz && mkdir -p corpus/reply && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run reply corpus/reply seeds/reply -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1
