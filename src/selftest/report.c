/*
 * The self-test's JSON report (include/icestation/selftest.h; docs/api.md,
 * GET /admin/v1/selftest). Timings in milliseconds to 0.01.
 */
#include <math.h>

#include "st_int.h"

static const char *
status_name(enum st_status s)
{
	static const char *const names[] = { "ok", "warn", "fail", "skipped" };

	return names[s];
}

static double
ms2(double ms)
{
	return round(ms * 100.0) / 100.0;
}

static cJSON *
target_json(const struct ice_selftest *t)
{
	cJSON *o = cJSON_CreateObject();
	const struct ice_addr *pub = &t->env.turn_public;
	char a[ICE_ADDR_STRLEN];

	cJSON_AddStringToObject(o, "address", ice_addr_ip_str(&t->plan.target, a, sizeof(a)));
	if (pub->family != 0)
		cJSON_AddStringToObject(o, "public", ice_addr_ip_str(pub, a, sizeof(a)));
	else
		cJSON_AddNullToObject(o, "public");
	cJSON_AddBoolToObject(o, "public_local", t->plan.public_local);
	cJSON_AddStringToObject(o, "peer", ice_addr_ip_str(&t->plan.peer_ip, a, sizeof(a)));
	if (t->plan.target_note[0] != '\0')
		cJSON_AddStringToObject(o, "note", t->plan.target_note);
	return o;
}

cJSON *
st_report(const struct ice_selftest *t)
{
	cJSON *o = cJSON_CreateObject(), *steps, *checks, *e;
	bool ok = true;

	if (o == NULL)
		return NULL;
	cJSON_AddBoolToObject(o, "ok", false); /* first in the object; set below */
	steps = cJSON_AddArrayToObject(o, "steps");
	for (size_t i = 0; i < t->n_steps; i++) {
		const struct st_step *s = &t->steps[i];

		ok &= s->status != ST_FAIL;
		e = cJSON_CreateObject();
		cJSON_AddItemToArray(steps, e);
		cJSON_AddStringToObject(e, "name", s->name);
		if (s->proto != 0)
			cJSON_AddStringToObject(e, "transport", st_proto_name(s->proto));
		else
			cJSON_AddNullToObject(e, "transport");
		cJSON_AddBoolToObject(e, "ok", s->status != ST_FAIL);
		cJSON_AddBoolToObject(e, "skipped", s->status == ST_SKIP);
		cJSON_AddNumberToObject(e, "ms", ms2(s->ms));
		cJSON_AddStringToObject(e, "detail", s->detail);
	}
	checks = cJSON_AddArrayToObject(o, "checks");
	for (size_t i = 0; i < t->n_checks; i++) {
		const struct st_check *c = &t->checks[i];

		ok &= c->status != ST_FAIL;
		e = cJSON_CreateObject();
		cJSON_AddItemToArray(checks, e);
		cJSON_AddStringToObject(e, "name", c->name);
		cJSON_AddBoolToObject(e, "ok", c->status != ST_FAIL);
		cJSON_AddStringToObject(e, "status", status_name(c->status));
		cJSON_AddStringToObject(e, "detail", c->detail);
	}
	cJSON_ReplaceItemInObjectCaseSensitive(o, "ok", cJSON_CreateBool(ok));
	cJSON_AddNumberToObject(o, "ms", ms2((double)(st_now_us() - t->t0_us) / 1000.0));
	cJSON_AddItemToObject(o, "target", target_json(t));
	return o;
}
