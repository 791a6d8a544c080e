/*
 * What each admin route answers. Listings and kills go to the workers and
 * come back later on this loop, and so does the self-test's report: the
 * request waits in a pending entry whose request pointer is cleared if the
 * client hangs up meanwhile. A reload, revocation or lift is answered once
 * every worker has applied it, so the client's next packet meets it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_srv.h"

struct admin_pending {
	struct ice_admin *a;
	struct evhttp_request *req; /* NULL once the client hung up */
	struct evhttp_connection *evcon;
	uint64_t id;
	cJSON *body; /* the answer waiting for the workers (ops.sync) */
	struct admin_pending *next;
};

static void
on_hangup(struct evhttp_connection *evcon, void *arg)
{
	struct admin_pending *p = arg;

	(void)evcon;
	p->req = NULL;
}

static struct admin_pending *
pending_new(struct ice_admin *a, struct evhttp_request *req)
{
	struct admin_pending *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->a = a;
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	admin_watch(a, p->evcon, on_hangup, p);
	p->next = a->pending;
	a->pending = p;
	return p;
}

/* The request to answer (NULL if the client is gone); p is freed. */
static struct evhttp_request *
pending_end(struct admin_pending *p)
{
	struct evhttp_request *req = p->req;
	struct admin_pending **pp = &p->a->pending;

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	if (req != NULL)
		admin_watch(p->a, p->evcon, NULL, NULL);
	cJSON_Delete(p->body);
	free(p);
	return req;
}

void
admin_pending_free_all(struct ice_admin *a)
{
	struct admin_pending *p;

	while ((p = a->pending) != NULL) {
		a->pending = p->next;
		cJSON_Delete(p->body);
		free(p);
	}
}

/* Text safe for JSON readers: valid UTF-8, no control bytes ('?' instead). */
static void
safe_text(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	while (*p != '\0' && n + 5 < cap) {
		size_t k = *p < 0x80             ? 1
		           : (*p & 0xe0) == 0xc0 ? 2
		           : (*p & 0xf0) == 0xe0 ? 3
		           : (*p & 0xf8) == 0xf0 ? 4
		                                 : 0;
		size_t i;

		for (i = 1; k > 1 && i < k && (p[i] & 0xc0) == 0x80; i++)
			;
		if (k == 0 || (k > 1 && i < k) || (k == 1 && (*p < 0x20 || *p == 0x7f))) {
			out[n++] = '?';
			p++;
			continue;
		}
		memcpy(out + n, p, k);
		n += k;
		p += k;
	}
	out[n] = '\0';
}

static const char *
proto_name(uint8_t proto)
{
	return proto == TURN_PROTO_UDP ? "udp" : proto == TURN_PROTO_TCP ? "tcp" : "tls";
}

static cJSON *
traffic_json(uint64_t bytes, uint64_t pkts)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "bytes", (double)bytes);
	cJSON_AddNumberToObject(o, "packets", (double)pkts);
	return o;
}

static cJSON *
alloc_json(const struct turn_alloc_info *i)
{
	char buf[TURN_USER_INFO_MAX * 2 + 8], addr[ICE_ADDR_STRLEN];
	cJSON *o = cJSON_CreateObject(), *relayed;

	if (o == NULL)
		return NULL;
	snprintf(buf, sizeof(buf), "%016" PRIx64, i->id);
	cJSON_AddStringToObject(o, "id", buf);
	safe_text(i->user, buf, sizeof(buf));
	cJSON_AddStringToObject(o, "user", buf);
	cJSON_AddStringToObject(o, "transport", proto_name(i->proto));
	cJSON_AddStringToObject(o, "client", ice_addr_str(&i->client, addr, sizeof(addr)));
	cJSON_AddStringToObject(o, "server", ice_addr_str(&i->server, addr, sizeof(addr)));
	relayed = cJSON_AddArrayToObject(o, "relayed");
	for (int k = 0; k < 2; k++)
		if (i->relay[k].family != 0)
			cJSON_AddItemToArray(relayed, cJSON_CreateString(ice_addr_str(
							      &i->relay[k], addr, sizeof(addr))));
	cJSON_AddNumberToObject(o, "created", (double)i->created_unix_s);
	cJSON_AddNumberToObject(o, "expires", (double)i->expires_unix_s);
	cJSON_AddNumberToObject(o, "permissions", i->n_perms);
	cJSON_AddNumberToObject(o, "channels", i->n_chans);
	cJSON_AddItemToObject(o, "to_peer",
	                      traffic_json(i->traffic.to_peer_bytes, i->traffic.to_peer_pkts));
	cJSON_AddItemToObject(o, "to_client",
	                      traffic_json(i->traffic.to_client_bytes, i->traffic.to_client_pkts));
	return o;
}

static void
on_list(void *arg, const struct turn_alloc_info *items, size_t n, size_t total)
{
	struct evhttp_request *req = pending_end(arg);
	cJSON *o, *arr;

	if (req == NULL)
		return;
	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "allocations");
	for (size_t i = 0; arr != NULL && i < n; i++)
		cJSON_AddItemToArray(arr, alloc_json(&items[i]));
	cJSON_AddNumberToObject(o, "total", (double)total);
	cJSON_AddBoolToObject(o, "truncated", total > n);
	admin_reply_json(req, 200, "OK", o);
}

static void
on_kill(void *arg, int rc)
{
	struct admin_pending *p = arg;
	uint64_t id = p->id;
	struct evhttp_request *req = pending_end(p);
	char buf[24];
	cJSON *o;

	if (req == NULL)
		return;
	if (rc == -ENOENT) {
		admin_reply_error(req, 404, "Not Found", "not_found", "no allocation with this id");
		return;
	}
	if (rc < 0) {
		admin_reply_error(req, 503, "Service Unavailable", "busy",
		                  "a worker did not answer");
		return;
	}
	o = cJSON_CreateObject();
	snprintf(buf, sizeof(buf), "%016" PRIx64, id);
	cJSON_AddStringToObject(o, "status", "closed");
	cJSON_AddStringToObject(o, "id", buf);
	admin_reply_json(req, 200, "OK", o);
}

static void
on_selftest(void *arg, cJSON *report)
{
	struct evhttp_request *req = pending_end(arg);

	if (req == NULL) {
		cJSON_Delete(report);
		return;
	}
	admin_reply_json(req, 200, "OK", report);
}

static void
on_synced(void *arg, int rc)
{
	struct admin_pending *p = arg;
	cJSON *body = p->body;
	struct evhttp_request *req;

	p->body = NULL;
	req = pending_end(p);
	if (req == NULL) {
		cJSON_Delete(body);
		return;
	}
	cJSON_AddBoolToObject(body, "applied", rc == 0);
	admin_reply_json(req, 200, "OK", body);
}

/*
 * Answer 200 with body once the workers have applied the change: "applied"
 * true, or false when a worker's mailbox was full (it applies the change
 * later). Without room for the wait the answer goes at once, "applied"
 * false.
 */
static void
reply_when_applied(struct ice_admin *a, struct evhttp_request *req, cJSON *body)
{
	struct admin_pending *p = body != NULL ? pending_new(a, req) : NULL;

	if (p == NULL) {
		cJSON_AddBoolToObject(body, "applied", false);
		admin_reply_json(req, 200, "OK", body);
		return;
	}
	p->body = body;
	if (a->ops.sync(a->ops.ctx, on_synced, p) == 0)
		return;
	p->body = NULL;
	req = pending_end(p);
	cJSON_AddBoolToObject(body, "applied", false);
	admin_reply_json(req, 200, "OK", body);
}

/* Start an asynchronous answer; a refusal to start is answered at once. */
static void
start_async(struct ice_admin *a, struct evhttp_request *req, const struct admin_req *r)
{
	struct admin_pending *p = pending_new(a, req);
	int rc;

	if (p == NULL) {
		admin_reply_error(req, 500, "Internal Server Error", "no_memory", NULL);
		return;
	}
	p->id = r->id;
	if (r->route == ADMIN_R_ALLOCS)
		rc = a->ops.list(a->ops.ctx, r->has_user ? r->user : NULL, r->user_len, on_list, p);
	else if (r->route == ADMIN_R_SELFTEST)
		rc = a->ops.selftest(a->ops.ctx, on_selftest, p);
	else
		rc = a->ops.kill(a->ops.ctx, r->id, on_kill, p);
	if (rc == 0)
		return;
	req = pending_end(p);
	if (rc == -ENOENT)
		admin_reply_error(req, 404, "Not Found", "not_found", "no allocation with this id");
	else
		admin_reply_error(req, 503, "Service Unavailable", "busy",
		                  "too many requests in flight; retry");
}

static void
handle_reload(struct ice_admin *a, struct evhttp_request *req)
{
	char err[ADMIN_RELOAD_ERR_MAX];
	uint64_t gen = 0;
	cJSON *o;

	err[0] = '\0';
	if (a->ops.reload(a->ops.ctx, err, sizeof(err), &gen) < 0) {
		admin_reply_error(req, 422, "Unprocessable Entity", "invalid_config", err);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "status", "reloaded");
	cJSON_AddNumberToObject(o, "generation", (double)gen);
	reply_when_applied(a, req, o);
}

static void
handle_revoke(struct ice_admin *a, struct evhttp_request *req, const struct admin_req *r)
{
	char name[TURN_USER_INFO_MAX * 2 + 8];
	cJSON *o;
	int rc;

	if (r->route == ADMIN_R_REVOKE)
		rc = a->ops.revoke(a->ops.ctx, r->user, r->user_len, r->until);
	else
		rc = a->ops.unrevoke(a->ops.ctx, r->user, r->user_len);
	if (rc == -ENOENT) {
		admin_reply_error(req, 404, "Not Found", "not_found", "this user is not revoked");
		return;
	}
	if (rc < 0) {
		admin_reply_error(req, 500, "Internal Server Error", "failed", strerror(-rc));
		return;
	}
	o = cJSON_CreateObject();
	safe_text(r->user, name, sizeof(name));
	cJSON_AddStringToObject(o, "status", r->route == ADMIN_R_REVOKE ? "revoked" : "unrevoked");
	cJSON_AddStringToObject(o, "user", name);
	if (r->route == ADMIN_R_REVOKE)
		cJSON_AddNumberToObject(o, "until", (double)r->until);
	reply_when_applied(a, req, o);
}

void
admin_handle(struct ice_admin *a, struct evhttp_request *req, const struct admin_req *r)
{
	cJSON *o;

	switch (r->route) {
	case ADMIN_R_STATUS:
		admin_reply_json(req, 200, "OK", a->ops.status(a->ops.ctx));
		break;
	case ADMIN_R_ALLOCS:
	case ADMIN_R_KILL:
	case ADMIN_R_SELFTEST:
		start_async(a, req, r);
		break;
	case ADMIN_R_PAGE:
		admin_page_reply(req, r->page);
		break;
	case ADMIN_R_REVOKE:
	case ADMIN_R_UNREVOKE:
		handle_revoke(a, req, r);
		break;
	case ADMIN_R_REVOCATIONS:
		o = cJSON_CreateObject();
		if (o != NULL)
			cJSON_AddItemToObject(o, "revocations", a->ops.revocations(a->ops.ctx));
		admin_reply_json(req, 200, "OK", o);
		break;
	case ADMIN_R_RELOAD:
		handle_reload(a, req);
		break;
	case ADMIN_R_CLUSTER:
		admin_reply_json(req, 200, "OK", a->ops.cluster(a->ops.ctx));
		break;
	case ADMIN_R_DRAIN:
		if (a->ops.drain(a->ops.ctx) < 0) {
			admin_reply_error(req, 500, "Internal Server Error", "failed", NULL);
			break;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "status", "draining");
		reply_when_applied(a, req, o);
		break;
	}
}
