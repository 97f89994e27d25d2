# SecureEcho: build, run, test, and the development certificates.
#   make run         release build, dev certs if missing, TLS echo on localhost:4433
#   make run-plain   plaintext echo on localhost:8080
#   make test        the whole test suite
#   make certs       CA, server and client certificates (KEY=rsa for RSA-2048), and those of
#                    the certificate scenarios; leaves that expire within 7 days are issued again
#   make bench       benchmarks against OpenSSL's floor and peers; rewrites BENCHMARKS.md
#   make             release build, man pages and completions (what make install copies)
#   make install     the executables, man pages and shell completions under $(PREFIX)
#   make uninstall   removes what make install put there

SWIFT ?= swift
OPENSSL ?= openssl
CERTS := certs
KEY ?= ec
# Leaves live 90 days, as Mozilla's modern profile asks (and sslyze checks); the CA longer, so
# that renewing a leaf never means trusting a new CA.
DAYS ?= 90
CA_DAYS ?= 3650
# Seconds: a leaf that expires within this is issued again by `make certs` (and so by `make run`
# and `make test`), keeping the CA.
RENEW_WITHIN ?= 604800
ARGS ?=
PREFIX ?= /usr/local
DESTDIR ?=

ifeq ($(KEY),rsa)
GENPKEY := $(OPENSSL) genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
else ifeq ($(KEY),ec)
GENPKEY := $(OPENSSL) genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256
else
$(error KEY must be 'ec' (ECDSA P-256, the default) or 'rsa' (RSA-2048), not '$(KEY)')
endif

DEV_CERTS := $(CERTS)/ca.crt $(CERTS)/server.crt $(CERTS)/server.key \
             $(CERTS)/client.crt $(CERTS)/client.key

.PHONY: all build release run run-plain test test-sanitize certs renew-expiring dev-certs \
        clean-certs clean format lint bench man completions install uninstall cert ocsp fuzz
.DELETE_ON_ERROR:

# `make && sudo make install`: everything install copies is built here, as the user.
all: release man completions

build:
	$(SWIFT) build

# The Swift runtime linked in: the executables need only the system's libc and OpenSSL, so an
# installed copy runs on a machine without a Swift toolchain.
release:
	$(SWIFT) build -c release --static-swift-stdlib

# No --host or --port here: they are the defaults, and ARGS may give its own (--host and
# --listen add listeners, they do not replace one).
run: release certs
	.build/release/echo-server --scenarios $(CERTS)/scenarios $(ARGS)

run-plain: release
	.build/release/echo-server --plaintext $(ARGS)

# The tests drive the built executables, so build everything before running them; the README
# and install tests use the release build, man pages and completions, as a user would.
test: certs lint release man completions
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The suite again under Thread Sanitizer, then Address Sanitizer (with LeakSanitizer), each in
# its own build folder. The tests run the sanitized executables (found beside the test binary);
# every report, from the test process or a server it started, goes to a file under
# $(SANITIZER_LOGS), and any report fails the target. Sanitized processes are several times
# slower, so at most $(SANITIZER_WIDTH) tests run at once: two cores shared by every test's
# servers and clients would otherwise starve the test runner's own threads.
SANITIZER_LOGS := $(CURDIR)/.build-sanitizer-logs
SANITIZERS ?= thread address
SANITIZER_WIDTH ?= 4
test-sanitize: certs release man completions
	rm -rf $(SANITIZER_LOGS) && mkdir -p $(SANITIZER_LOGS)
	set -e; for sanitizer in $(SANITIZERS); do \
	  echo "== tests under the $$sanitizer sanitizer"; \
	  $(SWIFT) build --build-tests --sanitize=$$sanitizer --scratch-path .build-$$sanitizer; \
	  TSAN_OPTIONS="log_path=$(SANITIZER_LOGS)/tsan:suppressions=$(CURDIR)/.tsan-suppressions" \
	  ASAN_OPTIONS="log_path=$(SANITIZER_LOGS)/asan:detect_leaks=1" \
	  LSAN_OPTIONS="suppressions=$(CURDIR)/.lsan-suppressions:print_suppressions=0" \
	  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$(SANITIZER_WIDTH) \
	  $(SWIFT) test --skip-build --sanitize=$$sanitizer --scratch-path .build-$$sanitizer; \
	done
	@if grep -l -E "ERROR: |WARNING: ThreadSanitizer" $(SANITIZER_LOGS)/* 2>/dev/null; then \
	  echo "sanitizer reports:"; cat $(SANITIZER_LOGS)/*; exit 1; \
	fi
	@echo "sanitizers: no reports"

# Benchmarks (about 9 minutes; the first run also builds the SwiftNIO peer, a few minutes more):
# OpenSSL's own floor (bench/openssl-floor.c), then echo-server, the SwiftNIO + NIOSSL peer and
# the Go crypto/tls peer (bench/peers/, built into $(BENCH_BUILD) and reused) side by side in
# rounds, and the installed classic peers (socat, ncat, stunnel), on 127.0.0.1 only. Writes the
# generated part of BENCHMARKS.md; raw results in $(BENCH_BUILD)/results.
BENCH_BUILD := .build-bench
OPENSSL_LIBS = $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
OPENSSL_CFLAGS = $(shell pkg-config --cflags openssl 2>/dev/null)
bench: release certs
	mkdir -p $(BENCH_BUILD)
	$(CC) -O2 -Wall -Wextra $(OPENSSL_CFLAGS) -o $(BENCH_BUILD)/openssl-floor bench/openssl-floor.c $(OPENSSL_LIBS)
	$(SWIFT) build -c release --package-path bench/peers/nio-echo --scratch-path $(BENCH_BUILD)/nio
	@if command -v go >/dev/null 2>&1; then \
	  echo "go build bench/peers/go-echo"; \
	  cd bench/peers/go-echo && GOCACHE=$(CURDIR)/$(BENCH_BUILD)/go-cache GOFLAGS=-mod=mod \
	    go build -o $(CURDIR)/$(BENCH_BUILD)/go-echo . ; \
	else \
	  echo "bench: no go (apt-get install golang-go): the Go peer is skipped"; \
	fi
	bash bench/run.sh

certs: renew-expiring
	@$(MAKE) --no-print-directory dev-certs
	@bash certs/scenarios.sh $(CERTS) $(OPENSSL)

dev-certs: $(DEV_CERTS)
	@:

# A leaf close to its end (or already past it) is removed, so that the rule below issues it
# again from the same CA.
renew-expiring:
	@for leaf in $(CERTS)/server.crt $(CERTS)/client.crt; do \
	  if [ -f "$$leaf" ] && ! $(OPENSSL) x509 -checkend $(RENEW_WITHIN) -noout -in "$$leaf" >/dev/null 2>&1; then \
	    echo "$$leaf expires within $$(( $(RENEW_WITHIN) / 86400 )) days: issuing it again"; \
	    rm -f "$$leaf"; \
	  fi; \
	done
	@# A CA from before the certificate scenarios allows no intermediate under it (pathlen:0),
	@# and the scenarios' issuer is one: the whole set is made again, CA included.
	@if [ -f $(CERTS)/ca.crt ] && $(OPENSSL) x509 -noout -ext basicConstraints -in $(CERTS)/ca.crt 2>/dev/null | grep -q 'pathlen:0'; then \
	  echo "$(CERTS)/ca.crt allows no intermediate CA: making a new development CA and its certificates (trust the new $(CERTS)/ca.crt where you trusted the old)"; \
	  rm -f $(CERTS)/ca.crt $(CERTS)/ca.key $(CERTS)/server.crt $(CERTS)/client.crt; rm -rf $(CERTS)/scenarios; \
	fi
	@# A server certificate from before the handshake report lacks report.localhost.
	@if [ -f $(CERTS)/server.crt ] && ! $(OPENSSL) x509 -noout -ext subjectAltName -in $(CERTS)/server.crt 2>/dev/null | grep -q report.localhost; then \
	  echo "$(CERTS)/server.crt does not name report.localhost: issuing it again"; rm -f $(CERTS)/server.crt; \
	fi

# Private keys are made under umask 077 so they are never readable by others,
# even for an instant.
$(CERTS)/%.key:
	umask 077 && $(GENPKEY) -out $@
	chmod 600 $@

$(CERTS)/ca.crt: $(CERTS)/ca.key $(CERTS)/ca.ext
	$(OPENSSL) req -new -key $(CERTS)/ca.key -subj "/O=SecureEcho Development/CN=SecureEcho Development CA" \
	  -out $(CERTS)/ca.csr
	$(OPENSSL) x509 -req -in $(CERTS)/ca.csr -signkey $(CERTS)/ca.key -days $(CA_DAYS) \
	  -set_serial 0x$$($(OPENSSL) rand -hex 16) -extfile $(CERTS)/ca.ext -out $@
	rm -f $(CERTS)/ca.csr

$(CERTS)/%.crt: $(CERTS)/%.key $(CERTS)/%.ext $(CERTS)/ca.crt $(CERTS)/ca.key
	$(OPENSSL) req -new -key $(CERTS)/$*.key -subj "/O=SecureEcho Development/CN=$(if $(filter server,$*),localhost,secureecho-client)" \
	  -out $(CERTS)/$*.csr
	$(OPENSSL) x509 -req -in $(CERTS)/$*.csr -CA $(CERTS)/ca.crt -CAkey $(CERTS)/ca.key \
	  -set_serial 0x$$($(OPENSSL) rand -hex 16) -days $(DAYS) -extfile $(CERTS)/$*.ext -out $@
	rm -f $(CERTS)/$*.csr

# The ClientHello parser under a million random and mutated hellos (make test runs 20,000).
FUZZ_CASES ?= 1000000
fuzz:
	$(SWIFT) build --build-tests
	SECUREECHO_FUZZ_CASES=$(FUZZ_CASES) $(SWIFT) test --skip-build --filter 'ClientHelloParserTests'

# Man pages from the argument parser's own description of the options (man/manpage.py), and
# the parser's shell completions, into $(SHARE).
TOOLS := echo-server echo-client
SHARE := .build/share
man: release
	mkdir -p $(SHARE)/man
	set -e; for tool in $(TOOLS); do \
	  python3 man/manpage.py .build/release/$$tool "$$(.build/release/$$tool --version)" > $(SHARE)/man/$$tool.1; \
	done

completions: release
	mkdir -p $(SHARE)/completions
	set -e; for tool in $(TOOLS); do \
	  .build/release/$$tool --generate-completion-script bash > $(SHARE)/completions/$$tool.bash; \
	  .build/release/$$tool --generate-completion-script zsh > $(SHARE)/completions/_$$tool; \
	  .build/release/$$tool --generate-completion-script fish > $(SHARE)/completions/$$tool.fish; \
	done

BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
# Copies only: under sudo, a build would run as root (or find no swift on root's PATH).
install:
	@for file in $(foreach tool,$(TOOLS),.build/release/$(tool) $(SHARE)/man/$(tool).1 $(SHARE)/completions/$(tool).bash); do \
	  test -f $$file || { echo "make install: $$file is missing: run 'make' first (as yourself, not root)" >&2; exit 66; }; \
	done
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	set -e; for tool in $(TOOLS); do \
	  install -m 755 .build/release/$$tool $(BINDIR)/$$tool; \
	  install -m 644 $(SHARE)/man/$$tool.1 $(MANDIR)/$$tool.1; \
	  install -m 644 $(SHARE)/completions/$$tool.bash $(BASHDIR)/$$tool; \
	  install -m 644 $(SHARE)/completions/_$$tool $(ZSHDIR)/_$$tool; \
	  install -m 644 $(SHARE)/completions/$$tool.fish $(FISHDIR)/$$tool.fish; \
	done

uninstall:
	for tool in $(TOOLS); do \
	  rm -f $(BINDIR)/$$tool $(MANDIR)/$$tool.1 $(BASHDIR)/$$tool $(ZSHDIR)/_$$tool \
	    $(FISHDIR)/$$tool.fish; \
	done

# Another certificate from the development CA, for --sni: make cert NAME=a.test makes
# certs/a.test.crt and certs/a.test.key (subjectAltName DNS:a.test).
cert: dev-certs
	@test -n "$(NAME)" || { echo "make cert: give the name, e.g. make cert NAME=a.test" >&2; exit 64; }
	@case "$(NAME)" in ca|server|client) \
	  echo "make cert: '$(NAME)' is a development certificate's own name; choose another" >&2; exit 64;; esac
	@echo "$(NAME)" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$$' || \
	  { echo "make cert: NAME must be a DNS name (letters, digits, dots, hyphens), not '$(NAME)'" >&2; exit 64; }
	@test ! -e $(CERTS)/$(NAME).key || \
	  { echo "make cert: $(CERTS)/$(NAME).key exists; remove it first to make a new one" >&2; exit 73; }
	umask 077 && $(GENPKEY) -out $(CERTS)/$(NAME).key
	$(OPENSSL) req -new -key $(CERTS)/$(NAME).key -subj "/O=SecureEcho Development/CN=$(NAME)" \
	  -out $(CERTS)/$(NAME).csr
	printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:%s\n' \
	  "$(NAME)" > $(CERTS)/$(NAME).csr.ext
	$(OPENSSL) x509 -req -in $(CERTS)/$(NAME).csr -CA $(CERTS)/ca.crt -CAkey $(CERTS)/ca.key \
	  -set_serial 0x$$($(OPENSSL) rand -hex 16) -days $(DAYS) -extfile $(CERTS)/$(NAME).csr.ext \
	  -out $(CERTS)/$(NAME).crt
	rm -f $(CERTS)/$(NAME).csr $(CERTS)/$(NAME).csr.ext

# A "good" OCSP response for certs/server.crt, valid 7 days, signed by the development CA
# acting as its own responder: certs/server.ocsp.der, for --ocsp-response.
ocsp: dev-certs
	printf 'V\t991231235959Z\t\t%s\tunknown\t/CN=localhost\n' \
	  "$$($(OPENSSL) x509 -in $(CERTS)/server.crt -noout -serial | cut -d= -f2)" > $(CERTS)/ocsp-index.txt
	$(OPENSSL) ocsp -issuer $(CERTS)/ca.crt -cert $(CERTS)/server.crt -no_nonce \
	  -reqout $(CERTS)/ocsp-request.der
	$(OPENSSL) ocsp -index $(CERTS)/ocsp-index.txt -rsigner $(CERTS)/ca.crt -rkey $(CERTS)/ca.key \
	  -CA $(CERTS)/ca.crt -reqin $(CERTS)/ocsp-request.der -respout $(CERTS)/server.ocsp.der -ndays 7
	rm -f $(CERTS)/ocsp-index.txt $(CERTS)/ocsp-request.der

clean-certs:
	rm -f $(CERTS)/*.crt $(CERTS)/*.key $(CERTS)/*.csr $(CERTS)/*.srl $(CERTS)/*.der
	rm -rf $(CERTS)/scenarios

clean:
	rm -rf .build .build-thread .build-address .build-sanitizer-logs

format:
	$(SWIFT) format --in-place --recursive Package.swift Sources Tests

lint:
	$(SWIFT) format lint --strict --recursive Package.swift Sources Tests
