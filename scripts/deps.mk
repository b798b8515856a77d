# scripts/deps.mk — included by the top-level Makefile; written for scripts/deps.sh.
# The QUIC stack (wolfSSL with QUIC, ngtcp2 + its wolfSSL crypto backend) is
# built by `make deps` into $(DEPS_PREFIX) as static archives; nghttp3 is the
# system's libnghttp3-dev (bookworm-backports). Variables only.
DEPS_PREFIX := deps/prefix
QUIC_CFLAGS := -I$(DEPS_PREFIX)/include
QUIC_LIBS   := $(DEPS_PREFIX)/lib/libngtcp2_crypto_wolfssl.a $(DEPS_PREFIX)/lib/libngtcp2.a \
               $(DEPS_PREFIX)/lib/libwolfssl.a -lnghttp3 -lm
# Link prerequisites: a rebuilt archive (another configure) relinks what uses it.
QUIC_ARCHIVES := $(wildcard $(filter %.a,$(QUIC_LIBS)))
