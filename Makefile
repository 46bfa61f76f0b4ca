# xfsbox. `make help` lists the targets.
GO      ?= go
BIN     := bin/xfsbox
PKGS    := ./...
MODULE  := github.com/xfsbox/xfsbox
# Whole-suite bound: a hang fails the run instead of eating CI's time.
# Two packages at a time (-p 2): most of the suite's time is kernel
# mounts, sleeps and I/O. Tests that mount use copies with -o nouuid, and
# no assertion reads the clock (cancellation is bounded in work done, a
# refusal's promptness by what still holds), so a loaded machine slows
# them without failing them.
TESTTIMEOUT ?= 40m
# make install: $(DESTDIR)$(PREFIX)/bin/xfsbox, its man page and its bash
# completion.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# A fixed staticcheck, so that make lint gives the same verdict over time
# (2026.2.2; @latest would change it under us).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build deps test test-short demo images fixtures bench fuzz fuzz-list campaign campaign-files vet lint install uninstall clean help

all: build

help:
	@echo "make            build bin/xfsbox"
	@echo "make demo       damaged image -> mount -> inspect (installs xfsprogs, fuse3 if missing)"
	@echo "make test       all tests (root: loop devices, FUSE, xfsprogs; CI=true turns skips into failures)"
	@echo "make test-short tests that need no root (fixtures only)"
	@echo "make images     generate (and cache) the test image matrix"
	@echo "make bench      benchmark tables: #18 targets against xfs_repair (disk and tmpfs, scale images), files/ against the kernel, workspace sort (builds its images first: tens of minutes)"
	@echo "make fuzz       run every fuzz target of every package for FUZZTIME (default 30s)"
	@echo "make fuzz-list  list the fuzz targets make fuzz runs (package and target)"
	@echo "make campaign   full corruption campaign with repairs judged by xfs_repair -n and the kernel (slow)"
	@echo "make campaign-files  the campaign over inodes, directories, attributes, bmbt and symlinks (hours)"
	@echo "make wild       the wild image matrix in full: oracle, xfs_repair comparison, campaign sample (make campaign runs it)"
	@echo "make safety     240 SIGKILLs during repairs and a wider hostile-image sample (make campaign runs it)"
	@echo "make replay-sweep  the log replay oracle over 200-odd shutdown points (make campaign runs it)"
	@echo "make lint       go vet, gofmt and staticcheck ($(STATICCHECK))"
	@echo "make install    install xfsbox, xfsbox(8) and the bash completion under DESTDIR PREFIX (default /usr/local)"
	@echo "make uninstall  remove what make install installed (same DESTDIR and PREFIX)"

# -buildvcs=auto records the commit (xfsbox --version) when built in a
# git checkout, whatever GOFLAGS says, and builds without it elsewhere.
build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/xfsbox

deps:
	@./.ci/deps

lint: vet
	$(GO) run $(STATICCHECK) -tags bench,campaign ./...

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: deps vet
	$(GO) test -p 2 -count=1 -timeout $(TESTTIMEOUT) $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

demo: deps build
	./testdata/demo.sh $(BIN)

images: deps
	$(GO) test -count=1 -timeout 60m -run TestGenerateImages -v ./internal/testimg/

FUZZTIME ?= 30s
# Every package with tests is asked for its fuzz targets (go test -list),
# so that a target added anywhere runs without a change here.
# Fuzz targets by their declarations (func FuzzX(f *testing.F) in a
# _test.go file), without compiling every test binary;
# TestMakeFuzzListsEveryTarget checks the list against the Go parser's.
fuzz-list:
	@grep -rE --include='*_test.go' --exclude-dir=testdata --exclude-dir='.[!.]*' --exclude-dir='_*' \
	  '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | \
	  sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|$(MODULE)/\1 \2|; s|^\./[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|$(MODULE) \1|' | sort -u

fuzz:
	@set -e; list=$$($(MAKE) -s --no-print-directory fuzz-list); \
	test -n "$$list" || { echo "make fuzz: no fuzz targets found"; exit 1; }; \
	echo "$$list" | while read -r pkg t; do \
	  echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg </dev/null; \
	done

bench: deps build
	XFSBOX_TEST_BENCH=1 $(GO) test -tags bench -count=1 -timeout 120m -run 'TestBenchImage|TestBenchInodesImage|TestFilesImage|TestScaleImages' ./internal/testimg/ >/dev/null
	./testdata/bench-targets.sh $(BIN)
	./testdata/bench.sh $(BIN) $$(ls -t testdata/cache/bench-*.img | head -1) $$(ls -t testdata/cache/benchinodes-*.img | head -1) $$(ls -t testdata/cache/files-*.img | head -1)
	@XFSBOX_BENCH_TABLE=1 $(GO) test -tags bench -count=1 -timeout 60m -run TestPrintBenchTable -v ./repair/workspace/ | grep -v '^=== RUN' || true

campaign: deps build
	$(GO) test -tags campaign -count=1 -timeout 600m -run 'TestCampaignFull|TestReadLayerDamageFull' -v ./internal/campaign/
	$(MAKE) wild
	$(MAKE) safety
	$(MAKE) replay-sweep

# The campaign over the objects above the AG (inodes, directories,
# attributes, bmbt, symlinks), every field and verb on allfeatures,
# defaults and 1k: about 45,000 cases, hours (make test: a sample).
.PHONY: campaign-files
campaign-files: deps build
	$(GO) test -tags campaign -count=1 -timeout 900m -run TestCampaignFilesFull -v ./internal/campaign/

# The wild matrix in full (make campaign runs it): every wild profile
# through the xfs_db oracle and the record-for-record comparison with
# xfs_repair's rebuild (make test: the wild sample), then a campaign
# sample on each, the kernel judging every repair.
.PHONY: wild
wild: deps build
	XFSBOX_WILD_PROFILES=all $(GO) test -count=1 -timeout 120m -run 'TestOracle|TestRepairAllMatchesXfsRepair|TestWildMatrix|TestChunkSourcesAgree' ./repair/view/ ./repair/
	$(GO) test -tags campaign -count=1 -timeout 600m -run TestCampaignWild -v ./internal/campaign/

# Safety campaign (make campaign runs it): 240 SIGKILLs during repairs,
# and more hostile images than make test's sample. XFSBOX_KILL_SEED
# replays a kill run.
.PHONY: safety
safety:
	XFSBOX_KILL_ROUNDS=$${XFSBOX_KILL_ROUNDS:-240} XFSBOX_HOSTILE_CASES=40 XFSBOX_HOSTILE_SEEDS=40 XFSBOX_HOSTILE_REPAIRS=30 \
	  $(GO) test -count=1 -timeout 180m -run 'TestKillDuringRepair|TestHostile' -v ./cmd/xfsbox/

# The log replay oracle's sweep (make campaign runs it): the kernel's
# replay and ours of dirty images shut down at 200-odd points of a
# workload on sixteen profiles must agree; the table goes to
# testdata/results/replay-sweep.txt.
.PHONY: replay-sweep
replay-sweep: deps
	XFSBOX_REPLAY_SWEEP=$${XFSBOX_REPLAY_SWEEP:-all} XFSBOX_REPLAY_OUT=$(CURDIR)/testdata/results/replay-sweep.txt \
	  $(GO) test -count=1 -timeout 600m -run TestReplayOracleSweep -v ./repair/replay/

install: build
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(MANDIR)/man8" "$(DESTDIR)$(BASHCOMPDIR)"
	install -m 0755 $(BIN) "$(DESTDIR)$(BINDIR)/xfsbox"
	install -m 0644 cmd/xfsbox/xfsbox.8 "$(DESTDIR)$(MANDIR)/man8/xfsbox.8"
	install -m 0644 cmd/xfsbox/xfsbox.bash-completion "$(DESTDIR)$(BASHCOMPDIR)/xfsbox"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/xfsbox" "$(DESTDIR)$(MANDIR)/man8/xfsbox.8" "$(DESTDIR)$(BASHCOMPDIR)/xfsbox"

clean:
	rm -rf bin
