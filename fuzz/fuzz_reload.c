/*
 * libFuzzer target for reload sequences (issue 16): configuration trees,
 * valid and invalid, applied in turn the way src/main/reload.c applies
 * them. The first tree that loads is the snapshot the daemon started with;
 * each later one is loaded (ice_config_load_buffer: parse, schema,
 * cross-key checks), and if it loads, ice_config_reload_keep decides what
 * it keeps of the snapshot in force and the result is put in force, as the
 * daemon does; then the workers' generation is built from it (net_gen_new,
 * against a net that "started" with the first snapshot).
 *
 * Input (fuzz_in.h; zeros once it runs out): [steps] then per step either
 *   k < 0x80:  k % 16 edits of the tree before, each [slot][value]: one of
 *              the slot's values in fuzz_reload_tree.h (valid, invalid,
 *              absent) or [len] bytes of the input's as a quoted string;
 *   k >= 0x80: [len:u16] bytes of the input's as the whole tree.
 *
 * Properties:
 *   - a tree holding a value that is invalid anywhere never loads, so it
 *     never replaces the snapshot in force;
 *   - a tree that loads is taken: the snapshot in force becomes it, with
 *     the next generation number;
 *   - restart-only keys (docs/operations.md, "Reload") keep the values of
 *     the snapshot in force, so the first snapshot's, however many reloads
 *     pass; every other key has the new tree's value; compared line by
 *     line on ice_config_print's output, so a key no rule names is checked
 *     as live;
 *   - what a kept switch needs stays with it: a section whose on/off
 *     (TURN, STUN, the admin API's listener, TURN's TLS, HTTPS) the new
 *     tree changes keeps its running settings whole, and the snapshot in
 *     force always passes the loader's cross-key rules (TURN on has a
 *     realm and a secret, TLS on has a certificate and key, an admin API
 *     on TCP has bearer tokens, ...);
 *   - the keys reported as needing a restart are exactly those that
 *     changed (the cluster's, and the password file's content, which the
 *     printout does not show, may be reported without being seen), and
 *     ICE_CONFIG_RESTART_LEN holds them all;
 *   - the generation is built from the snapshot in force (its live
 *     settings), and its restart-only parts, taken from the net as
 *     started, agree with what the snapshot says;
 *   - nothing leaks (LeakSanitizer), nothing reads or writes out of bounds.
 *
 * Not covered (they need the daemon's event loop, sockets or threads):
 * src/main/reload.c itself (logging, metrics, sd_notify), loading the TLS
 * pairs (certwatch), the host watch, posting the generation to the
 * workers' mailboxes and the workers' swap, the HTTP and admin APIs'
 * reconfigure, the cluster's; tests/live runs those on the real daemon.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "../src/config/config_buffer.h"
#include "../src/net/net_internal.h"
#include "fuzz_in.h"
#include "fuzz_prop.h"
#include "fuzz_reload_tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MAX_STEPS = 8,
	RAW_TREE_MAX = 4096,
	RAW_VALUE_MAX = 64,
	FLAT_MAX = 256,
	PRINT_MAX = 16384,
	NAMES_MAX = 64,
};

#define SRV "peers.node.server."

/* ice_config_print's output as sorted (path, value) pairs. */
struct flat {
	char text[PRINT_MAX];
	char paths[PRINT_MAX];
	struct kv {
		const char *path, *value;
	} kv[FLAT_MAX];
	size_t n;
};

static struct flat flat_b, flat_f, flat_a; /* before, fresh, after */

/*
 * The oracle's own string work is neither instrumented nor done by libc's
 * strcmp, which libFuzzer hooks: it is not the code under test, and with
 * both it took three quarters of the target's time.
 */
#define ORACLE __attribute__((no_sanitize("coverage")))

ORACLE static int
scmp(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

ORACLE static bool
prefixed(const char *s, const char *prefix)
{
	while (*prefix != '\0' && *s == *prefix) {
		s++;
		prefix++;
	}
	return *prefix == '\0';
}

ORACLE static int
kv_cmp(const void *a, const void *b)
{
	return scmp(((const struct kv *)a)->path, ((const struct kv *)b)->path);
}

/* Lines "<indent>key: value" or "<indent>key:" (a section), indented by 2
 * a level; comments (the public-ip notes) cut. */
static void
flat_of(const struct ice_config *cfg, struct flat *f)
{
	const char *stack[16];
	size_t used = 0, len;
	char *line, *next;
	FILE *fp = fmemopen(f->text, sizeof(f->text), "w");

	PROP(fp != NULL);
	PROP(ice_config_print(cfg, fp) == 0);
	len = (size_t)ftell(fp);
	fclose(fp);
	PROP(len < sizeof(f->text) - 1);
	f->text[len] = '\0';
	f->n = 0;
	for (line = f->text; *line != '\0'; line = next) {
		size_t ind = strspn(line, " "), depth = ind / 2;
		char *colon, *hash;
		int n;

		next = strchr(line, '\n');
		PROP(next != NULL);
		*next++ = '\0';
		if (line[ind] == '#')
			continue;
		colon = strchr(line + ind, ':');
		PROP(colon != NULL && ind % 2 == 0 && depth < 16 && f->n < FLAT_MAX);
		*colon = '\0';
		stack[depth] = line + ind;
		n = 0;
		f->kv[f->n].path = f->paths + used;
		for (size_t d = 0; d <= depth; d++) {
			n = snprintf(f->paths + used, sizeof(f->paths) - used, "%s%s", d ? "." : "",
			             stack[d]);
			PROP(n > 0 && used + (size_t)n < sizeof(f->paths));
			used += (size_t)n;
		}
		used++;
		f->kv[f->n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
		if (scmp(stack[depth], "public-ip") == 0 &&
		    (hash = strstr(colon + 1, " # ")) != NULL)
			*hash = '\0';
		f->n++;
	}
	qsort(f->kv, f->n, sizeof(f->kv[0]), kv_cmp);
	for (size_t i = 1; i < f->n; i++)
		PROP(scmp(f->kv[i - 1].path, f->kv[i].path) != 0);
}

/* The value at path, NULL when the printout has no such line. */
ORACLE static const char *
flat_get(const struct flat *f, const char *path)
{
	struct kv key = { .path = path }, *hit;

	hit = bsearch(&key, f->kv, f->n, sizeof(f->kv[0]), kv_cmp);
	return hit != NULL ? hit->value : NULL;
}

ORACLE static bool
same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && scmp(a, b) == 0;
}

/* The restart-only keys as printed, with the name the reload reports
 * (NULL: the path without SRV; "": a section header, named elsewhere). */
static const struct {
	const char *path, *name;
} restart_only[] = {
	{ SRV "workers", NULL },
	{ SRV "http.enabled", NULL },
	{ SRV "http.listen", NULL },
	{ SRV "http.max-connections", NULL },
	{ SRV "http.tls", "http.tls (on/off)" },
	{ SRV "admin.enabled", NULL },
	{ SRV "admin.listen", NULL },
	{ SRV "admin.max-connections", NULL },
	{ SRV "subserver.stun.enabled", NULL },
	{ SRV "subserver.stun.port", NULL },
	{ SRV "subserver.stun.transports", NULL },
	{ SRV "subserver.stun.listen", NULL },
	{ SRV "subserver.turn.enabled", NULL },
	{ SRV "subserver.turn.port", NULL },
	{ SRV "subserver.turn.transports", NULL },
	{ SRV "subserver.turn.listen", NULL },
	{ SRV "subserver.turn.relay-ip-range", NULL },
	{ SRV "subserver.turn.userhash", NULL },
	{ SRV "subserver.turn.userhash-table-size", NULL },
	{ SRV "subserver.turn.tls.port", NULL },
	{ SRV "cluster", "cluster.enabled" },
	{ SRV "cluster.enabled", NULL },
	{ SRV "cluster.redis", NULL },
	{ SRV "cluster.redis-password-file", NULL },
	{ SRV "cluster.key-prefix", NULL },
	{ SRV "cluster.node-id", NULL },
	{ SRV "cluster.heartbeat", NULL },
	{ SRV "cluster.node-ttl", NULL },
	{ SRV "cluster.quota-timeout", NULL },
	{ SRV "cluster.ice-api", "" },
	{ SRV "cluster.ice-api.nodes", NULL },
	{ SRV "cluster.ice-api.strategy", NULL },
};

#define N_RESTART_ONLY (sizeof(restart_only) / sizeof(restart_only[0]))

ORACLE static bool
is_restart_only(const char *path)
{
	for (size_t i = 0; i < N_RESTART_ONLY; i++)
		if (scmp(path, restart_only[i].path) == 0)
			return true;
	return false;
}

ORACLE static bool
turn_tls_on(const struct flat *f)
{
	const char *t = flat_get(f, SRV "subserver.turn.transports");

	return same(flat_get(f, SRV "subserver.turn.enabled"), "true") && t != NULL &&
	       strstr(t, "tls") != NULL;
}

/* The switches the new tree (f) flips against the snapshot in force (b). */
struct flips {
	bool turn, stun, admin, turn_tls, https;
};

ORACLE static void
flips_of(struct flips *fl, const struct flat *b, const struct flat *f)
{
#define FLIPS(path) (!same(flat_get(b, SRV path), flat_get(f, SRV path)))
	fl->turn = FLIPS("subserver.turn.enabled");
	fl->stun = FLIPS("subserver.stun.enabled");
	fl->admin = FLIPS("admin.enabled") || FLIPS("admin.listen");
	fl->turn_tls = turn_tls_on(b) != turn_tls_on(f);
	fl->https = (flat_get(b, SRV "http.tls") == NULL) != (flat_get(f, SRV "http.tls") == NULL);
#undef FLIPS
}

/* Whether path belongs to a section the new tree switched on or off. */
ORACLE static bool
flipped(const struct flips *fl, const char *path)
{
	return (fl->turn && prefixed(path, SRV "subserver.turn.")) ||
	       (fl->stun && prefixed(path, SRV "subserver.stun.")) ||
	       (fl->admin && prefixed(path, SRV "admin.")) ||
	       (fl->https && prefixed(path, SRV "http.tls")) ||
	       (fl->turn_tls && (scmp(path, SRV "subserver.turn.tls.cert") == 0 ||
	                         scmp(path, SRV "subserver.turn.tls.key") == 0 ||
	                         scmp(path, SRV "subserver.turn.tls.server-name") == 0));
}

/* One line of the snapshot now in force: the running value if restart
 * only or in a section switched on or off, else the new tree's. */
ORACLE static void
check_path(const struct flips *fl, const char *path)
{
	const char *want, *got = flat_get(&flat_a, path);

	if (is_restart_only(path) || flipped(fl, path))
		want = flat_get(&flat_b, path);
	else
		want = flat_get(&flat_f, path);
	if (!same(want, got))
		fprintf(stderr, "%s: in force \"%s\", expected \"%s\"\n", path,
		        got ? got : "(none)", want ? want : "(none)");
	PROP(same(want, got));
}

/* Every path of the three printouts, once (they are sorted). */
ORACLE static void
check_values(void)
{
	const struct flat *all[3] = { &flat_b, &flat_f, &flat_a };
	size_t at[3] = { 0, 0, 0 };
	struct flips fl;

	flips_of(&fl, &flat_b, &flat_f);
	for (;;) {
		const char *low = NULL;

		for (size_t k = 0; k < 3; k++)
			if (at[k] < all[k]->n &&
			    (low == NULL || scmp(all[k]->kv[at[k]].path, low) < 0))
				low = all[k]->kv[at[k]].path;
		if (low == NULL)
			return;
		check_path(&fl, low);
		for (size_t k = 0; k < 3; k++)
			if (at[k] < all[k]->n && scmp(all[k]->kv[at[k]].path, low) == 0)
				at[k]++;
	}
}

/* The reported names are those of the restart-only keys that changed. */
ORACLE static void
check_report(const char *changed, int n)
{
	const char *names[NAMES_MAX];
	bool cluster_seen = flat_get(&flat_b, SRV "cluster") != NULL &&
	                    flat_get(&flat_f, SRV "cluster") != NULL;
	char name_buf[ICE_CONFIG_RESTART_LEN];
	size_t n_names = 0;

	PROP(strlen(changed) < sizeof(name_buf));
	memcpy(name_buf, changed, strlen(changed) + 1);
	for (char *s = name_buf; *s != '\0' && n_names < NAMES_MAX;) {
		char *sep = strstr(s, ", ");

		names[n_names++] = s;
		if (sep == NULL)
			break;
		*sep = '\0';
		s = sep + 2;
	}
	PROP((int)n_names == n); /* none left out of ICE_CONFIG_RESTART_LEN */
	/* Every key seen to change is named... */
	for (size_t i = 0; i < N_RESTART_ONLY; i++) {
		const char *path = restart_only[i].path;
		const char *name = restart_only[i].name ? restart_only[i].name : path + strlen(SRV);
		bool found = false;

		if (name[0] == '\0' || same(flat_get(&flat_b, path), flat_get(&flat_f, path)))
			continue;
		if (prefixed(path, SRV "cluster") && !cluster_seen)
			continue;
		for (size_t k = 0; k < n_names && !found; k++)
			found = scmp(names[k], name) == 0;
		if (!found)
			fprintf(stderr, "%s changed but is not reported: \"%s\"\n", name, changed);
		PROP(found);
	}
	if (turn_tls_on(&flat_b) != turn_tls_on(&flat_f))
		PROP(strstr(changed, "subserver.turn.tls (on/off)") != NULL);
	/* ...and every name reported is of a key that changed. */
	for (size_t k = 0; k < n_names; k++) {
		bool seen = false;

		if (scmp(names[k], "subserver.turn.tls (on/off)") == 0) {
			seen = turn_tls_on(&flat_b) != turn_tls_on(&flat_f);
		} else if (scmp(names[k], "cluster.redis-password-file (its content)") == 0 ||
		           (prefixed(names[k], "cluster.") && !cluster_seen)) {
			seen = true; /* not in the printout */
		}
		for (size_t i = 0; i < N_RESTART_ONLY && !seen; i++) {
			const char *path = restart_only[i].path;
			const char *name =
				restart_only[i].name ? restart_only[i].name : path + strlen(SRV);

			seen = scmp(names[k], name) == 0 &&
			       !same(flat_get(&flat_b, path), flat_get(&flat_f, path));
		}
		if (!seen)
			fprintf(stderr, "%s reported but not changed\n", names[k]);
		PROP(seen);
	}
}

/* The loader's cross-key rules (cfg_finish.c, cfg_tls.c, cfg_admin.c,
 * cfg_cluster.c), on the snapshot in force after a reload. */
static void
check_coherent(const struct ice_config *c)
{
	const struct ice_config_turn *t = &c->turn;

	PROP(c->stun.enabled || t->enabled);
	if (t->enabled) {
		PROP(t->realm != NULL && t->n_auth_secrets >= 1 && t->auth_secrets[0] != NULL);
		PROP(t->transports != 0 && t->n_relay_ip_range >= 1);
		PROP(t->max_allocations_per_user <= t->max_allocations);
		PROP(t->public_ip.source == ICE_PUBLIC_IP_AUTO || t->public_ip.addr.family != 0);
		PROP(t->tls.enabled == ((t->transports & ICE_TRANSPORT_TLS) != 0));
		PROP(!t->tls.enabled || (t->tls.cert != NULL && t->tls.key != NULL));
	}
	if (c->stun.enabled) {
		PROP(c->stun.transports != 0);
		PROP(c->stun.public_ip.source == ICE_PUBLIC_IP_AUTO ||
		     c->stun.public_ip.addr.family != 0);
	}
	PROP(!c->http.tls_enabled || (c->http.tls_cert != NULL && c->http.tls_key != NULL));
	if (c->admin.enabled) {
		PROP(c->admin.unix_path != NULL || c->admin.listen.family != 0);
		PROP(c->admin.listen.family == 0 || c->admin.n_bearer_tokens >= 1);
	}
	if (c->cluster.enabled) {
		PROP(c->cluster.redis_host != NULL || c->cluster.redis_unix != NULL);
		PROP(c->cluster.node_id != NULL && c->cluster.key_prefix != NULL);
		PROP(c->cluster.node_ttl_ms >= 2 * c->cluster.heartbeat_ms);
	}
}

/*
 * The workers' generation for cur, on a net that started with boot: live
 * settings from cur, restart-only ones from boot, and the two agree.
 */
static void
check_generation(struct ice_net *net, const struct ice_config *boot, struct ice_config *cur)
{
	const struct ice_config_turn *t = &cur->turn;
	struct net_gen *g = net_gen_new(net, cur, NULL, false);
	const struct turn_settings *s;
	const struct ice_addr *v4;

	PROP(g != NULL);
	s = &g->turn;
	PROP(g->cfg == cur && !g->draining);
	PROP(s->realm == t->realm && s->n_secrets == t->n_auth_secrets);
	PROP(s->max_allocations == t->max_allocations &&
	     s->allocation_lifetime_s == t->allocation_lifetime_s);
	PROP(s->relay_port_min == t->relay_port_min && s->relay_port_max == t->relay_port_max);
	PROP(s->denied_peer_ip == t->denied_peer_ip && s->n_denied_peer_ip == t->n_denied_peer_ip);
	PROP(s->workers == boot->workers && cur->workers == boot->workers);
	PROP(s->n_relay_ip_range == t->n_relay_ip_range &&
	     memcmp(s->relay_ip_range, t->relay_ip_range,
	            t->n_relay_ip_range * sizeof(t->relay_ip_range[0])) == 0);
	PROP(s->userhash_table_size == (t->userhash ? t->userhash_table_size : 0));
	PROP(s->cluster_quota ==
	     (cur->cluster.enabled &&
	      (t->max_allocations_per_user != 0 || t->allocations_per_minute_per_user != 0)));
	v4 = ice_public_ip_of(&t->public_ip, AF_INET);
	PROP(v4 == NULL ? s->public_v4.family == 0 : ice_addr_equal(&s->public_v4, v4));
	PROP(g->n_self <= TURN_POLICY_MAX_SELF);
	net_gen_unref(g);
}

static char scratch[] = "/tmp/icestation-fuzz-reload-XXXXXX";
static const char *const scratch_files[] = { "cert1.pem", "cert2.pem", "key.pem", "pw1", "pw2" };

static void
scratch_remove(void)
{
	char path[sizeof(scratch) + 16];

	for (size_t i = 0; i < sizeof(scratch_files) / sizeof(scratch_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", scratch, scratch_files[i]);
		unlink(path);
	}
	rmdir(scratch);
}

/* The scratch directory "@" stands for: files the trees name (removed at
 * exit; a crash leaves it behind). */
static const char *
scratch_dir(void)
{
	static bool made;
	char path[sizeof(scratch) + 16];

	if (made)
		return scratch;
	PROP(mkdtemp(scratch) != NULL);
	atexit(scratch_remove);
	for (size_t i = 0; i < sizeof(scratch_files) / sizeof(scratch_files[0]); i++) {
		const char *name = scratch_files[i];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", scratch, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		PROP(fd >= 0);
		PROP(write(fd, name, strlen(name)) > 0);
		close(fd);
	}
	made = true;
	return scratch;
}

static struct ice_config *
load(const char *yml, size_t len)
{
	static char err[4096];

	return ice_config_load_buffer("fuzz-reload.yml", yml, len, err, sizeof(err));
}

/* The next tree of the input into o; true if it holds an invalid value. */
static bool
next_tree(struct in *in, struct slot_val *vals, struct tree_out *o)
{
	uint8_t k = in_u8(in);
	const uint8_t *raw;
	size_t got;

	if (k & 0x80) {
		raw = in_bytes(in, in_u16(in) % RAW_TREE_MAX, &got);
		memcpy(o->buf, raw, got);
		o->buf[got] = '\0';
		o->len = got;
		return false;
	}
	for (unsigned e = 0; e < k % 16u; e++) {
		const struct slot *sl = &slots[in_u8(in) % N_SLOTS];
		struct slot_val *sv = &vals[sl - slots];
		size_t nv = slot_n_values(sl), pick = in_u8(in) % (nv + 2);

		memset(sv, 0, sizeof(*sv));
		if (pick < nv) {
			sv->v = sl->v[pick];
		} else if (pick == nv + 1) {
			sv->raw = in_bytes(in, in_u8(in) % RAW_VALUE_MAX, &sv->raw_len);
			sv->is_raw = true;
		}
	}
	return tree_write(o, vals);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char yml[TREE_MAX];
	static int quiet;
	struct slot_val vals[N_SLOTS];
	struct tree_out o = { .buf = yml, .dir = scratch_dir() };
	struct in in = { data, size };
	struct ice_config *boot, *cur, *next;
	struct ice_net net;
	char changed[ICE_CONFIG_RESTART_LEN];
	unsigned steps;
	bool invalid;
	int n;

	if (!quiet) {
		ice_log_set_level(ICE_LOG_ERROR);
		unsetenv("TURN_AUTH_SECRET");
		unsetenv("STATE_DIRECTORY");
		quiet = 1;
	}
	for (size_t i = 0; i < N_SLOTS; i++)
		vals[i] = (struct slot_val){ .v = slots[i].v[0] };
	steps = 2 + in_u8(&in) % (MAX_STEPS - 1);
	invalid = next_tree(&in, vals, &o);
	boot = load(o.buf, o.len);
	PROP(boot == NULL || !invalid);
	if (boot == NULL) { /* the daemon would not start: start on the base tree */
		for (size_t i = 0; i < N_SLOTS; i++)
			vals[i] = (struct slot_val){ .v = slots[i].v[0] };
		PROP(!tree_write(&o, vals));
		boot = load(o.buf, o.len);
		PROP(boot != NULL);
	}
	memset(&net, 0, sizeof(net));
	net.cfg = boot;
	cur = ice_config_ref(boot);
	for (unsigned i = 1; i < steps; i++) {
		uint64_t gen = cur->generation;

		invalid = next_tree(&in, vals, &o);
		next = load(o.buf, o.len);
		if (next == NULL)
			continue; /* the snapshot in force stays */
		PROP(!invalid);
		flat_of(cur, &flat_b);
		flat_of(next, &flat_f);
		n = ice_config_reload_keep(cur, next, changed, sizeof(changed));
		PROP(n >= 0);
		PROP(next->generation == gen + 1);
		ice_config_unref(cur);
		cur = next;
		flat_of(cur, &flat_a);
		check_values();
		check_report(changed, n);
		check_coherent(cur);
		check_generation(&net, boot, cur);
	}
	ice_config_unref(cur);
	ice_config_unref(boot);
	return 0;
}
