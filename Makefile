# ngx_webhook — build, run and test the NGINX dynamic module.
#
#   make          build build/ngx_http_webhook_module.so against Debian's nginx-dev
#                 (or NGINX_SRC=/path/to/nginx-x.y.z)
#   make run      build, then start the demo (examples/nginx.conf) in run/ on PORT
#                 (default 8080; the demo app and receiver take PORT+1, PORT+2)
#   make stop     stop the demo
#   make test     unit tests of the core (GoogleTest) + integration tests (prove $(TEST_DIRS))
#   make test T=t/verify/github.t   one test file (or folder) only, no unit tests
#   make unit U='Retry*'            the unit tests, or those matching a GoogleTest filter
#                 WEBHOOK_TEST_PORTS=20000-29999 makes the harness bind ports in that range
#   make bench    throughput against plain NGINX and the njs / Lua equivalents
#   make deb      the Debian package $(BUILD)/libnginx-mod-http-webhook_*.deb (docs/install.md)
#
#   make test SANITIZE=1   the same suites with the module and the unit tests
#                 built with AddressSanitizer + UndefinedBehaviorSanitizer (in
#                 build-asan/); the stock nginx runs with the runtimes preloaded
#                 and any sanitizer report fails the test (t/sanitize/README)

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
SANITIZE   ?=
ifeq ($(SANITIZE),1)
BUILD      ?= build-asan
endif
BUILD      ?= build
PORT       ?= 8080
# Test files run two at a time (each starts its own nginx on free ports).
PROVE_JOBS ?= 2
MODULE      = $(BUILD)/ngx_http_webhook_module.so
# Debian's own hardening flags, so the module matches the stock binary.
CC_OPT     ?= -g -O2 -fstack-protector-strong -Wformat -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
LD_OPT     ?= -Wl,-z,relro -Wl,-z,now -fPIC

# SANITIZE=1: NGINX's configure runs with the flags above (so objs/ngx_auto_config.h
# matches the stock binary); the module's objects and its link get SAN_FLAGS
# through CC, the unit tests too. The stock nginx is not instrumented: the test
# harness LD_PRELOADs the runtimes (libasan first) into the nginx processes only,
# has reports written to PREFIX/sanitizer/ and fails on any (t/sanitize/README).
ifeq ($(SANITIZE),1)
SAN_FLAGS    = -fsanitize=address,undefined -fno-omit-frame-pointer
SAN_CC       = CC="cc $(SAN_FLAGS)"
SAN_PRELOAD  = $(realpath $(shell cc -print-file-name=libasan.so) $(shell cc -print-file-name=libubsan.so))
SAN_UNIT_ENV = ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SAN_TEST_ENV = WEBHOOK_SANITIZER_PRELOAD="$(SAN_PRELOAD)" WEBHOOK_SANITIZER_SUPP=$(CURDIR)/t/sanitize/lsan.supp
endif

DEB_BUILD   = nginx-core nginx-dev libssl-dev libjansson-dev g++ make libpq-dev
DEB_TEST    = libgtest-dev perl curl libio-socket-ssl-perl openssl python3 chromium postgresql
DEB_BENCH   = wrk libnginx-mod-http-js libnginx-mod-http-lua util-linux
DEB_PKG     = dpkg-dev binutils

SRCS := config config.make $(wildcard src/core/*/*.cpp src/core/*/*.hpp src/ngx/*/*.cpp src/ngx/*/*.hpp src/ngx/*/assets/*)

.PHONY: all deps deps-test deps-bench run stop test test-build unit integration bench clean

all: $(MODULE)

# Install what is missing, nothing when all is there (apt needs root: CI and
# the dev machines run as root; elsewhere sudo is used when available).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call apt_install,$(DEB_BUILD))
deps-test: deps
	$(call apt_install,$(DEB_TEST))
	@# node may come from outside Debian (as on the dev machines): only its absence counts
	@command -v npm >/dev/null 2>&1 || { SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nodejs npm >/dev/null; }
deps-bench: deps-test
	$(call apt_install,$(DEB_BENCH))

# NGINX's configure writes into its source tree: work on a private copy.
$(BUILD)/nginx/objs/Makefile: config config.make | deps
	@mkdir -p $(BUILD)
	rm -rf $(BUILD)/nginx && cp -r $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && flags=; \
	  if [ -f conf_flags ]; then . ./conf_flags; flags="$${NGX_CONF_FLAGS[*]}"; else flags="--with-compat --with-threads --with-http_ssl_module --with-http_v2_module"; fi; \
	  ./configure $$flags --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	    --add-dynamic-module=$(CURDIR) --builddir=objs >configure.log 2>&1 \
	  || { tail -30 configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(SRCS)
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules $(SAN_CC)
	cp $(BUILD)/nginx/objs/ngx_http_webhook_module.so $@.tmp && mv -f $@.tmp $@   # nginx running from $@ keeps its copy

# ---- tests -----------------------------------------------------------------

UNIT_BIN = $(BUILD)/unit_tests
$(UNIT_BIN): $(wildcard src/core/*/*.cpp src/core/*/*.hpp t/unit/*.cpp t/unit/*/*.cpp) | deps-test
	@mkdir -p $(BUILD)
	g++ -std=c++17 -O1 -g -Wall -Wextra -Werror $(SAN_FLAGS) -Isrc -o $@ \
	  $(wildcard src/core/*/*.cpp) $(wildcard t/unit/*.cpp t/unit/*/*.cpp) -lgtest -lgtest_main -lcrypto -ljansson -lpthread

unit: $(UNIT_BIN)
	$(SAN_UNIT_ENV) $(UNIT_BIN) $(if $(U),--gtest_filter='$(U)')

t/npm/node_modules: t/npm/package.json t/npm/package-lock.json | deps-test
	cd t/npm && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# One folder per capability; listed so that prove -r never walks t/npm or t/unit.
TEST_DIRS  = t/verify t/keys t/api t/deliver t/store t/fleet t/status t/install t/console t/examples
# t/install installs `make deb`'s package: built for Debian's nginx-dev only and
# never from the SANITIZE=1 module; without WEBHOOK_DEB the test skips.
ifneq ($(SANITIZE),1)
ifeq ($(NGINX_SRC),/usr/share/nginx/src)
DEB_TEST_ENV = WEBHOOK_DEB=$(CURDIR)/$(DEB_FILE)
integration test-build: deb
endif
endif
# t/console drives Debian's chromium: here it must run (never skip), and its
# screenshots go to $(BUILD)/artifacts/console/.
BROWSER_TEST_ENV = WEBHOOK_REQUIRE_BROWSER=1 WEBHOOK_ARTIFACTS=$(CURDIR)/$(BUILD)/artifacts
# The fleet tests start their own PostgreSQL (deps-test installs it): required, never skipped.
PG_TEST_ENV = WEBHOOK_REQUIRE_PG=1
integration: $(MODULE) t/npm/node_modules
	WEBHOOK_MODULE=$(CURDIR)/$(MODULE) $(SAN_TEST_ENV) $(DEB_TEST_ENV) $(BROWSER_TEST_ENV) $(PG_TEST_ENV) prove -j$(PROVE_JOBS) -r -I t/lib $(or $(T),$(TEST_DIRS))

# T= selects test files or folders: only those run (no unit tests).
test: deps-test $(if $(T),,unit) integration

# Everything `make test` builds, for `make -jN test-build` before `make test` (CI).
test-build: deps-test $(MODULE) $(UNIT_BIN) t/npm/node_modules

# ---- Debian package --------------------------------------------------------
# The module for the distribution's nginx, laid out like Debian's libnginx-mod-*
# packages (pkg/mkdeb, docs/install.md); the version is pkg/debian/changelog's.

DEB_VERSION = $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' pkg/debian/changelog)
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB_FILE    = $(BUILD)/libnginx-mod-http-webhook_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: deb deps-deb
deps-deb: deps
	$(call apt_install,$(DEB_PKG))
ifeq ($(SANITIZE),1)
deb:
	@echo "make deb: SANITIZE=1 builds an instrumented module, not a release one; run make deb without it" >&2; exit 1
else
deb: $(DEB_FILE)
$(DEB_FILE): $(MODULE) pkg/mkdeb $(wildcard pkg/debian/*) | deps-deb
	pkg/mkdeb $(MODULE) $(NGINX_SRC) $(BUILD)/deb $@
endif

# ---- run -------------------------------------------------------------------

run: $(MODULE)
	@examples/demo/demo.sh start $(MODULE) run $(PORT)

stop:
	@examples/demo/demo.sh stop run

# ---- bench -----------------------------------------------------------------

# bench/run's knobs come from the environment (BENCH_ONLY, BENCH_ROUNDS,
# BENCH_PERF=1, ...: see its header); it ends with one summary table and keeps
# the raw runs in bench/results/<UTC time>/ (BENCH_RESULTS elsewhere).
bench: $(MODULE) deps-bench
	WEBHOOK_MODULE=$(CURDIR)/$(MODULE) bench/run

clean:
	rm -rf $(BUILD) run

# ---- fuzz ----
# libFuzzer targets over src/core (see fuzz/README.md), built with clang's
# ASan + UBSan into $(FUZZ_DIR). `make fuzz` runs every target FUZZ_SECONDS
# (default 60) one after another, growing $(FUZZ_DIR)/corpus; `make fuzz-smoke`
# runs each over its seed corpus plus FUZZ_SMOKE_SECONDS (CI). Any crash,
# sanitizer report or failed property exits non-zero.

.PHONY: fuzz fuzz-smoke

FUZZ_DIR           ?= build-fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_CXX           ?= clang++
FUZZ_TARGETS        = verify_headers api_json journal mutation url_policy time_parse encoding
FUZZ_DEB            = clang libclang-rt-14-dev libssl-dev libjansson-dev
FUZZ_FLAGS          = -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                      -fno-sanitize-recover=all -Wall -Wextra -Isrc
FUZZ_CORE_OBJS      = $(patsubst src/core/%.cpp,$(FUZZ_DIR)/core/%.o,$(wildcard src/core/*/*.cpp))
FUZZ_BINS           = $(addprefix $(FUZZ_DIR)/bin/,$(FUZZ_TARGETS))

$(FUZZ_DIR)/.deps:
	$(call apt_install,$(FUZZ_DEB))
	@mkdir -p $(@D) && touch $@

$(FUZZ_CORE_OBJS): $(FUZZ_DIR)/core/%.o: src/core/%.cpp $(wildcard src/core/*/*.hpp) | $(FUZZ_DIR)/.deps
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/bin/%: fuzz/%.cpp fuzz/fuzz_util.hpp $(FUZZ_CORE_OBJS)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_CORE_OBJS) -lcrypto -ljansson -o $@

# Rewrites fuzz/corpus from fuzz/gen_seeds.cpp (signatures, journal files).
$(FUZZ_DIR)/gen_seeds: fuzz/gen_seeds.cpp $(wildcard src/core/*/*.cpp src/core/*/*.hpp) | $(FUZZ_DIR)/.deps
	$(FUZZ_CXX) -std=c++17 -O1 -g -Wall -Wextra -Isrc $< $(wildcard src/core/*/*.cpp) -lcrypto -ljansson -o $@
fuzz-seeds: $(FUZZ_DIR)/gen_seeds
	$(FUZZ_DIR)/gen_seeds fuzz/corpus

fuzz: $(FUZZ_BINS)
	fuzz/run.sh $(FUZZ_DIR) campaign $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: $(FUZZ_BINS)
	fuzz/run.sh $(FUZZ_DIR) smoke $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)
