# kfwd — one entry point: make, make deps, make test, make demo, make bench, make clean.
# Quiet by default; V=1 shows the commands.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

BUILD    := build
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)
-include scripts/deps.mk

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= $(firstword $(wildcard /usr/sbin/bpftool /usr/local/sbin/bpftool) bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
CPPFLAGS := -D_GNU_SOURCE -Iinclude -Iuserspace -I$(BUILD) $(QUIC_CFLAGS)
LDLIBS   := $(QUIC_LIBS) -lcares -lsystemd -lconfig -lxdp -lbpf -lelf -lz -lpthread
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRC))

SRC      := $(wildcard userspace/*.c)
LIB_SRC  := $(filter-out userspace/main.c,$(SRC))
OBJ      := $(patsubst userspace/%.c,$(BUILD)/obj/%.o,$(SRC))
LIB_OBJ  := $(patsubst userspace/%.c,$(BUILD)/obj/%.o,$(LIB_SRC))
ASAN_OBJ := $(patsubst userspace/%.c,$(BUILD)/asan/%.o,$(LIB_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ASAN_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests-asan/%,$(UNIT_SRC))
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))

.PHONY: FORCE all deps test unit unit-asan integration demo bench clean format kfwd-asan
all: $(BUILD)/kfwd $(BUILD)/kfwd-asan

deps:
	$(Q)bash scripts/deps.sh

$(BUILD)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(BUILD)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BUILD)/vmlinux.h $(wildcard include/*.h bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Iinclude -Ibpf -I$(BUILD) -c $< -o $@

# The version the daemon prints, rewritten only when `git describe` says
# something new: the objects that include it are rebuilt then, and only then
# (a -D flag would leave objects that were not rebuilt with an old string).
$(BUILD)/version.h: FORCE
	$(Q)mkdir -p $(@D)
	$(Q)v='#define KFWD_VERSION "$(VERSION)"'; \
	if [ "$$(cat $@ 2>/dev/null)" != "$$v" ]; then echo "$$v" > $@; fi
FORCE:
VERSION_USERS := ctl daemon main
$(foreach u,$(VERSION_USERS),$(BUILD)/obj/$(u).o $(BUILD)/asan/$(u).o): $(BUILD)/version.h

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(BUILD)/obj/%.o: userspace/%.c $(BPF_SKEL) $(wildcard include/*.h userspace/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c $< -o $@

$(BUILD)/asan/%.o: userspace/%.c $(BPF_SKEL) $(wildcard include/*.h userspace/*.h)
	$(call msg,CC-SAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) -c $< -o $@

$(BUILD)/kfwd: $(OBJ) $(QUIC_ARCHIVES)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter %.o,$^) $(LDLIBS)

# The daemon under ASan+UBSan: the integration suite can run against it (KFWD=build/kfwd-asan).
$(BUILD)/kfwd-asan: $(ASAN_OBJ) $(BUILD)/asan/main.o $(QUIC_ARCHIVES)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(SAN) -o $@ $(filter %.o,$^) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(wildcard tests/unit/*.h) $(QUIC_ARCHIVES)
	$(call msg,TEST-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wall -Wextra -Werror -Wno-unused-parameter -o $@ $(filter-out %.h %.a,$^) -lcriterion $(LDLIBS)

$(BUILD)/tests-asan/%: tests/unit/%.c $(ASAN_OBJ) $(wildcard tests/unit/*.h) $(QUIC_ARCHIVES)
	$(call msg,TEST-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O1 -g $(SAN) -Wall -Wextra -Werror -Wno-unused-parameter -o $@ $(filter-out %.h %.a,$^) -lcriterion $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(wildcard tests/tools/*.h)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ $< -lpthread

# The one tool that speaks QUIC (the tunnel's refusal tests) links the QUIC stack.
$(BUILD)/tools/quic-hello: tests/tools/quic-hello.c $(wildcard tests/tools/*.h) $(QUIC_ARCHIVES)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) -O2 -g $(WARN) -o $@ $< $(QUIC_LIBS) -lpthread

# Unit tests first (fast, no root), the same tests under ASan+UBSan, then the
# root-only integration suite in its own network namespaces.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BIN) $(ASAN_BIN) $(TOOLS)
	$(Q)bash scripts/gen-config-doc.sh --check
	$(Q)bash tests/run-unit.sh $(UNIT_BIN)
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		bash tests/run-unit.sh $(ASAN_BIN)
	$(Q)bash tests/integration/run.sh
	$(Q)KFWD=$(BUILD)/kfwd-asan ASAN_OPTIONS=detect_leaks=1 bash tests/integration/run.sh

unit: $(UNIT_BIN)
	$(Q)bash tests/run-unit.sh $(UNIT_BIN)

unit-asan: $(ASAN_BIN)
	$(Q)bash tests/run-unit.sh $(ASAN_BIN)

integration: all $(TOOLS)
	$(Q)bash tests/integration/run.sh $(T)

demo: deps
	$(Q)$(MAKE) --no-print-directory all $(TOOLS)
	$(Q)bash scripts/demo.sh

bench: deps
	$(Q)bash scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory all $(TOOLS)
	$(Q)bash perf/run.sh

format:
	$(Q)clang-format -i userspace/*.[ch] include/*.h tests/unit/*.c tests/tools/*.[ch]

clean:
	$(Q)rm -rf $(BUILD)
