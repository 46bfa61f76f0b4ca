# xfsbox. `make help` lists the targets.
GO      ?= go
BIN     := bin/xfsbox
PKGS    := ./...
# Whole-suite bound: a hang fails the run instead of eating CI's time.
# Packages run one at a time (-p 1): several mount copies of one image and
# time cancellation, and a 2-core machine shared by all of them makes
# both flaky.
TESTTIMEOUT ?= 40m

.PHONY: all build deps test test-short demo images fixtures bench fuzz campaign vet lint clean help

all: build

help:
	@echo "make            build bin/xfsbox"
	@echo "make demo       damaged image -> mount -> inspect (installs xfsprogs, fuse3 if missing)"
	@echo "make test       all tests (root: loop devices, FUSE, xfsprogs; CI=true turns skips into failures)"
	@echo "make test-short tests that need no root (fixtures only)"
	@echo "make images     generate (and cache) the test image matrix"
	@echo "make bench      benchmark table (ratios against xfs_repair and in-memory sort)"
	@echo "make fuzz       run each fuzz target for FUZZTIME (default 30s)"
	@echo "make campaign   full corruption campaign with repairs judged by xfs_repair -n and the kernel (slow)"
	@echo "make wild       the wild image matrix in full: oracle, xfs_repair comparison, campaign sample (make campaign runs it)"
	@echo "make safety     240 SIGKILLs during repairs and a wider hostile-image sample (make campaign runs it)"
	@echo "make lint       go vet, gofmt and staticcheck"

build:
	$(GO) build -o $(BIN) ./cmd/xfsbox

deps:
	@./.ci/deps

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest -tags bench,campaign ./...

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: deps vet
	$(GO) test -p 1 -count=1 -timeout $(TESTTIMEOUT) $(PKGS)

test-short:
	$(GO) test -short -count=1 $(PKGS)

demo: deps build
	./testdata/demo.sh $(BIN)

images: deps
	$(GO) test -count=1 -timeout 60m -run TestGenerateImages -v ./internal/testimg/

FUZZTIME ?= 30s
fuzz:
	@for pkg in ./xfsformat ./repair ./repair/store; do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg || exit 1; \
	  done; \
	done

bench: deps build
	XFSBOX_TEST_BENCH=1 $(GO) test -tags bench -count=1 -timeout 60m -run 'TestBenchImage|TestBenchInodesImage' ./internal/testimg/ >/dev/null
	./testdata/bench.sh $(BIN) $$(ls -t testdata/cache/bench-*.img | head -1) $$(ls -t testdata/cache/benchinodes-*.img | head -1)
	@XFSBOX_BENCH_TABLE=1 $(GO) test -tags bench -count=1 -timeout 60m -run TestPrintBenchTable -v ./repair/workspace/ | grep -v '^=== RUN' || true

campaign: deps build
	$(GO) test -tags campaign -count=1 -timeout 600m -run TestCampaignFull -v ./internal/campaign/
	$(MAKE) wild
	$(MAKE) safety

# The wild matrix in full (make campaign runs it): every wild profile
# through the xfs_db oracle and the record-for-record comparison with
# xfs_repair's rebuild (make test: the wild sample), then a campaign
# sample on each, the kernel judging every repair.
.PHONY: wild
wild: deps build
	XFSBOX_WILD_PROFILES=all $(GO) test -count=1 -timeout 120m -run 'TestOracle|TestRepairAllMatchesXfsRepair|TestWildMatrix|TestChunkSourcesAgree' ./fusefs/view/ ./repair/
	$(GO) test -tags campaign -count=1 -timeout 600m -run TestCampaignWild -v ./internal/campaign/

# Safety campaign (make campaign runs it): 240 SIGKILLs during repairs,
# and more hostile images than make test's sample. XFSBOX_KILL_SEED
# replays a kill run.
.PHONY: safety
safety:
	XFSBOX_KILL_ROUNDS=$${XFSBOX_KILL_ROUNDS:-240} XFSBOX_HOSTILE_CASES=40 XFSBOX_HOSTILE_SEEDS=40 XFSBOX_HOSTILE_REPAIRS=30 \
	  $(GO) test -count=1 -timeout 180m -run 'TestKillDuringRepair|TestHostile' -v ./cmd/xfsbox/

clean:
	rm -rf bin
