/*
 * One read or write on a TCP connection, through SSL when it carries TLS:
 * what client streams (stream_in.c, stream_out.c) and RFC 6062 data
 * connections (tcp_pair.c) share.
 */
#include <sys/socket.h>

#include <errno.h>

#include "net_internal.h"

ssize_t
net_sock_read(int fd, struct ssl_st *ssl, uint8_t *buf, size_t len, bool *want_write)
{
	ssize_t r;

	if (ssl != NULL)
		return net_tls_read(ssl, buf, len, want_write);
	do
		r = recv(fd, buf, len, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}

ssize_t
net_sock_write(int fd, struct ssl_st *ssl, const uint8_t *buf, size_t len, bool *want_read)
{
	ssize_t r;

	if (ssl != NULL)
		return net_tls_write(ssl, buf, len, want_read);
	do
		r = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return r;
}
