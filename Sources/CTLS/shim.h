#ifndef SECUREECHO_CTLS_SHIM_H
#define SECUREECHO_CTLS_SHIM_H

#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>

#if !defined(OPENSSL_VERSION_MAJOR) || OPENSSL_VERSION_MAJOR < 3
#error "SecureEcho needs OpenSSL 3 or newer with its headers (Debian: apt-get install libssl-dev)"
#endif

// Everything below is a function-like macro or a macro-built constant in
// OpenSSL 3, which Swift cannot import; each wrapper has an explicit type.

static inline int ctls_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
  return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int ctls_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
  return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline long ctls_CTX_set_mode(SSL_CTX *ctx, long mode) {
  return SSL_CTX_set_mode(ctx, mode);
}

static inline long ctls_set_mode(SSL *ssl, long mode) {
  return SSL_set_mode(ssl, mode);
}

static inline int ctls_set_tlsext_host_name(SSL *ssl, const char *name) {
  return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline long ctls_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
  return SSL_CTX_set_session_cache_mode(ctx, mode);
}

static inline uint64_t ctls_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t ctls_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t ctls_OP_CIPHER_SERVER_PREFERENCE(void) {
  return SSL_OP_CIPHER_SERVER_PREFERENCE;
}

static inline unsigned long ctls_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }

static inline void ctls_free(void *pointer) { OPENSSL_free(pointer); }

#endif
