/*
 * icestationctl: the admin API from the command line. A readable table by
 * default, the API's JSON with --json. Exit codes: 0 done, 1 refused by the
 * daemon (not found, invalid configuration, a failed self-test, ...), 2
 * usage, 3 no daemon answers, 4 not authorized.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl_http.h"

#define DEFAULT_SOCKET "/run/icestation/admin.sock"

enum {
	EXIT_OK = 0,
	EXIT_REFUSED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_UNAUTHORIZED = 4,
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	        "usage: icestationctl [-s SOCKET | --url URL [--token TOKEN]] [--json] COMMAND\n"
	        "\n"
	        "commands:\n"
	        "  status                      the daemon and its sub-servers\n"
	        "  allocations [--user USER]   live allocations (of one user)\n"
	        "  kill ID                     close one allocation\n"
	        "  revoke USER [--until T]     refuse USER's credentials and close its "
	        "allocations\n"
	        "                              (T: unix time the ICE API may mint again)\n"
	        "  unrevoke USER               lift a revocation\n"
	        "  revocations                 the revoked users\n"
	        "  reload                      reload the configuration\n"
	        "  drain                       refuse new allocations, exit when none is left\n"
	        "  cluster                     the cluster's nodes, their load and state\n"
	        "  selftest                    relay through the daemon itself and check its "
	        "setup\n"
	        "                              (exit 1 when a step or a check fails)\n"
	        "\n"
	        "  -s, --socket PATH  admin unix socket (default " DEFAULT_SOCKET ",\n"
	        "                     or $ICESTATION_ADMIN_SOCKET)\n"
	        "      --url URL      admin API over TCP, http://host:port\n"
	        "      --token TOKEN  bearer token for --url (or $ICESTATION_ADMIN_TOKEN)\n"
	        "      --json         print the API's JSON\n"
	        "  -h, --help         print this help\n"
	        "\n"
	        "exit: 0 done, 1 refused, 2 usage, 3 no daemon answers, 4 not authorized\n");
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static double
num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void
join_strings(const cJSON *arr, char *out, size_t cap)
{
	const cJSON *e;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(e, arr)
	{
		if (cJSON_IsString(e) && n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? " " : "",
			                      e->valuestring);
	}
}

static void
print_status(const cJSON *o)
{
	const cJSON *s;
	char buf[512];

	printf("%-14s %s\n", "name", str_of(o, "name"));
	printf("%-14s %s\n", "version", str_of(o, "version"));
	printf("%-14s %s\n", "status", str_of(o, "status"));
	printf("%-14s %.0f s\n", "uptime", num_of(o, "uptime_s"));
	printf("%-14s %.0f\n", "generation", num_of(o, "generation"));
	printf("%-14s %.0f\n", "workers", num_of(o, "workers"));
	printf("%-14s %.0f\n", "allocations", num_of(o, "allocations"));
	printf("%-14s %.0f tcp, %.0f tls\n", "connections", num_of(o, "tcp_connections"),
	       num_of(o, "tls_connections"));
	printf("%-14s %.0f\n", "revocations", num_of(o, "revocations"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(o, "subservers"))
	{
		join_strings(cJSON_GetObjectItemCaseSensitive(s, "listen"), buf, sizeof(buf));
		printf("%-5s %-9s listen %s, public %s, %s%s%s\n", str_of(s, "name"),
		       str_of(s, "status"), buf, str_of(s, "public_addr"), str_of(s, "protocol"),
		       *str_of(s, "realm") ? ", realm " : "", str_of(s, "realm"));
	}
}

static void
print_allocations(const cJSON *o)
{
	const cJSON *a, *tp, *tc;
	char relayed[256];

	printf("%-16s %-24s %-4s %-22s %-22s %5s %5s %12s %12s\n", "ID", "USER", "PROT", "CLIENT",
	       "RELAYED", "PERMS", "CHANS", "TO_PEER", "TO_CLIENT");
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "allocations"))
	{
		tp = cJSON_GetObjectItemCaseSensitive(a, "to_peer");
		tc = cJSON_GetObjectItemCaseSensitive(a, "to_client");
		join_strings(cJSON_GetObjectItemCaseSensitive(a, "relayed"), relayed,
		             sizeof(relayed));
		printf("%-16s %-24s %-4s %-22s %-22s %5.0f %5.0f %11.0fB %11.0fB\n",
		       str_of(a, "id"), str_of(a, "user"), str_of(a, "transport"),
		       str_of(a, "client"), relayed, num_of(a, "permissions"),
		       num_of(a, "channels"), num_of(tp, "bytes"), num_of(tc, "bytes"));
	}
	printf("%.0f allocation(s)%s\n", num_of(o, "total"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "truncated")) ? " (list cut)" : "");
}

static void
print_revocations(const cJSON *o)
{
	const cJSON *e;

	printf("%-40s %-12s %s\n", "USER", "REVOKED_AT", "UNTIL");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "revocations"))
	{
		double until = num_of(e, "until");

		printf("%-40s %-12.0f ", str_of(e, "user"), num_of(e, "revoked_at"));
		if (until > 0)
			printf("%.0f\n", until);
		else
			printf("lifted by hand\n");
	}
}

static const char *
step_result(const cJSON *step)
{
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(step, "skipped")))
		return "skipped";
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(step, "ok")) ? "ok" : "FAIL";
}

/* The self-test's steps and checks as two tables, then the verdict. */
static void
print_selftest(const cJSON *o)
{
	const cJSON *e, *target = cJSON_GetObjectItemCaseSensitive(o, "target");

	printf("%-12s %-5s %-7s %8s  %s\n", "STEP", "PROTO", "RESULT", "MS", "DETAIL");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "steps"))
	{
		printf("%-12s %-5s %-7s %8.2f  %s\n", str_of(e, "name"),
		       *str_of(e, "transport") ? str_of(e, "transport") : "-", step_result(e),
		       num_of(e, "ms"), str_of(e, "detail"));
	}
	printf("\n%-20s %-7s %s\n", "CHECK", "STATUS", "DETAIL");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(o, "checks"))
	{
		const char *st = str_of(e, "status");

		printf("%-20s %-7s %s\n", str_of(e, "name"), strcmp(st, "fail") == 0 ? "FAIL" : st,
		       str_of(e, "detail"));
	}
	if (*str_of(target, "note"))
		printf("\nnote: %s\n", str_of(target, "note"));
	printf("\nself-test %s in %.0f ms\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? "passed" : "FAILED",
	       num_of(o, "ms"));
}

/* One line for the answers that only say what happened. */
static void
print_done(const cJSON *o)
{
	const char *st = str_of(o, "status");
	const char *user = str_of(o, "user");
	const char *id = str_of(o, "id");

	if (*user)
		printf("%s %s\n", st, user);
	else if (*id)
		printf("%s %s\n", st, id);
	else if (cJSON_GetObjectItemCaseSensitive(o, "generation") != NULL)
		printf("%s: generation %.0f\n", st, num_of(o, "generation"));
	else
		printf("%s\n", st);
}

static void
print_cluster(const cJSON *o)
{
	const cJSON *n;

	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "enabled"))) {
		printf("no cluster configured\n");
		return;
	}
	printf("redis %s, node %s, %.0f pending, %.0f revocations waiting\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "redis_up")) ? "up" : "DOWN",
	       str_of(o, "node_id"), num_of(o, "pending"), num_of(o, "outbox"));
	printf("%-24s %-9s %8s %8s %12s %12s %s\n", "NODE", "STATE", "ALLOCS", "MAX", "TO_PEER",
	       "TO_CLIENT", "VERSION");
	cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(o, "nodes"))
	{
		printf("%-24s %-9s %8.0f %8.0f %10.0f/s %10.0f/s %s%s\n", str_of(n, "id"),
		       str_of(n, "state"), num_of(n, "allocations"), num_of(n, "max_allocations"),
		       num_of(n, "to_peer_bps"), num_of(n, "to_client_bps"), str_of(n, "version"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "self")) ? " (this node)"
		                                                                 : "");
	}
}

struct cmd {
	const char *name;
	const char *method;
	int args; /* positional arguments after the command */
	void (*print)(const cJSON *o);
};

static const struct cmd cmds[] = {
	{ "status", "GET", 0, print_status },    { "allocations", "GET", 0, print_allocations },
	{ "kill", "DELETE", 1, print_done },     { "revoke", "POST", 1, print_done },
	{ "unrevoke", "DELETE", 1, print_done }, { "revocations", "GET", 0, print_revocations },
	{ "reload", "POST", 0, print_done },     { "drain", "POST", 0, print_done },
	{ "cluster", "GET", 0, print_cluster },  { "selftest", "GET", 0, print_selftest },
};

/* The request path of c with its argument and options. */
static int
build_path(const struct cmd *c, const char *arg, const char *user, const char *until, char *path,
           size_t cap)
{
	char enc[1024];

	if (strcmp(c->name, "allocations") == 0) {
		ctl_pct_encode(user ? user : "", enc, sizeof(enc));
		return snprintf(path, cap, "/admin/v1/allocations%s%s", user ? "?user=" : "", enc);
	}
	if (strcmp(c->name, "kill") == 0) {
		ctl_pct_encode(arg, enc, sizeof(enc));
		return snprintf(path, cap, "/admin/v1/allocations/%s", enc);
	}
	if (strcmp(c->name, "revoke") == 0 || strcmp(c->name, "unrevoke") == 0) {
		ctl_pct_encode(arg, enc, sizeof(enc));
		return snprintf(path, cap, "/admin/v1/users/%s/revoke%s%s", enc,
		                until ? "?until=" : "", until ? until : "");
	}
	return snprintf(path, cap, "/admin/v1/%s", c->name);
}

static int
run(const struct ctl_target *t, const struct cmd *c, const char *path, bool json)
{
	struct ctl_reply r;
	bool failed;
	cJSON *o;
	int rc = ctl_request(t, c->method, path, &r);

	if (rc < 0) {
		fprintf(stderr, "icestationctl: cannot reach the admin API at %s: %s\n",
		        t->unix_path ? t->unix_path : t->url, strerror(-rc));
		return EXIT_UNREACHABLE;
	}
	o = cJSON_Parse(r.body);
	if (json || o == NULL) {
		fputs(r.body, r.status < 400 ? stdout : stderr);
	} else if (r.status < 400) {
		c->print(o);
	} else {
		fprintf(stderr, "icestationctl: %s (HTTP %d): %s\n", str_of(o, "error"), r.status,
		        str_of(o, "detail"));
	}
	/* An answer that says "ok": false (the self-test's) is a failure too. */
	failed = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "ok"));
	cJSON_Delete(o);
	free(r.body);
	if (r.status == 401)
		return EXIT_UNAUTHORIZED;
	return r.status < 400 && !failed ? EXIT_OK : EXIT_REFUSED;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "url", required_argument, NULL, 'u' },
		{ "token", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'U' },
		{ "until", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target t = { .timeout_s = 30 };
	const char *user = NULL, *until = NULL, *env;
	const struct cmd *c = NULL;
	char path[2048];
	bool json = false;
	int o;

	t.unix_path = (env = getenv("ICESTATION_ADMIN_SOCKET")) ? env : DEFAULT_SOCKET;
	t.token = getenv("ICESTATION_ADMIN_TOKEN");
	/* Options may come before or after the command and its argument. */
	while ((o = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			t.unix_path = optarg;
			break;
		case 'u':
			t.url = optarg;
			break;
		case 't':
			t.token = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'U':
			user = optarg;
			break;
		case 'T':
			until = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (t.url != NULL)
		t.unix_path = NULL;
	for (size_t i = 0; optind < argc && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[optind], cmds[i].name) == 0)
			c = &cmds[i];
	if (c == NULL || argc - optind - 1 != c->args ||
	    (user != NULL && strcmp(c->name, "allocations") != 0) ||
	    (until != NULL && strcmp(c->name, "revoke") != 0)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	optind++;
	if (until != NULL && strspn(until, "0123456789") != strlen(until)) {
		fprintf(stderr, "icestationctl: --until takes a unix time in seconds\n");
		return EXIT_USAGE;
	}
	if (build_path(c, c->args ? argv[optind] : NULL, user, until, path, sizeof(path)) >=
	    (int)sizeof(path)) {
		fprintf(stderr, "icestationctl: argument too long\n");
		return EXIT_USAGE;
	}
	return run(&t, c, path, json);
}
