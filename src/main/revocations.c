/*
 * The revocation list (revocations.h). Few entries (an operator's actions),
 * so a plain array searched linearly; every change rewrites the state file.
 */
#include "revocations.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

enum {
	REVLIST_FILE_MAX = 16 << 20, /* a state file larger than this is not ours */
};

static const char state_name[] = "revocations.json";

static struct turn_revocation *
find(const struct revlist *l, const char *user, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].user_len == len && memcmp(l->v[i].user, user, len) == 0)
			return &l->v[i];
	return NULL;
}

/* Whether e still refuses something at now: credentials, or the ICE API. */
static bool
entry_live(const struct turn_revocation *e, uint64_t now)
{
	return now <= e->refuse_upto || e->until == 0 || now < e->until;
}

static void
entry_drop(struct revlist *l, size_t i)
{
	free((char *)l->v[i].user);
	l->v[i] = l->v[--l->n];
}

int
revlist_add(struct revlist *l, const char *user, size_t len, uint64_t now, uint32_t ttl_s,
            uint64_t until)
{
	struct turn_revocation *e = find(l, user, len);
	char *name;

	if (e == NULL) {
		if (l->n == l->cap) {
			size_t cap = l->cap ? 2 * l->cap : 16;
			struct turn_revocation *v = realloc(l->v, cap * sizeof(*v));

			if (v == NULL)
				return -ENOMEM;
			l->v = v;
			l->cap = cap;
		}
		name = strndup(user, len);
		if (name == NULL)
			return -ENOMEM;
		e = &l->v[l->n++];
		e->user = name;
		e->user_len = len;
	}
	e->revoked_at = now;
	e->refuse_upto = now + ttl_s;
	e->until = until;
	return 0;
}

int
revlist_remove(struct revlist *l, const char *user, size_t len)
{
	struct turn_revocation *e = find(l, user, len);

	if (e == NULL)
		return -ENOENT;
	entry_drop(l, (size_t)(e - l->v));
	return 0;
}

size_t
revlist_prune(struct revlist *l, uint64_t now)
{
	size_t gone = 0;

	for (size_t i = 0; i < l->n;) {
		if (entry_live(&l->v[i], now)) {
			i++;
			continue;
		}
		entry_drop(l, i);
		gone++;
	}
	return gone;
}

bool
revlist_api_refused(const struct revlist *l, const char *user, size_t len, uint64_t now)
{
	const struct turn_revocation *e = find(l, user, len);

	return e != NULL && (e->until == 0 || now < e->until);
}

struct turn_revocations *
revlist_snapshot(const struct revlist *l)
{
	return turn_revocations_new(l->v, l->n);
}

void
revlist_free(struct revlist *l)
{
	while (l->n > 0)
		entry_drop(l, l->n - 1);
	free(l->v);
	l->v = NULL;
	l->cap = 0;
}

/* A whole file into a NUL-terminated buffer. */
static int
read_all(const char *path, char **out)
{
	FILE *f = fopen(path, "re");
	char *buf;
	long size;

	if (f == NULL)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || size > REVLIST_FILE_MAX ||
	    fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -EBADMSG;
	}
	buf = malloc((size_t)size + 1);
	if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		fclose(f);
		return buf == NULL ? -ENOMEM : -EIO;
	}
	buf[size] = '\0';
	fclose(f);
	*out = buf;
	return 0;
}

static bool
json_u64(const cJSON *o, const char *key, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15)
		return false;
	*out = (uint64_t)v->valuedouble;
	return true;
}

int
revlist_load(struct revlist *l, const char *dir, uint64_t now)
{
	char path[4096], *text = NULL;
	const cJSON *arr, *e;
	cJSON *root;
	int r;

	if (dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, state_name);
	r = read_all(path, &text);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	root = cJSON_Parse(text);
	free(text);
	arr = cJSON_GetObjectItemCaseSensitive(root, "revocations");
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(root);
		return -EBADMSG;
	}
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(e, "user");
		uint64_t at, upto, until;

		if (!cJSON_IsString(u) || !json_u64(e, "revoked_at", &at) ||
		    !json_u64(e, "refuse_upto", &upto) || !json_u64(e, "until", &until) ||
		    upto < at || upto - at > UINT32_MAX) {
			r = -EBADMSG;
			break;
		}
		r = revlist_add(l, u->valuestring, strlen(u->valuestring), at,
		                (uint32_t)(upto - at), until);
		if (r < 0)
			break;
	}
	cJSON_Delete(root);
	if (r < 0) {
		revlist_free(l);
		return r;
	}
	revlist_prune(l, now);
	return 0;
}

static char *
revlist_json(const struct revlist *l)
{
	cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "revocations");
	char *text = NULL;

	if (root == NULL || arr == NULL)
		goto out;
	cJSON_AddNumberToObject(root, "version", 1);
	for (size_t i = 0; i < l->n; i++) {
		cJSON *e = cJSON_CreateObject();

		if (e == NULL)
			goto out;
		cJSON_AddItemToArray(arr, e);
		/* Names are REST user parts (URL-decoded DIDs): valid C strings. */
		if (cJSON_AddStringToObject(e, "user", l->v[i].user) == NULL ||
		    cJSON_AddNumberToObject(e, "revoked_at", (double)l->v[i].revoked_at) == NULL ||
		    cJSON_AddNumberToObject(e, "refuse_upto", (double)l->v[i].refuse_upto) ==
		            NULL ||
		    cJSON_AddNumberToObject(e, "until", (double)l->v[i].until) == NULL)
			goto out;
	}
	text = cJSON_Print(root);
out:
	cJSON_Delete(root);
	return text;
}

int
revlist_save(const struct revlist *l, const char *dir)
{
	char path[4096], tmp[4200];
	char *text;
	size_t len;
	int fd, r = 0;

	if (dir == NULL)
		return 0;
	text = revlist_json(l);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	snprintf(path, sizeof(path), "%s/%s", dir, state_name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		r = -errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	/* rename() is the commit: a crash leaves the old file or the new. */
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		(void)unlink(tmp);
out:
	free(text);
	return r;
}
