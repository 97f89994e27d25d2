#ifndef SECUREECHO_CTLS_SHIM_H
#define SECUREECHO_CTLS_SHIM_H

#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/ocsp.h>

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

static inline long ctls_clear_mode(SSL *ssl, long mode) {
  return SSL_clear_mode(ssl, mode);
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

static inline long ctls_CTX_set_read_ahead(SSL_CTX *ctx, int on) {
  return SSL_CTX_set_read_ahead(ctx, on);
}

static inline uint64_t ctls_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }

static inline void ctls_free(void *pointer) { OPENSSL_free(pointer); }

static inline int ctls_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
  return (int)SSL_CTX_set1_groups_list(ctx, list);
}

static inline int ctls_set1_groups_list(SSL *ssl, const char *list) {
  return (int)SSL_set1_groups_list(ssl, list);
}

static inline long ctls_set_msg_callback_arg(SSL *ssl, void *arg) {
  return SSL_set_msg_callback_arg(ssl, arg);
}

static inline long ctls_get_signature_nid(SSL *ssl, int *nid) {
  return SSL_get_signature_nid(ssl, nid);
}

static inline int ctls_get_negotiated_group(SSL *ssl) {
  return (int)SSL_get_negotiated_group(ssl);
}

typedef int (*ctls_servername_cb)(SSL *ssl, int *alert, void *arg);

static inline void ctls_CTX_set_servername_callback(SSL_CTX *ctx, ctls_servername_cb cb, void *arg) {
  SSL_CTX_set_tlsext_servername_callback(ctx, cb);
  SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}

static inline int ctls_CTX_get_ex_new_index(void) {
  return SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static inline int ctls_CTX_set_stapled_ocsp_callback(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg) {
  return (int)(SSL_CTX_set_tlsext_status_cb(ctx, cb) && SSL_CTX_set_tlsext_status_arg(ctx, arg));
}

/// Hands OpenSSL a copy of `response` to staple; OpenSSL frees it.
static inline int ctls_set_ocsp_response(SSL *ssl, const unsigned char *response, long length) {
  unsigned char *copy = OPENSSL_malloc(length);
  if (copy == NULL) return 0;
  memcpy(copy, response, length);
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, length) != 1) {
    OPENSSL_free(copy);
    return 0;
  }
  return 1;
}

/// Sets up the cipher and MAC for one session ticket (RFC 5077 layout, as OpenSSL's own
/// default): AES-256-CBC (`cipher_type`, fetched once by the caller: EVP_aes_256_cbc() would
/// be looked up by name on every ticket) and HMAC-SHA256. Kept in C because it takes an
/// OSSL_PARAM array.
static inline int ctls_ticket_crypto_init(EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac,
                                          const EVP_CIPHER *cipher_type,
                                          const unsigned char *aes_key,
                                          const unsigned char *hmac_key, unsigned char *iv,
                                          int encrypt) {
  OSSL_PARAM params[2];
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  if (encrypt && RAND_bytes(iv, 16) != 1) return 0;
  if (EVP_CipherInit_ex(cipher, cipher_type, NULL, aes_key, iv, encrypt) != 1) return 0;
  if (EVP_MAC_init(mac, hmac_key, 32, params) != 1) return 0;
  return 1;
}

/// EVP_get_digestbyobj is a macro over EVP_get_digestbyname(OBJ_nid2sn(OBJ_obj2nid(o))).
static inline const EVP_MD *ctls_get_digest_by_object(const ASN1_OBJECT *object) {
  return EVP_get_digestbyobj(object);
}

/// The BIO retry flags are macros over BIO_set_flags.
static inline void ctls_BIO_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void ctls_BIO_set_retry_write(BIO *bio) { BIO_set_retry_write(bio); }
static inline void ctls_BIO_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }

// MARK: Per-connection state, faults and certificate scenarios

static inline int ctls_get_ex_new_index(void) {
  return SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/// Records of at most `size` bytes of plaintext (512 to 16384).
static inline long ctls_set_max_send_fragment(SSL *ssl, long size) {
  return SSL_set_max_send_fragment(ssl, size);
}

/// The store a connection verifies its peer's certificate with (up-referenced, not taken).
static inline long ctls_set1_verify_cert_store(SSL *ssl, X509_STORE *store) {
  return SSL_set1_verify_cert_store(ssl, store);
}

/// A client asks for a stapled OCSP response (status_request).
static inline long ctls_CTX_request_ocsp_status(SSL_CTX *ctx) {
  return SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp);
}

/// A client's status callback: the server's stapled response, or none.
static inline int ctls_CTX_set_status_callback(SSL_CTX *ctx, int (*cb)(SSL *, void *)) {
  return (int)SSL_CTX_set_tlsext_status_cb(ctx, cb);
}

/// The stapled OCSP response the server sent (owned by the SSL), and its length (-1: none).
static inline long ctls_get_stapled_ocsp(SSL *ssl, const unsigned char **response) {
  unsigned char *bytes = NULL;
  long length = SSL_get_tlsext_status_ocsp_resp(ssl, &bytes);
  *response = bytes;
  return length;
}

/// A chain of certificates for SSL_use_cert_and_key, which takes its own references: the
/// stack holds borrowed pointers and is freed alone (ctls_chain_free), never its certificates.
static inline STACK_OF(X509) *ctls_chain_new(void) { return sk_X509_new_null(); }
static inline int ctls_chain_push(STACK_OF(X509) *chain, X509 *certificate) {
  return sk_X509_push(chain, certificate);
}
static inline void ctls_chain_free(STACK_OF(X509) *chain) { sk_X509_free(chain); }

/// A list of CA names (from SSL_load_client_CA_file), freed with its names.
static inline void ctls_names_free(STACK_OF(X509_NAME) *names) {
  sk_X509_NAME_pop_free(names, X509_NAME_free);
}

// MARK: DTLS

static inline uint64_t ctls_OP_NO_QUERY_MTU(void) { return SSL_OP_NO_QUERY_MTU; }
static inline uint64_t ctls_OP_COOKIE_EXCHANGE(void) { return SSL_OP_COOKIE_EXCHANGE; }

/// The link MTU a DTLS connection sizes its handshake datagrams by (with NO_QUERY_MTU).
static inline long ctls_dtls_set_link_mtu(SSL *ssl, long mtu) {
  return DTLS_set_link_mtu(ssl, mtu);
}

/// Milliseconds until the DTLS retransmission timer fires (0: due now); -1 when none runs.
static inline long ctls_dtls_timeout_ms(SSL *ssl) {
  struct timeval left;
  if (DTLSv1_get_timeout(ssl, &left) != 1) return -1;
  return (long)left.tv_sec * 1000 + left.tv_usec / 1000;
}

/// Retransmits the last flight if its timer expired: 1 done, 0 nothing to do, -1 failed.
static inline int ctls_dtls_handle_timeout(SSL *ssl) { return (int)DTLSv1_handle_timeout(ssl); }

/// A datagram BIO over a connected socket knows its peer (for sendto, and the cookie).
static inline long ctls_dgram_set_connected(BIO *bio, BIO_ADDR *peer) {
  return BIO_ctrl_dgram_connect(bio, peer);
}

/// The address and port of `ssl`'s peer as bytes (family, address, port) for a cookie; 0 if
/// unknown. The peer is the BIO_ADDR in ex_data `index` (the listener's, whose datagram came
/// in a memory BIO), else the one its datagram BIO is connected to.
static inline size_t ctls_dgram_peer_bytes(
    SSL *ssl, int index, unsigned char *out, size_t capacity) {
  BIO_ADDR *given = (BIO_ADDR *)SSL_get_ex_data(ssl, index);
  BIO_ADDR *connected = given == NULL ? BIO_ADDR_new() : NULL;
  if (given == NULL && connected == NULL) return 0;
  const BIO_ADDR *peer = given;
  if (connected != NULL && BIO_dgram_get_peer(SSL_get_rbio(ssl), connected) > 0) peer = connected;
  size_t length = 0;
  if (peer != NULL && capacity >= 2 + 16 + 2) {
    out[0] = (unsigned char)BIO_ADDR_family(peer);
    size_t address = 0;
    if (BIO_ADDR_rawaddress(peer, out + 1, &address) == 1 && address <= 16) {
      unsigned short port = BIO_ADDR_rawport(peer);
      memcpy(out + 1 + address, &port, sizeof(port));
      length = 1 + address + sizeof(port);
    }
  }
  BIO_ADDR_free(connected);
  return length;
}

/// A read-only memory BIO over one datagram: once read, it asks to retry (instead of saying
/// end of file), as a non-blocking socket with nothing more would.
static inline BIO *ctls_BIO_new_datagram_buffer(const void *bytes, int length) {
  BIO *bio = BIO_new_mem_buf(bytes, length);
  if (bio != NULL) BIO_set_mem_eof_return(bio, -1);
  return bio;
}

static inline int ctls_BIO_should_retry(BIO *bio) { return BIO_should_retry(bio) != 0; }

#endif
