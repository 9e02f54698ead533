# nudge: `make run` builds and starts a demo server; `make test` runs every test.
# Both install what they need (npm packages, Debian's chromium and postgresql)
# themselves.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/nudge
ARGS    ?=

.PHONY: all run build console test e2e-deps pg-deps bench lint fmt clean

all: build

# The console's npm packages, pinned by package-lock.json.
assets/node_modules/.package-lock.json: assets/package.json assets/package-lock.json
	npm ci --prefix assets --no-audit --no-fund --loglevel=error

# The console bundle, by esbuild's Go API (go generate ./assets does the same).
console: assets/node_modules/.package-lock.json
	cd assets && $(GO) run ./build

build: console
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/nudge

# A server on the embedded defaults with the demo tenant, site and shop.
run: build
	$(BIN) serve --demo $(ARGS)

# Debian's chromium for the browser tests, installed when missing.
e2e-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL for the store's second pass, installed when missing (the
# tests start a server of their own on a free port; NUDGE_TEST_DATABASE_URL
# names another instead).
pg-deps:
	@[ -n "$$NUDGE_TEST_DATABASE_URL" ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the store's tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# The packages whose tests run a second time on PostgreSQL: the store and
# everything that writes through it.
PGPKGS := ./store/... ./analytics ./auth ./keys ./contacts ./webhooks ./email ./chat ./ops ./server

# The race detector instruments our code and every library whose concurrency
# we lean on. Libraries that only compute (esbuild, brotli, argon2, goose's SQL
# parser) are compiled without it, and SQLite transpiled to Go without its
# pointer checks (all of its pointer arithmetic is unsafe): under them these
# cost 2.5-5x (argon2 3x, SQLite's pointer checks 2.5x), every test migrates a
# store, and what they would find is not a bug of ours. SQLite keeps the race instrumentation: without it, the
# detector reports races in code that a mutex guards (casbin, encoding/json).
NORACE   := github.com/evanw/esbuild/... github.com/andybalholm/brotli/... \
            golang.org/x/crypto/argon2 golang.org/x/crypto/blake2b github.com/pressly/goose/v3/...
NOCHECK  := modernc.org/...
RACE     := -race $(foreach p,$(NORACE),-gcflags='$(p)=-race=false -d=checkptr=0') \
            $(foreach p,$(NOCHECK),-gcflags='$(p)=-d=checkptr=0')

test: console e2e-deps pg-deps
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	npm --prefix assets run --silent typecheck
	$(GO) test $(RACE) -count=1 -timeout 30m ./...
	NUDGE_TEST_STORE=postgres $(GO) test $(RACE) -count=1 -timeout 30m $(PGPKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: console
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	npm --prefix assets run --silent typecheck

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin assets/node_modules
	find assets/dist -mindepth 1 ! -name .keep -delete
