#ifndef SECUREECHO_CLINUX_SHIM_H
#define SECUREECHO_CLINUX_SHIM_H

// Swift's Glibc module does not export these on Linux; the socket layer and
// the event loop need them.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <signal.h>
#include <pthread.h>
#include <malloc.h>

// accept4 is declared only under _GNU_SOURCE, which the Glibc module is not built with.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

// splice(2) and pipe2(2) are declared only under _GNU_SOURCE as well.
extern ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                      unsigned int flags);
extern int pipe2(int fds[2], int flags);
static inline unsigned int clinux_SPLICE_F_MOVE(void) { return 1; }
static inline unsigned int clinux_SPLICE_F_NONBLOCK(void) { return 2; }

#endif
