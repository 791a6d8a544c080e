/*
 * The configuration trees fuzz_reload applies in turn: a valid base tree
 * (peers.yml's layout, one file) whose keys ("slots") the input sets to
 * other values, valid and invalid, to a string of its own, or removes, so
 * that most trees load and the rest fail for one reason each. A "@" in a
 * value is the fuzzer's scratch directory (certificate, key and password
 * files that exist). A value starting with "!" (not written) is invalid
 * wherever it appears, whatever the rest of the tree: a tree holding one
 * must not load. Include from fuzz_reload.c only.
 */
#ifndef ICESTATION_FUZZ_RELOAD_TREE_H
#define ICESTATION_FUZZ_RELOAD_TREE_H

#include <stdio.h>
#include <string.h>

enum {
	SEC_LOGGER,
	SEC_SERVER,
	SEC_HTTP,
	SEC_ADMIN,
	SEC_CLUSTER,
	SEC_STUN,
	SEC_TURN,
	N_SEC,
	SLOT_VALUES = 8,
	TREE_MAX = 16384,
};

static const struct {
	const char *head;
	int indent;
} tree_secs[N_SEC] = {
	[SEC_LOGGER] = { "  logger:\n", 4 },       [SEC_SERVER] = { "  node:\n    server:\n", 6 },
	[SEC_HTTP] = { "      http:\n", 8 },       [SEC_ADMIN] = { "      admin:\n", 8 },
	[SEC_CLUSTER] = { "      cluster:\n", 8 }, [SEC_STUN] = { "        stun:\n", 10 },
	[SEC_TURN] = { "        turn:\n", 10 },
};

/* v[0] is the base tree's value; NULL: the key is absent; "!": invalid.
 * A slot with no key says whether its section (stun, turn) is there. */
struct slot {
	int sec;
	const char *key;
	const char *v[SLOT_VALUES];
};

#define TLS_PAIR "{cert: @/cert1.pem, key: @/key.pem}"

static const struct slot slots[] = {
	{ SEC_LOGGER, "level", { "error", "warn", "!loud" } },
	{ SEC_LOGGER, "mask-addresses", { "false", "true", "!maybe" } },
	{ SEC_SERVER, "workers", { "1", "2", "auto", "!0", "!65" } },
	{ SEC_SERVER, "drain-timeout", { "1h", "10s", "!-5s" } },
	{ SEC_HTTP, "enabled", { "true", "false" } },
	{ SEC_HTTP,
	  "listen",
	  { "127.0.0.1:18080", "127.0.0.1:18081", "\"[::1]:18080\"", "!host:80" } },
	{ SEC_HTTP, "max-connections", { NULL, "10", "!0" } },
	{ SEC_HTTP, "bearer-tokens", { "[]", "[http-token-0123456789abcdefghij]", "![\"a b\"]" } },
	{ SEC_HTTP, "rate-limit", { NULL, "{requests-per-second: 0, burst: 1}", "!{burst: 0}" } },
	{ SEC_HTTP,
	  "tls",
	  { NULL, TLS_PAIR, "{cert: @/cert2.pem, key: @/key.pem}", "!{cert: @/cert1.pem}",
	    "!{cert: @/none.pem, key: @/key.pem}" } },
	{ SEC_ADMIN, "enabled", { NULL, "false", "true" } },
	{ SEC_ADMIN,
	  "listen",
	  { "\"unix:@/admin.sock\"", "\"unix:@/admin2.sock\"", "127.0.0.1:18090", "127.0.0.1:18080",
	    "!unix:relative" } },
	{ SEC_ADMIN,
	  "bearer-tokens",
	  { NULL, "[admin-token-0123456789abcdefghij]", "[admin-token-2-0123456789abcdef]" } },
	{ SEC_ADMIN, "max-connections", { NULL, "8", "!0" } },
	{ SEC_CLUSTER, "enabled", { NULL, "true", "false" } },
	{ SEC_CLUSTER,
	  "redis",
	  { NULL, "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/1", "unix:/tmp/redis.sock",
	    "!http://x" } },
	{ SEC_CLUSTER, "redis-password-file", { NULL, "@/pw1", "@/pw2", "@/none" } },
	{ SEC_CLUSTER, "node-id", { NULL, "node-1", "node-2", "!bad id" } },
	{ SEC_CLUSTER, "key-prefix", { NULL, "ice:", "ice2:" } },
	{ SEC_CLUSTER, "heartbeat", { NULL, "500ms", "2s", "!1ms" } },
	{ SEC_CLUSTER, "node-ttl", { NULL, "10s", "1s" } },
	{ SEC_CLUSTER,
	  "ice-api",
	  { NULL, "{nodes: 3, strategy: least-loaded}", "!{strategy: random}" } },
	{ SEC_STUN, NULL, { "yes", NULL } },
	{ SEC_STUN, "enabled", { NULL, "false", "true" } },
	{ SEC_STUN, "port", { "3478", "3479", "!0" } },
	{ SEC_STUN, "public-ip", { "127.0.0.1", "127.0.0.2", "[127.0.0.1, \"::1\"]" } },
	{ SEC_STUN, "listen", { "[127.0.0.1]", "[127.0.0.2]", "[127.0.0.1, \"::1\"]", "![nope]" } },
	{ SEC_STUN, "transports", { NULL, "[udp]", "[tcp]", "[]", "![tls]" } },
	{ SEC_STUN, "rate-limit", { NULL, "{requests-per-second: 0}", "!{burst: 0}" } },
	{ SEC_STUN, "tcp-idle-timeout", { NULL, "5s", "!0s" } },
	{ SEC_STUN, "tcp-max-connections", { NULL, "10", "!0" } },
	{ SEC_TURN, NULL, { "yes", NULL } },
	{ SEC_TURN, "enabled", { NULL, "false", "true" } },
	{ SEC_TURN, "port", { "3478", "3479", "5349" } },
	{ SEC_TURN, "realm", { "fuzz.test", "other.test", NULL, "!\"a\\\"b\"" } },
	{ SEC_TURN, "public-ip", { "127.0.0.1", "127.0.0.2", "[127.0.0.1, \"::1\"]" } },
	{ SEC_TURN, "listen", { "[127.0.0.1]", "[127.0.0.2]", "[127.0.0.1, \"::1\"]" } },
	{ SEC_TURN,
	  "transports",
	  { NULL, "[udp, tcp, tls]", "[udp]", "[tcp, tls]", "[]", "![quic]" } },
	{ SEC_TURN,
	  "auth-secret",
	  { "fuzz-secret-0123456789abcdef0123456789", "fuzz-secret-2-0123456789abcdef012345", NULL,
	    "short" } },
	{ SEC_TURN, "previous-auth-secrets", { NULL, "[old-secret-0123456789abcdef0123456]" } },
	{ SEC_TURN,
	  "relay-ip-range",
	  { "127.0.0.1/32", "127.0.0.0/24", "[127.0.0.1/32, \"::1/128\"]", "[]", "!10.0.0.0/33" } },
	{ SEC_TURN, "relay-port-range", { NULL, "50000-50100", "!60000-50000" } },
	{ SEC_TURN, "max-allocations", { NULL, "10", "!0" } },
	{ SEC_TURN, "max-allocations-per-user", { NULL, "5", "2000" } },
	{ SEC_TURN, "allocation-lifetime", { NULL, "60s", "!2h" } },
	{ SEC_TURN, "userhash", { NULL, "true", "false" } },
	{ SEC_TURN, "userhash-table-size", { NULL, "16", "!0" } },
	{ SEC_TURN, "denied-peer-ip", { NULL, "[10.0.0.0/8]", "![bogus]" } },
	{ SEC_TURN, "allowed-peer-ip", { NULL, "[127.0.0.0/8]" } },
	{ SEC_TURN,
	  "tls",
	  { NULL, TLS_PAIR, "{cert: @/cert2.pem, key: @/key.pem}",
	    "{cert: @/cert1.pem, key: @/key.pem, port: 5350}",
	    "{cert: @/cert1.pem, key: @/key.pem, server-name: turn.example.com}",
	    "{cert: @/none.pem, key: @/key.pem}", "{server-name: 127.0.0.1}" } },
	{ SEC_TURN, "credential-format", { NULL, "hex-sha256", "!md5" } },
	{ SEC_TURN, "mobility", { NULL, "false" } },
	{ SEC_TURN, "tcp-relay", { NULL, "false" } },
	{ SEC_TURN, "alternate-server", { NULL, "127.0.0.1:3479", "!nowhere" } },
	{ SEC_TURN, "max-bps-per-allocation", { NULL, "1M", "!lots" } },
	{ SEC_TURN,
	  "ice-api",
	  { NULL, "{anonymous: true}", "{public-fallback: {enabled: true}}",
	    "{public-fallback: {enabled: true, stun-servers: [\"stun:stun.example.com\"]}}" } },
};

#define N_SLOTS (sizeof(slots) / sizeof(slots[0]))

/* How many values v[] lists: up to its last one (a NULL before it means
 * "absent", a value of its own). */
static size_t
slot_n_values(const struct slot *s)
{
	size_t n = SLOT_VALUES;

	while (n > 1 && s->v[n - 1] == NULL)
		n--;
	return n;
}

/* A tree being written into buf[0..TREE_MAX). */
struct tree_out {
	char *buf;
	size_t len;
	const char *dir; /* what "@" stands for */
};

static void
out_str(struct tree_out *o, const char *s)
{
	for (; *s != '\0' && o->len + 1 < TREE_MAX; s++) {
		if (*s == '@') {
			size_t n = strlen(o->dir);

			if (o->len + n + 1 >= TREE_MAX)
				break;
			memcpy(o->buf + o->len, o->dir, n);
			o->len += n;
		} else {
			o->buf[o->len++] = *s;
		}
	}
	o->buf[o->len] = '\0';
}

/* A string of the input's as a double-quoted YAML scalar. */
static void
out_quoted(struct tree_out *o, const uint8_t *p, size_t n)
{
	char esc[8];

	out_str(o, "\"");
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\' && p[i] != '@') {
			esc[0] = (char)p[i];
			esc[1] = '\0';
		} else {
			snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
		}
		out_str(o, esc);
	}
	out_str(o, "\"");
}

/* The value a slot holds in a tree: one of v[], or the input's own. */
struct slot_val {
	const char *v; /* NULL: absent (unless raw) */
	const uint8_t *raw;
	size_t raw_len;
	bool is_raw;
};

static bool
slot_present(const struct slot_val *sv)
{
	return sv->is_raw || sv->v != NULL;
}

/* The YAML of the tree whose slot values are vals[N_SLOTS]. Returns true
 * if it holds a value marked invalid. */
static bool
tree_write(struct tree_out *o, const struct slot_val *vals)
{
	bool invalid = false;
	bool sec_on[N_SEC] = { true, true, false, false, false, false, false };
	bool subserver = false;
	char pad[16];

	o->len = 0;
	o->buf[0] = '\0';
	for (size_t i = 0; i < N_SLOTS; i++)
		if (slot_present(&vals[i]))
			sec_on[slots[i].sec] = true;
	/* stun and turn: only when their section slot says so. */
	for (size_t i = 0; i < N_SLOTS; i++)
		if (slots[i].key == NULL)
			sec_on[slots[i].sec] = slot_present(&vals[i]);
	out_str(o, "peers:\n");
	for (int s = 0; s < N_SEC; s++) {
		if (!sec_on[s])
			continue;
		if ((s == SEC_STUN || s == SEC_TURN) && !subserver) {
			out_str(o, "      subserver:\n");
			subserver = true;
		}
		out_str(o, tree_secs[s].head);
		snprintf(pad, sizeof(pad), "%*s", tree_secs[s].indent, "");
		for (size_t i = 0; i < N_SLOTS; i++) {
			if (slots[i].sec != s || slots[i].key == NULL || !slot_present(&vals[i]))
				continue;
			out_str(o, pad);
			out_str(o, slots[i].key);
			out_str(o, ": ");
			if (vals[i].is_raw) {
				out_quoted(o, vals[i].raw, vals[i].raw_len);
			} else {
				invalid |= vals[i].v[0] == '!';
				out_str(o, vals[i].v + (vals[i].v[0] == '!'));
			}
			out_str(o, "\n");
		}
	}
	return invalid;
}

#endif
