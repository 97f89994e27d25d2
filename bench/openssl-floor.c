/*
 * openssl-floor: what OpenSSL itself costs a TLS 1.3 server, with no sockets and no event loop.
 *
 * A server SSL and a client SSL are joined by a BIO pair in one thread. Only the server's calls
 * are timed (SSL_new, each SSL_do_handshake step, SSL_free), with CLOCK_THREAD_CPUTIME_ID, so the
 * figure is the CPU an ideal server spends per handshake: the floor any real server sits above.
 * Then many completed server SSLs are kept alive (client sides freed, the BIO pair swapped for a
 * socket BIO as a real server has) and the heap growth per SSL is read with mallinfo2().
 *
 * The server context is set like echo-server's: TLS 1.3, X25519, SSL_MODE_RELEASE_BUFFERS
 * (with partial writes and moving buffers), no compression, no renegotiation, no session cache.
 *
 * usage: openssl-floor --cert CERT --key KEY [--iterations N] [--seconds S] [--hold N]
 * prints key=value lines:
 *   full_ms, full_iterations            full handshake, no tickets (SSL_OP_NO_TICKET, 0 tickets)
 *   full_tickets_ms                     full handshake issuing one ticket, as echo-server
 *   resumed_ms, resumed_iterations      resumption with a ticket (psk_dhe_ke, X25519)
 *   idle_bytes_release                  heap per idle server SSL, SSL_MODE_RELEASE_BUFFERS
 *   idle_bytes_norelease                the same without SSL_MODE_RELEASE_BUFFERS
 *   cipher, group, version              what was negotiated
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *cert_path, *key_path;
static long max_iterations = 2000;
static double max_seconds = 3.0;
static long hold_count = 2000;

static void die(const char *what) {
    fprintf(stderr, "openssl-floor: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void) { return now(CLOCK_THREAD_CPUTIME_ID); }

enum tickets { NO_TICKETS, ONE_TICKET };

static SSL_CTX *server_context(enum tickets tickets, int release_buffers) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) die("SSL_CTX_new (server)");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (tickets == NO_TICKETS) {
        options |= SSL_OP_NO_TICKET;
        SSL_CTX_set_num_tickets(ctx, 0);
    } else {
        /* As echo-server: one TLS 1.3 ticket per connection. */
        SSL_CTX_set_num_tickets(ctx, 1);
    }
    SSL_CTX_set_options(ctx, options);
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (release_buffers) mode |= SSL_MODE_RELEASE_BUFFERS;
    SSL_CTX_set_mode(ctx, mode);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
        die("ciphersuites");
    if (SSL_CTX_set1_groups_list(ctx, "X25519") != 1) die("groups");
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) die("certificate");
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) die("private key");
    if (SSL_CTX_check_private_key(ctx) != 1) die("key does not match certificate");
    return ctx;
}

static SSL_CTX *client_context(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new (client)");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (SSL_CTX_set1_groups_list(ctx, "X25519") != 1) die("client groups");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    return ctx;
}

/* One handshake. Returns the server's CPU seconds; leaves *server_out alive (not freed) if
 * server_out is given, else frees it inside the timed region. The client is freed unless
 * client_out is given. */
static double handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume, SSL **server_out, SSL **client_out) {
    BIO *sbio, *cbio;
    if (BIO_new_bio_pair(&sbio, 0, &cbio, 0) != 1) die("BIO_new_bio_pair");
    SSL *client = SSL_new(cctx);
    if (!client) die("SSL_new (client)");
    SSL_set_bio(client, cbio, cbio);
    SSL_set_connect_state(client);
    if (resume && SSL_set_session(client, resume) != 1) die("SSL_set_session");

    double cpu = 0, t0 = thread_cpu();
    SSL *server = SSL_new(sctx);
    if (!server) die("SSL_new (server)");
    SSL_set_bio(server, sbio, sbio);
    SSL_set_accept_state(server);
    cpu += thread_cpu() - t0;

    int server_done = 0, client_done = 0;
    for (int round = 0; !(server_done && client_done); round++) {
        if (round > 100) die("handshake does not progress");
        if (!client_done) {
            int r = SSL_do_handshake(client);
            if (r == 1) client_done = 1;
            else if (SSL_get_error(client, r) != SSL_ERROR_WANT_READ) die("client handshake");
        }
        if (!server_done) {
            t0 = thread_cpu();
            int r = SSL_do_handshake(server);
            cpu += thread_cpu() - t0;
            if (r == 1) server_done = 1;
            else if (SSL_get_error(server, r) != SSL_ERROR_WANT_READ) die("server handshake");
        }
    }
    /* TLS 1.3 tickets come after the handshake: let the client read them. */
    char byte;
    int r = SSL_read(client, &byte, 1);
    if (r > 0 || SSL_get_error(client, r) != SSL_ERROR_WANT_READ) die("client read after handshake");

    /* Closed cleanly, as after close_notify both ways: SSL_free of a session that was not shut
     * down would mark it not resumable (and look it up in the session cache to remove it). */
    SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (server_out) {
        *server_out = server;
    } else {
        t0 = thread_cpu();
        SSL_set_shutdown(server, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(server);
        cpu += thread_cpu() - t0;
    }
    if (client_out) *client_out = client;
    else SSL_free(client);
    return cpu;
}

/* Runs handshakes until max_iterations or max_seconds (wall); returns ms per handshake. */
static double time_handshakes(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume, long *iterations) {
    for (int i = 0; i < 20; i++) handshake(sctx, cctx, resume, NULL, NULL); /* warm-up */
    double cpu = 0, start = now(CLOCK_MONOTONIC);
    long n = 0;
    while (n < max_iterations && now(CLOCK_MONOTONIC) - start < max_seconds) {
        cpu += handshake(sctx, cctx, resume, NULL, NULL);
        n++;
    }
    *iterations = n;
    return cpu * 1000.0 / (double)n;
}

static size_t heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* Heap bytes per idle server SSL after a completed handshake, as a server holds it: the
 * client side is gone, the BIO pair is replaced by a socket BIO (what SSL_set_fd makes), and the
 * server has tried one read (which is when released buffers go). */
static double idle_bytes(SSL_CTX *sctx, SSL_CTX *cctx) {
    SSL **held = calloc((size_t)hold_count, sizeof *held);
    if (!held) die("out of memory");
    /* Warm up so lazily allocated, shared state (method tables, caches) is not counted. */
    for (int i = 0; i < 20; i++) handshake(sctx, cctx, NULL, NULL, NULL);
    malloc_trim(0);
    size_t before = heap_in_use();
    for (long i = 0; i < hold_count; i++) {
        SSL *server, *client;
        handshake(sctx, cctx, NULL, &server, &client);
        char byte;
        int r = SSL_read(server, &byte, 1);
        if (r > 0 || SSL_get_error(server, r) != SSL_ERROR_WANT_READ) die("server read after handshake");
        SSL_free(client);
        BIO *socket_bio = BIO_new_socket(-1, BIO_NOCLOSE);
        if (!socket_bio) die("BIO_new_socket");
        SSL_set_bio(server, socket_bio, socket_bio); /* frees the server's half of the pair */
        held[i] = server;
    }
    size_t after = heap_in_use();
    for (long i = 0; i < hold_count; i++) SSL_free(held[i]);
    free(held);
    return ((double)after - (double)before) / (double)hold_count;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) { fprintf(stderr, "openssl-floor: %s needs a value\n", arg); return 64; }
        if (!strcmp(arg, "--cert")) cert_path = value;
        else if (!strcmp(arg, "--key")) key_path = value;
        else if (!strcmp(arg, "--iterations")) max_iterations = atol(value);
        else if (!strcmp(arg, "--seconds")) max_seconds = atof(value);
        else if (!strcmp(arg, "--hold")) hold_count = atol(value);
        else { fprintf(stderr, "openssl-floor: unknown option %s\n", arg); return 64; }
        i++;
    }
    if (!cert_path || !key_path || max_iterations < 1) {
        fprintf(stderr, "usage: openssl-floor --cert CERT --key KEY [--iterations N] [--seconds S] [--hold N]\n");
        return 64;
    }

    SSL_CTX *cctx = client_context();

    SSL_CTX *plain = server_context(NO_TICKETS, 1);
    long n;
    double ms = time_handshakes(plain, cctx, NULL, &n);
    printf("full_ms=%.4f\nfull_iterations=%ld\n", ms, n);
    {
        SSL *server, *client;
        handshake(plain, cctx, NULL, &server, &client);
        printf("version=%s\ncipher=%s\n", SSL_get_version(server), SSL_CIPHER_get_name(SSL_get_current_cipher(server)));
        printf("group=%s\n", OBJ_nid2sn(SSL_get_negotiated_group(server) & ~TLSEXT_nid_unknown));
        SSL_free(server);
        SSL_free(client);
    }

    SSL_CTX *ticketed = server_context(ONE_TICKET, 1);
    ms = time_handshakes(ticketed, cctx, NULL, &n);
    printf("full_tickets_ms=%.4f\nfull_tickets_iterations=%ld\n", ms, n);

    SSL *server, *client;
    handshake(ticketed, cctx, NULL, &server, &client);
    SSL_SESSION *session = SSL_get1_session(client);
    SSL_free(server);
    SSL_free(client);
    if (!session || !SSL_SESSION_is_resumable(session)) die("no resumable session from the server");
    handshake(ticketed, cctx, session, &server, &client);
    if (!SSL_session_reused(server)) die("session was not resumed");
    SSL_free(server);
    SSL_free(client);
    ms = time_handshakes(ticketed, cctx, session, &n);
    printf("resumed_ms=%.4f\nresumed_iterations=%ld\n", ms, n);
    SSL_SESSION_free(session);

    if (hold_count > 0) {
        printf("idle_connections=%ld\n", hold_count);
        printf("idle_bytes_release=%.0f\n", idle_bytes(plain, cctx));
        SSL_CTX *unreleased = server_context(NO_TICKETS, 0);
        printf("idle_bytes_norelease=%.0f\n", idle_bytes(unreleased, cctx));
        SSL_CTX_free(unreleased);
    }
    SSL_CTX_free(plain);
    SSL_CTX_free(ticketed);
    SSL_CTX_free(cctx);
    return 0;
}
