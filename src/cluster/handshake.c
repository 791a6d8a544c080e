/*
 * What each connection says first. Commands: AUTH (with a password),
 * SELECT (a database other than 0), CLIENT SETNAME, and SCRIPT LOAD of every
 * script; then it is ready and this node registers, writes its quota
 * contributions back and sends its revocation outbox. Pub/sub: AUTH,
 * CLIENT SETNAME, SUBSCRIBE to the revocations and this instance's ping
 * channel; ready once both are confirmed. Any refusal drops the connection
 * with the reason, which the one "unreachable" log line shows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cluster_int.h"

static void
on_setname(void *arg, const redisReply *r, int err)
{
	(void)arg;
	(void)r;
	(void)err; /* only a label for CLIENT LIST; a refusal changes nothing */
}

/* Name the connection "icestation-<node-id>-<role>" so CLIENT LIST shows whose it is. */
static void
set_client_name(struct cl_conn *conn, const char *role)
{
	char name[ICE_CLUSTER_ID_MAX + 32];
	const char *argv[3] = { "CLIENT", "SETNAME", name };

	snprintf(name, sizeof(name), "icestation-%s-%s", conn->c->s.node_id, role);
	cl_conn_send(conn, conn->c->s.command_timeout_ms, on_setname, NULL, 3, argv,
	             (const size_t[]){ 6, 7, strlen(name) });
}

/* --- command connection: AUTH, SELECT, SCRIPT LOAD --- */

static void
cmd_scripts_loaded(struct ice_cluster *c, bool ok)
{
	if (c->cmd.state != CL_HANDSHAKE)
		return;
	if (!ok) {
		cl_conn_drop(&c->cmd, "SCRIPT LOAD failed (is this Redis 7 or Valkey?)");
		return;
	}
	cl_conn_set_ready(&c->cmd);
	cl_registry_cmd_state(c, true);
	cl_quota_resync(c);
	cl_revoke_flush(c);
	cl_update_up(c, NULL);
}

/* A handshake reply: "+OK" goes on, anything else drops with the reason. */
static bool
handshake_ok(struct cl_conn *conn, const redisReply *r, int err, const char *what)
{
	if (err != 0 || r == NULL) {
		cl_conn_drop(conn, "%s: %s", what, err == -ETIMEDOUT ? "timed out" : "no reply");
		return false;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		cl_count(conn->c, ICE_M_CLUSTER_ERR_REPLY);
		cl_conn_drop(conn, "%s refused: %.*s", what, (int)ICE_MIN(r->len, (size_t)100),
		             r->str);
		return false;
	}
	return true;
}

static void cmd_handshake_step(struct cl_conn *conn, int step);

static void
on_cmd_auth(void *arg, const redisReply *r, int err)
{
	struct cl_conn *conn = arg;

	if (handshake_ok(conn, r, err, "AUTH"))
		cmd_handshake_step(conn, 1);
}

static void
on_cmd_select(void *arg, const redisReply *r, int err)
{
	struct cl_conn *conn = arg;

	if (handshake_ok(conn, r, err, "SELECT"))
		cmd_handshake_step(conn, 2);
}

/* Send AUTH (step 0), SELECT (1), then the scripts (2); skip what is not needed. */
static void
cmd_handshake_step(struct cl_conn *conn, int step)
{
	struct ice_cluster *c = conn->c;
	const char *argv[2];
	size_t lens[2];
	char db[16];
	int rc = 0;

	if (step == 0 && c->s.redis_password != NULL) {
		argv[0] = "AUTH", argv[1] = c->s.redis_password;
		lens[0] = 4, lens[1] = strlen(c->s.redis_password);
		rc = cl_conn_send(conn, c->s.command_timeout_ms, on_cmd_auth, conn, 2, argv, lens);
	} else if (step <= 1 && c->s.redis_db != 0) {
		snprintf(db, sizeof(db), "%u", c->s.redis_db);
		argv[0] = "SELECT", argv[1] = db;
		lens[0] = 6, lens[1] = strlen(db);
		rc = cl_conn_send(conn, c->s.command_timeout_ms, on_cmd_select, conn, 2, argv,
		                  lens);
	} else {
		set_client_name(conn, "cmd");
		rc = cl_scripts_load(c, cmd_scripts_loaded);
	}
	if (rc != 0)
		cl_conn_drop(conn, "handshake: %s", strerror(-rc));
}

void
cl_handshake_cmd(struct cl_conn *conn)
{
	cmd_handshake_step(conn, 0);
}

/* --- pub/sub connection: AUTH, SUBSCRIBE --- */

static void
on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct ice_cluster *c = privdata;
	const redisReply *r = reply;
	char ping[128];

	(void)ac;
	if (r == NULL || c->sub.closing || c->sub.dropping)
		return;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		cl_count(c, ICE_M_CLUSTER_ERR_BAD_DATA);
		return;
	}
	snprintf(ping, sizeof(ping), "%sping:%s", c->s.key_prefix, c->instance_hex);
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		/* Both channels confirmed: the count of subscriptions is the third element. */
		if (r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer == 2 &&
		    c->sub.state == CL_HANDSHAKE) {
			cl_conn_set_ready(&c->sub);
			c->sub_seen = cl_now_ms();
			cl_update_up(c, NULL);
		}
		return;
	}
	if (strcmp(r->element[0]->str, "message") != 0)
		return;
	if (strcmp(r->element[1]->str, ping) == 0)
		c->sub_seen = cl_now_ms();
	else
		cl_revoke_on_message(c, r->element[2]);
}

static void
sub_subscribe(struct cl_conn *conn)
{
	struct ice_cluster *c = conn->c;
	char rv[128], ping[128];

	set_client_name(conn, "sub");
	cl_key(c, "revocations", rv, sizeof(rv));
	snprintf(ping, sizeof(ping), "%sping:%s", c->s.key_prefix, c->instance_hex);
	if (redisAsyncCommand(conn->ac, on_sub_reply, c, "SUBSCRIBE %s %s", rv, ping) != REDIS_OK)
		cl_conn_drop(conn, "SUBSCRIBE could not be sent");
}

static void
on_sub_auth(void *arg, const redisReply *r, int err)
{
	struct cl_conn *conn = arg;

	if (handshake_ok(conn, r, err, "AUTH"))
		sub_subscribe(conn);
}

void
cl_handshake_sub(struct cl_conn *conn)
{
	struct ice_cluster *c = conn->c;
	const char *argv[2] = { "AUTH", c->s.redis_password };
	size_t lens[2] = { 4, 0 };

	if (c->s.redis_password == NULL) {
		sub_subscribe(conn);
		return;
	}
	lens[1] = strlen(c->s.redis_password);
	if (cl_conn_send(conn, c->s.command_timeout_ms, on_sub_auth, conn, 2, argv, lens) != 0)
		cl_conn_drop(conn, "AUTH could not be sent");
}
