/*
 * The admin API client (ctl_http.h). Replies are small JSON documents, read
 * whole (at most CTL_REPLY_MAX bytes) until the server closes.
 */
#include "ctl_http.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	CTL_REPLY_MAX = 64 << 20,
};

static long
ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* "http://host:port" or "http://[v6]:port" (no path). */
static int
connect_url(const char *url)
{
	char host[256], port[8];
	const char *p = url, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *i;
	int fd = -ENOENT, r;
	size_t n;

	if (strncmp(p, "http://", 7) != 0)
		return -EINVAL;
	p += 7;
	if (*p == '[') {
		const char *close = strchr(p, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - p - 1);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, p + 1, n);
		colon = close + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL || (size_t)(colon - p) >= sizeof(host))
			return -EINVAL;
		n = (size_t)(colon - p);
		memcpy(host, p, n);
	}
	host[n] = '\0';
	snprintf(port, sizeof(port), "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return -EHOSTUNREACH;
	for (i = ai; i != NULL; i = i->ai_next) {
		fd = socket(i->ai_family, i->ai_socktype | SOCK_CLOEXEC, i->ai_protocol);
		if (fd < 0) {
			fd = -errno;
			continue;
		}
		if (connect(fd, i->ai_addr, i->ai_addrlen) == 0)
			break;
		r = -errno;
		close(fd);
		fd = r;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read until the server closes or the deadline passes. */
static int
recv_all(int fd, const struct timespec *deadline, char **out, size_t *outlen)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap), *nb;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = ms_left(deadline);
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			free(buf);
			return -ETIMEDOUT;
		}
		if (len + 1 == cap) {
			if (cap >= CTL_REPLY_MAX || (nb = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return -EFBIG;
			}
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(buf);
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

int
ctl_request(const struct ctl_target *t, const char *method, const char *path, struct ctl_reply *r)
{
	struct timespec deadline;
	char req[8192], *raw = NULL, *body;
	size_t raw_len = 0;
	int fd, n, rc;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += t->timeout_s > 0 ? t->timeout_s : 10;
	fd = t->unix_path != NULL ? connect_unix(t->unix_path) : connect_url(t->url);
	if (fd < 0)
		return fd;
	n = snprintf(req, sizeof(req),
	             "%s %s HTTP/1.1\r\nHost: icestation\r\nConnection: close\r\n"
	             "Accept: application/json\r\nContent-Length: 0\r\n%s%s%s\r\n",
	             method, path, t->token ? "Authorization: Bearer " : "",
	             t->token ? t->token : "", t->token ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		close(fd);
		return -E2BIG;
	}
	rc = send_all(fd, req, (size_t)n);
	if (rc == 0)
		rc = recv_all(fd, &deadline, &raw, &raw_len);
	close(fd);
	if (rc < 0)
		return rc;
	body = strstr(raw, "\r\n\r\n");
	if (sscanf(raw, "HTTP/1.%*d %d", &r->status) != 1 || body == NULL) {
		free(raw);
		return -EPROTO;
	}
	body += 4;
	r->body_len = raw_len - (size_t)(body - raw);
	r->body = strdup(body);
	free(raw);
	return r->body == NULL ? -ENOMEM : 0;
}

void
ctl_pct_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}
