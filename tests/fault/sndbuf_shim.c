/*
 * LD_PRELOAD shim for tests/fault/test_sndbuf.py. It does two things and
 * injects nothing:
 *
 *  - every setsockopt(SOL_SOCKET, SO_SNDBUF) the daemon makes asks for
 *    FAULT_SNDBUF bytes instead (the kernel then applies its own minimum),
 *    as a host with tiny wmem settings would;
 *  - every failed send on a UDP socket (sendmmsg, sendmsg, sendto, send) is
 *    observed on its way back to the daemon: the datagrams it carried are
 *    added to counters in the file FAULT_COUNTS (mmap'ed, 8 x u64: EAGAIN,
 *    ENOBUFS, other errno, failed calls, SO_SNDBUF calls rewritten), so the
 *    test can compare what the kernel refused with what the daemon counted.
 *
 * The refusals themselves are the kernel's: the test queues the daemon's
 * datagrams behind a slow qdisc in a network namespace of its own.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

enum {
	C_EAGAIN,
	C_ENOBUFS,
	C_OTHER,
	C_CALLS,
	C_SETSOCKOPT,
	C_N = 8
};

static uint64_t *counts;

static void
shim_init(void)
{
	const char *path = getenv("FAULT_COUNTS");
	int fd;

	if (counts != NULL || path == NULL)
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	void *p = mmap(NULL, C_N * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p != MAP_FAILED)
		counts = p;
}

static void
bump(int slot, uint64_t n)
{
	shim_init();
	if (counts != NULL)
		__atomic_add_fetch(&counts[slot], n, __ATOMIC_RELAXED);
}

static bool
is_udp(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
}

/* Record a failed send of n datagrams on fd; errno is kept for the caller. */
static void
observe(int fd, uint64_t n)
{
	int e = errno;

	if (e != EINTR && is_udp(fd)) {
		bump(e == EAGAIN || e == EWOULDBLOCK ? C_EAGAIN
		     : e == ENOBUFS                  ? C_ENOBUFS
		                                     : C_OTHER,
		     n);
		bump(C_CALLS, 1);
	}
	errno = e;
}

/* The next definition of name (libc's, or the sanitizer's interceptor). */
#define REAL(name)                            \
	static __typeof__(&name) real_##name; \
	if (real_##name == NULL)              \
	real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	REAL(setsockopt);
	const char *want = getenv("FAULT_SNDBUF");

	if (level == SOL_SOCKET && name == SO_SNDBUF && want != NULL) {
		int v = atoi(want);
		bump(C_SETSOCKOPT, 1);
		return real_setsockopt(fd, level, name, &v, sizeof(v));
	}
	return real_setsockopt(fd, level, name, val, len);
}

int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
{
	REAL(sendmmsg);
	int r = real_sendmmsg(fd, vec, n, flags);

	if (r < 0) {
		/* Each iovec of a message is one datagram (GSO packs several). */
		uint64_t dgrams = 0;
		for (unsigned int i = 0; i < n; i++)
			dgrams += vec[i].msg_hdr.msg_iovlen;
		observe(fd, dgrams);
	}
	return r;
}

ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	REAL(sendmsg);
	ssize_t r = real_sendmsg(fd, msg, flags);

	if (r < 0)
		observe(fd, msg->msg_iovlen);
	return r;
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	REAL(sendto);
	ssize_t r = real_sendto(fd, buf, len, flags, to, tolen);

	if (r < 0)
		observe(fd, 1);
	return r;
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	REAL(send);
	ssize_t r = real_send(fd, buf, len, flags);

	if (r < 0)
		observe(fd, 1);
	return r;
}
