/*
 * icestationctl's HTTP/1.1 client: one request per connection (Connection:
 * close) to the admin API, over a unix socket or TCP. Blocking, with a
 * deadline on the whole exchange.
 */
#ifndef ICESTATION_CTL_HTTP_H
#define ICESTATION_CTL_HTTP_H

#include <stddef.h>

struct ctl_target {
	const char *unix_path; /* or NULL */
	const char *url;       /* http://host:port, when unix_path is NULL */
	const char *token;     /* Bearer token, or NULL */
	int timeout_s;
};

struct ctl_reply {
	int status; /* HTTP status */
	char *body; /* NUL-terminated, owned */
	size_t body_len;
};

/*
 * Send method path (already percent-encoded) and read the whole reply.
 * Returns 0 with *r filled (free r->body), -ECONNREFUSED / -ENOENT when
 * nothing listens, -ETIMEDOUT, -EPROTO for a reply that is not HTTP, or
 * another -errno.
 */
int ctl_request(const struct ctl_target *t, const char *method, const char *path,
                struct ctl_reply *r);

/* Percent-encode s into out (cap bytes) for a path segment or query value. */
void ctl_pct_encode(const char *s, char *out, size_t cap);

#endif
