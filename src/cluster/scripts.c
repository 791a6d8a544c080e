/*
 * The Lua scripts: each one multi-key step that must be atomic (a quota
 * check and its increment; a record and its index) runs in Redis as one
 * script. They are loaded once per connection (SCRIPT LOAD) and called by
 * SHA-1 (EVALSHA), so an Allocate sends its user and counts, not the
 * script. Time inside a script is Redis's own (TIME): one clock for every
 * node, so no node's clock skew moves a quota window or a node's expiry.
 *
 * Keys are built inside the scripts from the prefix (ARGV[1]), which a
 * standalone Redis allows; Redis Cluster would refuse it (docs/cluster.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "icestation/log.h"

#include "cluster_int.h"

/*
 * ARGV: prefix id instance record ttl_ms max_nodes. Returns {previous
 * writer's instance or "", record, pttl, record, pttl, ...}.
 */
static const char heartbeat_lua[] =
	"local p, id, inst = ARGV[1], ARGV[2], ARGV[3]\n"
	"local ttl = tonumber(ARGV[5])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local old = redis.call('GET', p .. 'node:' .. id)\n"
	"local prev = old and string.match(old, '\"inst\":\"(%x+)\"') or ''\n"
	"redis.call('SET', p .. 'node:' .. id, ARGV[4], 'PX', ttl)\n"
	"redis.call('ZADD', p .. 'nodes', now + ttl, id)\n"
	"redis.call('ZADD', p .. 'live', now + ttl, inst)\n"
	"redis.call('ZREMRANGEBYSCORE', p .. 'nodes', '-inf', now)\n"
	"redis.call('ZREMRANGEBYSCORE', p .. 'live', '-inf', now - 3600000)\n"
	"redis.call('PUBLISH', p .. 'ping:' .. inst, '1')\n"
	"local ids = redis.call('ZRANGEBYSCORE', p .. 'nodes', '(' .. now, '+inf', 'LIMIT', 0,\n"
	"                       tonumber(ARGV[6]))\n"
	"local out = {prev}\n"
	"for _, n in ipairs(ids) do\n"
	"  local k = p .. 'node:' .. n\n"
	"  local r = redis.call('GET', k)\n"
	"  if r then\n"
	"    out[#out + 1] = r\n"
	"    out[#out + 1] = redis.call('PTTL', k)\n"
	"  end\n"
	"end\n"
	"return out\n";

/* ARGV: prefix id instance. */
static const char leave_lua[] = "local p = ARGV[1]\n"
				"redis.call('DEL', p .. 'node:' .. ARGV[2])\n"
				"redis.call('ZREM', p .. 'nodes', ARGV[2])\n"
				"redis.call('ZREM', p .. 'live', ARGV[3])\n"
				"return 1\n";

/*
 * ARGV: prefix user instance report max_user max_rate member key_ttl_s.
 * report is what this instance holds if admitted. Other instances count only
 * while their liveness (P live) has not expired, and a field of an instance
 * gone from P live altogether is deleted: a dead node's contributions stop
 * counting within node-ttl. Returns {0 ok | 1 over user | 2 over rate, count}.
 */
static const char acquire_lua[] =
	"local p, user, inst = ARGV[1], ARGV[2], ARGV[3]\n"
	"local report, maxu, maxr = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local qa = p .. 'qa:' .. user\n"
	"local others = 0\n"
	"if maxu > 0 then\n"
	"  local f = redis.call('HGETALL', qa)\n"
	"  for i = 1, #f, 2 do\n"
	"    if f[i] ~= inst then\n"
	"      local sc = redis.call('ZSCORE', p .. 'live', f[i])\n"
	"      if not sc then\n"
	"        redis.call('HDEL', qa, f[i])\n"
	"      elseif tonumber(sc) > now then\n"
	"        others = others + tonumber(f[i + 1])\n"
	"      end\n"
	"    end\n"
	"  end\n"
	"  if others + report > maxu then return {1, others} end\n"
	"end\n"
	"if maxr > 0 then\n"
	"  local qr = p .. 'qr:' .. user\n"
	"  redis.call('ZREMRANGEBYSCORE', qr, '-inf', now - 60000)\n"
	"  if redis.call('ZCARD', qr) >= maxr then return {2, others} end\n"
	"  redis.call('ZADD', qr, now, ARGV[7])\n"
	"  redis.call('PEXPIRE', qr, 60000)\n"
	"end\n"
	"if maxu > 0 then\n"
	"  redis.call('HSET', qa, inst, report)\n"
	"  redis.call('EXPIRE', qa, tonumber(ARGV[8]))\n"
	"end\n"
	"return {0, others + report}\n";

/* ARGV: prefix instance key_ttl_s user count. */
static const char qset_lua[] = "local k = ARGV[1] .. 'qa:' .. ARGV[4]\n"
			       "if tonumber(ARGV[5]) > 0 then\n"
			       "  redis.call('HSET', k, ARGV[2], ARGV[5])\n"
			       "  redis.call('EXPIRE', k, tonumber(ARGV[3]))\n"
			       "else\n"
			       "  redis.call('HDEL', k, ARGV[2])\n"
			       "end\n"
			       "return 1\n";

/*
 * ARGV: prefix user revoked_at until. Keeps the later of two revocations of
 * one user in P revoked (user -> "revoked_at until"), indexed by until in
 * P revoked:until so expired entries go in O(log n) per revocation, lets
 * both keys expire with their last entry, and publishes
 * "revoked_at until user".
 */
static const char revoke_lua[] =
	"local p, user = ARGV[1], ARGV[2]\n"
	"local h, z = p .. 'revoked', p .. 'revoked:until'\n"
	"local at, til = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
	"local now = tonumber(redis.call('TIME')[1])\n"
	"local old = redis.call('HGET', h, user)\n"
	"if old then\n"
	"  local oa, ou = string.match(old, '^(%d+) (%d+)$')\n"
	"  if oa then at = math.max(at, tonumber(oa)); til = math.max(til, tonumber(ou)) end\n"
	"end\n"
	"local v = string.format('%d %d', at, til)\n"
	"redis.call('HSET', h, user, v)\n"
	"redis.call('ZADD', z, til, user)\n"
	"for _, u in ipairs(redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 1000)) do\n"
	"  redis.call('HDEL', h, u)\n"
	"  redis.call('ZREM', z, u)\n"
	"end\n"
	"local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')[2]\n"
	"if last then\n"
	"  redis.call('EXPIREAT', h, last)\n"
	"  redis.call('EXPIREAT', z, last)\n"
	"else\n"
	"  redis.call('DEL', h, z)\n"
	"end\n"
	"redis.call('PUBLISH', p .. 'revocations', v .. ' ' .. user)\n"
	"return 1\n";

static const char *const texts[CL_SCRIPT_COUNT] = {
	[CL_SCRIPT_HEARTBEAT] = heartbeat_lua, [CL_SCRIPT_LEAVE] = leave_lua,
	[CL_SCRIPT_ACQUIRE] = acquire_lua,     [CL_SCRIPT_QSET] = qset_lua,
	[CL_SCRIPT_REVOKE] = revoke_lua,
};

enum {
	CL_SCRIPT_MAX_ARGS = 12,
};

int
cl_scripts_init(struct ice_cluster *c)
{
	uint8_t md[SHA_DIGEST_LENGTH];
	size_t i, j;

	for (i = 0; i < CL_SCRIPT_COUNT; i++) {
		if (SHA1((const uint8_t *)texts[i], strlen(texts[i]), md) == NULL)
			return -EIO;
		for (j = 0; j < SHA_DIGEST_LENGTH; j++)
			snprintf(&c->sha[i][2 * j], 3, "%02x", md[j]);
	}
	return 0;
}

static void
on_loaded(void *arg, const redisReply *r, int err)
{
	struct ice_cluster *c = arg;

	if (err != 0 || cl_reply_is_error(c, r) || r->type != REDIS_REPLY_STRING) {
		c->load_ok = false;
	} else {
		size_t i;
		bool known = false;

		for (i = 0; i < CL_SCRIPT_COUNT; i++)
			known |= r->len == 40 && memcmp(r->str, c->sha[i], 40) == 0;
		c->load_ok &= known;
	}
	if (--c->load_left == 0) {
		c->scripts_loading = false;
		if (!c->load_ok)
			log_debug("cluster: SCRIPT LOAD failed");
		if (c->load_done != NULL)
			c->load_done(c, c->load_ok);
	}
}

int
cl_scripts_load(struct ice_cluster *c, void (*done)(struct ice_cluster *c, bool ok))
{
	const char *argv[3] = { "SCRIPT", "LOAD", NULL };
	size_t lens[3] = { 6, 4, 0 };
	size_t i;
	int rc;

	if (c->scripts_loading)
		return -EBUSY;
	if (cl_conn_room(&c->cmd) < CL_SCRIPT_COUNT)
		return -ENOBUFS;
	c->scripts_loading = true;
	c->load_left = CL_SCRIPT_COUNT;
	c->load_ok = true;
	c->load_done = done;
	for (i = 0; i < CL_SCRIPT_COUNT; i++) {
		argv[2] = texts[i];
		lens[2] = strlen(texts[i]);
		rc = cl_conn_send(&c->cmd, c->s.command_timeout_ms, on_loaded, c, 3, argv, lens);
		if (rc != 0) {
			/* Room was checked, so only a dying connection gets here. */
			c->load_ok = false;
			c->load_left -= (unsigned)(CL_SCRIPT_COUNT - i - 1);
			on_loaded(c, NULL, rc);
			return rc;
		}
	}
	return 0;
}

int
cl_script_call(struct ice_cluster *c, enum cl_script s, uint32_t timeout_ms, cl_reply_fn fn,
               void *arg, int argc, const char **argv, const size_t *argvlen)
{
	const char *av[CL_SCRIPT_MAX_ARGS + 4];
	size_t lens[CL_SCRIPT_MAX_ARGS + 4];
	int i;

	if (argc < 0 || argc > CL_SCRIPT_MAX_ARGS)
		return -EINVAL;
	av[0] = "EVALSHA", lens[0] = 7;
	av[1] = c->sha[s], lens[1] = 40;
	av[2] = "0", lens[2] = 1;
	av[3] = c->s.key_prefix, lens[3] = strlen(c->s.key_prefix);
	for (i = 0; i < argc; i++) {
		av[4 + i] = argv[i];
		lens[4 + i] = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
	}
	return cl_conn_send(&c->cmd, timeout_ms, fn, arg, argc + 4, av, lens);
}

bool
cl_reply_is_error(struct ice_cluster *c, const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return false;
	cl_count(c, ICE_M_CLUSTER_ERR_REPLY);
	log_debug("cluster: Redis error reply: %.*s", (int)ICE_MIN(r->len, (size_t)200), r->str);
	if (r->len >= 8 && memcmp(r->str, "NOSCRIPT", 8) == 0 && !c->scripts_loading)
		cl_scripts_load(c, NULL);
	return true;
}
