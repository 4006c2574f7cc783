# mags — one Makefile for the whole tree.
#   make                      build everything into build/
#   make test                 unit tests (cmocka) + end-to-end tests (pytest, real magsd)
#   make SANITIZE=address,undefined   the same with sanitizers
#   make bench                run the benchmark suite (bench/)
#
# Every src/<component>/*.c is picked up automatically; main.c of a
# component is its program, the other files go into build/lib<component>.a
# so unit tests can link them.

CC      ?= cc
PREFIX  ?= /usr/local
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 \
           -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP -fno-common
LDFLAGS ?=
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

B := build

COMMON_SRC  := $(wildcard src/common/*.c)
RUNTIME_SRC := $(filter-out src/runtime/main.c src/runtime/seccomp_gen.c,$(wildcard src/runtime/*.c))
MAGSD_SRC   := $(filter-out src/magsd/main.c,$(wildcard src/magsd/*.c))
LIBMAGS_SRC := $(wildcard src/libmags/*.c)
CLI_SRC     := $(filter-out src/mags/main.c,$(wildcard src/mags/*.c))

obj = $(patsubst src/%.c,$(B)/obj/%.o,$(1))

LIB_COMMON  := $(B)/lib/libcommon.a
LIB_RUNTIME := $(B)/lib/libruntime.a
LIB_MAGSD   := $(B)/lib/libmagsd.a
LIB_MAGS    := $(B)/lib/libmags.a
LIB_CLI     := $(B)/lib/libmagscli.a

LIBS_RUNTIME := -ljansson
LIBS_MAGSD   := -lmicrohttpd -lsqlite3 -ljansson -lcrypto -lcurl -lzstd -lssh -lhttp_parser
LIBS_MAGS    := -lhttp_parser -ljansson -ldl

BINS := $(B)/bin/mags-runtime $(B)/bin/magsd $(B)/bin/mags

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)

# Fuzz targets: `make fuzz` builds libFuzzer binaries with clang; the normal
# test run replays every committed corpus through the same targets (gcc).
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
REPLAY_BINS  := $(patsubst %,$(B)/fuzz/replay_%,$(FUZZ_NAMES))
FUZZ_BINS    := $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_NAMES))
FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc -fno-omit-frame-pointer
FUZZ_OBJS    := $(patsubst src/%.c,$(B)/fuzz/obj/%.o,$(MAGSD_SRC) $(COMMON_SRC))

all: $(BINS)

$(B)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(LIB_COMMON):  $(call obj,$(COMMON_SRC))
$(LIB_RUNTIME): $(call obj,$(RUNTIME_SRC))
$(LIB_MAGSD):   $(call obj,$(MAGSD_SRC))
$(LIB_MAGS):    $(call obj,$(LIBMAGS_SRC))
$(LIB_CLI):     $(call obj,$(CLI_SRC))
# openapi.c embeds this file with .incbin, which -MMD does not record
$(B)/obj/magsd/openapi.o: src/magsd/openapi.json

# The sandbox's seccomp filter is compiled to BPF here, once, by a tool
# linked with libseccomp (src/runtime/seccomp_policy.h); seccomp.c includes
# the program and the runtime only loads it. test_runtime_seccomp compiles
# the policy again and compares.
SECCOMP_GEN := $(B)/tools/seccomp-gen
SECCOMP_BPF := $(B)/gen/seccomp_bpf.h
$(SECCOMP_GEN): $(B)/obj/runtime/seccomp_gen.o $(B)/obj/runtime/seccomp_policy.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lseccomp
$(SECCOMP_BPF): $(SECCOMP_GEN)
	@mkdir -p $(dir $@)
	$(SECCOMP_GEN) > $@.tmp
	mv $@.tmp $@
$(B)/obj/runtime/seccomp.o: $(SECCOMP_BPF)
$(B)/obj/runtime/seccomp.o: CFLAGS += -I$(B)/gen

$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The runtime is linked statically: it is exec'd for every sandbox (and
# every warm-pool member), and on these VMs dynamic linking of its four
# libraries cost ~0.25 ms of each exec; its sandbox init is a fork of it,
# so it also carries no private copies of shared-library pages. It links
# only libc and jansson: the seccomp filter is built in (SECCOMP_BPF) and
# capabilities are set with the raw capset system call.
$(B)/bin/mags-runtime: $(B)/obj/runtime/main.o $(LIB_RUNTIME) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -static -o $@ $^ $(LIBS_RUNTIME)

$(B)/bin/magsd: $(B)/obj/magsd/main.o $(LIB_MAGSD) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_MAGSD)

# The CLI starts for every command (`mags run` included): its two small
# libraries are linked in (0.1 ms less start-up here); libc stays shared,
# for the TLS client it loads only for https:// (dlopen).
$(B)/bin/mags: $(B)/obj/mags/main.o $(LIB_CLI) $(LIB_MAGS) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -Wl,-Bstatic -lhttp_parser -ljansson -Wl,-Bdynamic -ldl

# Unit tests link every library; the linker keeps what each one uses
# (libseccomp: test_runtime_seccomp compiles the policy, seccomp_policy.c).
$(B)/tests/test_%: tests/unit/test_%.c $(LIB_MAGSD) $(LIB_RUNTIME) $(LIB_CLI) $(LIB_MAGS) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcmocka $(LIBS_MAGSD) $(LIBS_RUNTIME) $(LIBS_MAGS) -lseccomp

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

$(B)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_MAGSD) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_MAGSD)

fuzz-replay: $(REPLAY_BINS)
	@set -e; for n in $(FUZZ_NAMES); do $(B)/fuzz/replay_$$n tests/fuzz/corpus/$$n; done

$(B)/fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS_MAGSD)

fuzz: $(FUZZ_BINS)

# Run every target (or FUZZ_TARGETS="a b") for FUZZ_SECONDS over a scratch
# copy of its corpus; prints executions and coverage per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_NAMES)
fuzz-run: $(patsubst %,$(B)/fuzz/fuzz_%,$(FUZZ_TARGETS))
	tests/fuzz/run.sh $(B) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

e2e: all
	MAGS_BUILD_DIR=$(abspath $(B)) /usr/bin/python3 -m pytest -ra tests/e2e $(wildcard tests/security) $(PYTEST_ARGS)

# The warm pool must not change behaviour: the tests that start jobs run
# again without a pool and with a pool of one (MAGS_TEST_POOL, conftest.py).
POOL_E2E := $(wildcard tests/e2e/test_run.py tests/e2e/test_longlived.py \
	tests/e2e/test_job_network.py tests/e2e/test_limits.py \
	tests/e2e/test_isolation.py tests/e2e/test_usage_cgroup.py \
	tests/e2e/test_teardown.py)
e2e-pool: all
	MAGS_TEST_POOL=0 MAGS_BUILD_DIR=$(abspath $(B)) /usr/bin/python3 -m pytest -ra $(POOL_E2E) $(PYTEST_ARGS)
	MAGS_TEST_POOL=1 MAGS_BUILD_DIR=$(abspath $(B)) /usr/bin/python3 -m pytest -ra $(POOL_E2E) $(PYTEST_ARGS)

test: all unit fuzz-replay e2e e2e-pool

bench: all
	MAGS_BUILD_DIR=$(B) bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mags/web
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 web/* $(DESTDIR)$(PREFIX)/share/mags/web/

clean:
	rm -rf $(B)

.PHONY: all unit e2e e2e-pool test bench install clean fuzz fuzz-replay fuzz-run
.SECONDARY:

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
