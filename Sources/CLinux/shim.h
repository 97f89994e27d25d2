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

// Datagrams: recvmmsg/sendmmsg and the IP_PKTINFO structures are declared only under
// _GNU_SOURCE as well; these mirror glibc's layout (x86_64 and aarch64 alike).
#include <sys/uio.h>
#include <string.h>

struct clinux_mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
};

extern int recvmmsg(int fd, struct clinux_mmsghdr *messages, unsigned int count, int flags,
                    struct timespec *timeout);
extern int sendmmsg(int fd, struct clinux_mmsghdr *messages, unsigned int count, int flags);

struct clinux_in_pktinfo {
  int ipi_ifindex;
  struct in_addr ipi_spec_dst;
  struct in_addr ipi_addr;
};

struct clinux_in6_pktinfo {
  struct in6_addr ipi6_addr;
  unsigned int ipi6_ifindex;
};

static inline int clinux_IP_PKTINFO(void) { return 8; }
static inline int clinux_IPV6_RECVPKTINFO(void) { return 49; }
static inline int clinux_IPV6_PKTINFO(void) { return 50; }
static inline int clinux_MSG_TRUNC(void) { return MSG_TRUNC; }

/// Room for one IPv4 or IPv6 packet-info control message.
static inline size_t clinux_pktinfo_space(void) {
  return CMSG_SPACE(sizeof(struct clinux_in6_pktinfo));
}

/// The local address a received datagram was sent to, from its packet info, into `local`
/// (port 0). Returns 1 if it had one.
static inline int clinux_pktinfo_destination(struct msghdr *message,
                                             struct sockaddr_storage *local) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == 8) {
      struct sockaddr_in *address = (struct sockaddr_in *)local;
      memset(local, 0, sizeof(*local));
      address->sin_family = AF_INET;
      address->sin_addr = ((struct clinux_in_pktinfo *)CMSG_DATA(c))->ipi_addr;
      return 1;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == 50) {
      struct sockaddr_in6 *address = (struct sockaddr_in6 *)local;
      memset(local, 0, sizeof(*local));
      address->sin6_family = AF_INET6;
      struct clinux_in6_pktinfo *info = (struct clinux_in6_pktinfo *)CMSG_DATA(c);
      address->sin6_addr = info->ipi6_addr;
      // A link-local address means nothing without its interface.
      if (IN6_IS_ADDR_LINKLOCAL(&info->ipi6_addr)) address->sin6_scope_id = info->ipi6_ifindex;
      return 1;
    }
  }
  return 0;
}

/// Turns the packet info of a received datagram (which local address it was sent to, and on
/// which interface) into the control message that sends the reply from that address: in
/// place, in the same buffer. Returns the control length to send with, 0 if there was none.
static inline size_t clinux_pktinfo_reply(struct msghdr *message) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(message); c != NULL; c = CMSG_NXTHDR(message, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == 8) {
      struct clinux_in_pktinfo *info = (struct clinux_in_pktinfo *)CMSG_DATA(c);
      info->ipi_spec_dst = info->ipi_addr;
      info->ipi_ifindex = 0;
      memmove(message->msg_control, c, c->cmsg_len);
      return CMSG_SPACE(sizeof(struct clinux_in_pktinfo));
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == 50) {
      // The interface stays: a link-local address means nothing without it.
      memmove(message->msg_control, c, c->cmsg_len);
      return CMSG_SPACE(sizeof(struct clinux_in6_pktinfo));
    }
  }
  return 0;
}

#endif
