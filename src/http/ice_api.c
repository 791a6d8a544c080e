/*
 * GET /api/v1/turn/ice-servers (and /api/v1/ice/servers): the ICE
 * configuration a WebRTC client hands to RTCPeerConnection, with a fresh TURN
 * REST credential. Everything but the username and credential is constant for
 * the life of the configuration snapshot, so cJSON renders the body once at
 * start with placeholders, and a request only copies three pieces around the
 * two minted values. Both values are safe inside a JSON string without
 * escaping: the username is digits, ':' and a user id that passed the DID rule
 * (ALPHA / DIGIT / . - _ : %), the credential is base64 (credential-format
 * coturn) or hex (hex-sha256). With userhash on, each minted username is also
 * recorded in the TURN side's USERHASH table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "icestation/auth_userhash.h"

#include "http_int.h"

#define PH_USERNAME   "@@icestation-username@@"
#define PH_CREDENTIAL "@@icestation-credential@@"

static int
add_url(cJSON *urls, const char *scheme, const struct ice_addr *ip, uint16_t port,
        const char *suffix)
{
	struct ice_addr a = *ip;
	char hostport[ICE_ADDR_STRLEN], url[ICE_ADDR_STRLEN + 32];

	a.port = port;
	snprintf(url, sizeof(url), "%s:%s%s", scheme, ice_addr_str(&a, hostport, sizeof(hostport)),
	         suffix);
	return cJSON_AddItemToArray(urls, cJSON_CreateString(url)) ? 0 : -ENOMEM;
}

static cJSON *
add_entry(cJSON *servers, cJSON **urls)
{
	cJSON *e = cJSON_CreateObject();

	if (e == NULL || !cJSON_AddItemToArray(servers, e)) {
		cJSON_Delete(e);
		return NULL;
	}
	*urls = cJSON_AddArrayToObject(e, "urls");
	return *urls ? e : NULL;
}

/* turn: URLs for each public family, IPv4 first; turns: one host-name URL
 * (a TLS client checks a name, whose A and AAAA records give both
 * families). */
static int
build_turn(const struct ice_config_turn *t, const struct ice_addr pub[2], cJSON *servers,
           bool *has_turn)
{
	cJSON *e, *urls;
	int rc = 0;

	*has_turn = false;
	if (!t->enabled || (!(t->transports & (ICE_TRANSPORT_UDP | ICE_TRANSPORT_TCP)) &&
	                    (!t->tls.enabled || t->tls.server_name == NULL)))
		return 0;
	if ((e = add_entry(servers, &urls)) == NULL)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		if (pub[i].family == 0)
			continue;
		if (t->transports & ICE_TRANSPORT_UDP)
			rc |= add_url(urls, "turn", &pub[i], t->port, "?transport=udp");
		if (t->transports & ICE_TRANSPORT_TCP)
			rc |= add_url(urls, "turn", &pub[i], t->port, "?transport=tcp");
	}
	/* turns: carries the host name, never the IP: Firefox ignores a turns:
	 * URL whose host is an IP literal (docs/api.md); none without a name.
	 * Once, whatever the families: the name's A and AAAA records serve both. */
	if (t->tls.enabled && t->tls.server_name != NULL) {
		char url[300];

		snprintf(url, sizeof(url), "turns:%.253s:%u?transport=tcp", t->tls.server_name,
		         t->tls.port);
		rc |= cJSON_AddItemToArray(urls, cJSON_CreateString(url)) ? 0 : -ENOMEM;
	}
	if (rc != 0 || !cJSON_AddStringToObject(e, "username", PH_USERNAME) ||
	    !cJSON_AddStringToObject(e, "credential", PH_CREDENTIAL))
		return -ENOMEM;
	*has_turn = true;
	return 0;
}

/* The body, with the public IPs in force (h->public_*, see http_int.h). */
static char *
render(const struct ice_http *h, bool *has_turn)
{
	const struct ice_config *cfg = h->cfg;
	cJSON *root = cJSON_CreateObject(), *servers, *urls;
	struct ice_addr stun[2], turn[2];
	char *text = NULL;

	ice_public_ip_pair(&h->public_stun, &cfg->stun.public_ip, stun);
	ice_public_ip_pair(&h->public_turn, &cfg->turn.public_ip, turn);
	if (root == NULL || (servers = cJSON_AddArrayToObject(root, "ice_servers")) == NULL)
		goto out;
	if (cfg->stun.enabled) {
		if (add_entry(servers, &urls) == NULL)
			goto out;
		for (int i = 0; i < 2; i++)
			if (stun[i].family != 0 &&
			    add_url(urls, "stun", &stun[i], cfg->stun.port, "") < 0)
				goto out;
	}
	if (build_turn(&cfg->turn, turn, servers, has_turn) < 0)
		goto out;
	if (cfg->turn.fallback_enabled && cfg->turn.n_fallback_stun_servers > 0) {
		if (add_entry(servers, &urls) == NULL)
			goto out;
		for (size_t i = 0; i < cfg->turn.n_fallback_stun_servers; i++)
			if (!cJSON_AddItemToArray(
				    urls, cJSON_CreateString(cfg->turn.fallback_stun_servers[i])))
				goto out;
	}
	if (!cJSON_AddNumberToObject(root, "ttl", cfg->turn.credential_ttl_s))
		goto out;
	text = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return text;
}

static char *
dup_range(const char *p, size_t len)
{
	char *s = malloc(len + 1);

	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

/* Cut the rendered body around the two quoted placeholders. */
static int
split_template(struct ice_api_tmpl *t, const char *text)
{
	const char *u, *c;

	if (!t->has_turn) {
		t->head_len = strlen(text);
		t->head = dup_range(text, t->head_len);
		return t->head ? 0 : -ENOMEM;
	}
	u = strstr(text, PH_USERNAME);
	c = u ? strstr(u, PH_CREDENTIAL) : NULL;
	if (c == NULL)
		return -EINVAL;
	t->head_len = (size_t)(u - text);
	t->mid_len = (size_t)(c - (u + strlen(PH_USERNAME)));
	t->tail_len = strlen(c + strlen(PH_CREDENTIAL));
	t->head = dup_range(text, t->head_len);
	t->mid = dup_range(u + strlen(PH_USERNAME), t->mid_len);
	t->tail = dup_range(c + strlen(PH_CREDENTIAL), t->tail_len);
	return t->head && t->mid && t->tail ? 0 : -ENOMEM;
}

/* Why no answer can be built (what to set, in h->tmpl.unready_text); NULL
 * when one can. The public addresses are those in force (h->public_*). */
static const char *
unready_reason(struct ice_http *h)
{
	const struct ice_config *cfg = h->cfg;
	char *buf = h->tmpl.unready_text;
	size_t len = sizeof(h->tmpl.unready_text);

	if (cfg->stun.enabled &&
	    ice_config_public_faults(cfg, "stun", &h->public_stun, buf, len) != 0)
		return buf;
	if (cfg->turn.enabled &&
	    ice_config_public_faults(cfg, "turn", &h->public_turn, buf, len) != 0)
		return buf;
	if (cfg->turn.enabled && cfg->turn.n_auth_secrets == 0)
		return "no TURN auth secret";
	return NULL;
}

/*
 * The Vary value: the request headers the answer depends on, or NULL when it
 * depends on none (then no Vary is sent: each header costs evhttp an
 * allocation and a printf per response). Origin only when specific origins
 * are configured: with "*" or no cors-origins the answer ignores Origin.
 */
static int
build_vary(const struct ice_config_http *hc, char **out)
{
	bool origin = hc->n_cors_origins > 0;
	size_t len;
	char *v;

	for (size_t i = 0; i < hc->n_cors_origins; i++)
		if (strcmp(hc->cors_origins[i], "*") == 0)
			origin = false;
	*out = NULL;
	if (!origin && hc->n_bearer_tokens == 0 && hc->identity_header == NULL)
		return 0;
	len = sizeof("Origin, Authorization, ") +
	      (hc->identity_header ? strlen(hc->identity_header) : 0);
	v = malloc(len);
	if (v == NULL)
		return -ENOMEM;
	snprintf(v, len, "%s%s%s%s%s", origin ? "Origin" : "",
	         origin && hc->n_bearer_tokens ? ", " : "",
	         hc->n_bearer_tokens ? "Authorization" : "",
	         hc->identity_header && (origin || hc->n_bearer_tokens) ? ", " : "",
	         hc->identity_header ? hc->identity_header : "");
	*out = v;
	return 0;
}

int
ice_api_init(struct ice_http *h)
{
	const struct ice_config *cfg = h->cfg;
	struct ice_api_tmpl *t = &h->tmpl;
	uint32_t ttl = cfg->turn.credential_ttl_s;
	char *text;
	int rc;

	/* A cached answer must not outlive its credential: half its life, capped. */
	snprintf(t->cache, sizeof(t->cache), "private, max-age=%u",
	         ICE_MIN(ttl / 2, (uint32_t)HTTP_CACHE_MAX_AGE_CAP));

	rc = build_vary(&cfg->http, &t->vary);
	if (rc < 0)
		return rc;

	t->unready = unready_reason(h);
	if (t->unready != NULL)
		return 0;
	text = render(h, &t->has_turn);
	if (text == NULL)
		return -ENOMEM;
	rc = split_template(t, text);
	cJSON_free(text);
	return rc;
}

void
ice_api_fini(struct ice_http *h)
{
	ice_api_tmpl_free(&h->tmpl);
}

void
ice_api_tmpl_free(struct ice_api_tmpl *t)
{
	free(t->head);
	free(t->mid);
	free(t->tail);
	free(t->vary);
	memset(t, 0, sizeof(*t));
}

/* Length-independent compare: time depends on the configured token only. */
static bool
token_equal(const char *given, size_t given_len, const char *want)
{
	size_t want_len = strlen(want);
	unsigned char diff = given_len != want_len;

	for (size_t i = 0; i < want_len; i++)
		diff |= (unsigned char)((i < given_len ? given[i] : 0) ^ want[i]);
	return diff == 0;
}

bool
http_bearer_denied(const struct ice_http *h, struct evhttp_request *req)
{
	const struct ice_config_http *hc = &h->cfg->http;
	const char *auth, *tok;
	bool ok = false;
	size_t len;

	if (hc->n_bearer_tokens == 0)
		return false;
	auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return true;
	for (tok = auth + 7; *tok == ' '; tok++)
		;
	len = strlen(tok);
	while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
		len--;
	if (len == 0)
		return true;
	for (size_t i = 0; i < hc->n_bearer_tokens; i++)
		ok |= token_equal(tok, len, hc->bearer_tokens[i]);
	return !ok;
}

void
http_reply_401(struct ice_http *h, struct evhttp_request *req)
{
	ice_metrics_inc(h->m, ICE_M_HTTP_UNAUTHORIZED);
	http_header(req, "WWW-Authenticate", "Bearer realm=\"icestation\"");
	http_reply_error(h, req, 401, "Unauthorized", "unauthorized",
	                 "this endpoint needs Authorization: Bearer <token>");
}

/*
 * The Access-Control-Allow-Origin value for this request, or NULL for none.
 * "*" is answered as a literal "*", never by echoing the request's Origin:
 * browsers refuse to expose a credentialed (cookie) response under "*", while
 * an echoed origin is one Access-Control-Allow-Credentials away from handing
 * any site the credential a cookie-authenticated proxy minted for its user.
 * A configured origin is echoed only on an exact match; the value echoed is
 * then our own configured string, which passed cfg_check_origin.
 */
static const char *
cors_value(const struct ice_config_http *hc, const char *origin)
{
	for (size_t i = 0; i < hc->n_cors_origins; i++)
		if (strcmp(hc->cors_origins[i], "*") == 0)
			return "*";
	if (origin == NULL || strnlen(origin, HTTP_ORIGIN_MAX + 1) > HTTP_ORIGIN_MAX)
		return NULL;
	for (size_t i = 0; i < hc->n_cors_origins; i++)
		if (strcmp(hc->cors_origins[i], origin) == 0)
			return hc->cors_origins[i];
	return NULL;
}

/*
 * The identity, from the trusted proxy header when configured (the query is
 * then ignored), else from ?user_did=. Returns 0 or a negative errno naming
 * the problem; *detail gets a constant for the 400 body.
 */
static int
request_user(const struct ice_http *h, struct evhttp_request *req, char *user, const char **detail)
{
	const char *hdr = h->cfg->http.identity_header;
	int rc;

	if (hdr != NULL) {
		struct evkeyvalq *in = evhttp_request_get_input_headers(req);
		const struct evkeyval *kv;
		const char *v = NULL;
		size_t len;

		for (kv = in->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
			if (strcasecmp(kv->key, hdr) != 0)
				continue;
			if (v != NULL) {
				*detail = "the identity header appears more than once";
				return -EEXIST;
			}
			v = kv->value;
		}
		len = v ? strnlen(v, ICE_REST_USER_MAX + 1) : 0;
		if (len > ICE_REST_USER_MAX) {
			*detail = "the identity header is longer than 256 bytes";
			return -ENAMETOOLONG;
		}
		memcpy(user, v ? v : "", len);
		user[len] = '\0';
	} else {
		const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);

		rc = http_query_user(evhttp_uri_get_query(uri), user);
		if (rc == -EBADMSG)
			*detail = "user_did has invalid percent-encoding";
		else if (rc == -ENAMETOOLONG)
			*detail = "user_did is longer than 256 bytes (or the query is too long)";
		else if (rc == -EEXIST)
			*detail = "user_did appears more than once";
		if (rc < 0)
			return rc;
	}
	if (http_did_check(user, strlen(user)) < 0) {
		*detail = "user_did must be empty or a DID: did:<method>:<method-specific-id>";
		return -EINVAL;
	}
	/*
	 * An anonymous credential is a fresh username on every fetch, so a
	 * per-user quota could not hold it: minted only when the operator
	 * asked (TURN then counts anonymous allocations per client address).
	 */
	if (user[0] == '\0' && h->cfg->turn.enabled && !h->cfg->turn.anonymous) {
		*detail = hdr != NULL ? "the identity header is required (ice-api.anonymous is off)"
		                      : "user_did is required (ice-api.anonymous is off)";
		return -ENOENT;
	}
	return 0;
}

/*
 * "<expiry>:<user>" into buf[ICE_REST_USERNAME_MAX], the REST username
 * ice_rest_mint would build, without its snprintf (a tenth of this handler's
 * own CPU). user_len <= ICE_REST_USER_MAX (request_user bounds it). Returns
 * the length; buf is NUL-terminated.
 */
static size_t
username_format(char *buf, uint64_t expiry, const char *user, size_t user_len)
{
	char digits[20];
	size_t n = 0, len = 0;

	do {
		digits[n++] = (char)('0' + expiry % 10);
		expiry /= 10;
	} while (expiry != 0);
	while (n > 0)
		buf[len++] = digits[--n];
	buf[len++] = ':';
	memcpy(buf + len, user, user_len);
	len += user_len;
	buf[len] = '\0';
	return len;
}

static void
reply_servers(struct ice_http *h, struct evhttp_request *req, const char *user, size_t user_len)
{
	const struct ice_api_tmpl *t = &h->tmpl;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	const struct ice_config_turn *turn = &h->cfg->turn;
	struct ltc_userhash *uh = h->hooks != NULL ? h->hooks->userhash : NULL;
	char username[ICE_REST_USERNAME_MAX], password[ICE_REST_PASSWORD_MAX + 1];

	if (t->has_turn) {
		uint64_t expiry = (uint64_t)time(NULL) + turn->credential_ttl_s;
		size_t n = username_format(username, expiry, user, user_len);
		int plen = ice_rest_password((enum ice_rest_format)turn->credential_format,
		                             (const uint8_t *)turn->auth_secrets[0],
		                             turn->auth_secret_lens[0], username, n, password);

		if (plen < 0 || (uh != NULL && ltc_userhash_add(uh, username, n, turn->realm,
		                                                strlen(turn->realm), expiry) < 0)) {
			http_reply_error(h, req, 500, "Internal Server Error", "internal",
			                 "credential minting failed");
			return;
		}
		ice_metrics_inc(h->m, ICE_M_HTTP_CREDENTIALS);
		/* In a cluster the healthy nodes are listed instead (ice_cluster.c);
		 * ice_rest_password ended password with a NUL, as that wants. */
		if (ice_api_cluster_body(h, out, username, password) != 0) {
			evbuffer_add(out, t->head, t->head_len);
			evbuffer_add(out, username, n);
			evbuffer_add(out, t->mid, t->mid_len);
			evbuffer_add(out, password, (size_t)plen);
			evbuffer_add(out, t->tail, t->tail_len);
		}
	} else {
		evbuffer_add(out, t->head, t->head_len);
	}
	http_header(req, "Content-Type", "application/json");
	http_header(req, "Cache-Control", t->cache);
	http_reply(h, req, 200, "OK", NULL, 0);
}

static void
serve(struct ice_http *h, struct evhttp_request *req)
{
	const struct ice_config_http *hc = &h->cfg->http;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *allow_origin, *detail = "";
	char user[ICE_REST_USER_MAX + 1];
	int rc;

	allow_origin =
		cors_value(hc, evhttp_find_header(evhttp_request_get_input_headers(req), "Origin"));
	if (h->tmpl.vary != NULL)
		http_header(req, "Vary", h->tmpl.vary);
	if (allow_origin != NULL)
		http_header(req, "Access-Control-Allow-Origin", allow_origin);

	if (cmd == EVHTTP_REQ_OPTIONS) {
		/* A preflight never carries credentials, so it is never refused. */
		http_header(req, "Allow", "GET, HEAD, OPTIONS");
		if (allow_origin != NULL) {
			char age[16];

			snprintf(age, sizeof(age), "%d", HTTP_PREFLIGHT_MAX_AGE);
			http_header(req, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
			http_header(req, "Access-Control-Allow-Headers", "Authorization");
			http_header(req, "Access-Control-Max-Age", age);
		}
		http_reply(h, req, 204, "No Content", NULL, 0);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		http_reply_405_ice(h, req);
		return;
	}
	if (http_bearer_denied(h, req)) {
		http_reply_401(h, req);
		return;
	}
	if (!http_guard_admit(h, req))
		return;
	rc = request_user(h, req, user, &detail);
	if (rc < 0) {
		ice_metrics_inc(h->m, ICE_M_HTTP_BAD_USER);
		http_reply_error(h, req, 400, "Bad Request",
		                 rc == -ENOENT ? "user_required" : "bad_user_did", detail);
		return;
	}
	if (h->tmpl.unready != NULL) {
		http_header(req, "Retry-After", "30");
		http_reply_error(h, req, 503, "Service Unavailable", "not_ready", h->tmpl.unready);
		return;
	}
	if (user[0] != '\0' && h->hooks != NULL && h->hooks->user_revoked != NULL &&
	    h->hooks->user_revoked(h->hooks->ctx, user, strlen(user))) {
		ice_metrics_inc(h->m, ICE_M_HTTP_REVOKED);
		http_reply_error(h, req, 403, "Forbidden", "revoked",
		                 "this user's TURN access is revoked");
		return;
	}
	reply_servers(h, req, user, strlen(user));
}

void
ice_api_handle(struct ice_http *h, struct evhttp_request *req)
{
	uint64_t t0 = http_clock_ns();

	serve(h, req);
	http_latency_observe(h, http_clock_ns() - t0);
}
