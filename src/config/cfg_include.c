/*
 * peers.includes: load the main file, follow its includes (and theirs), and
 * merge every file into one tree. Mappings merge key by key; any other value
 * defined in two places is a duplicate. Paths are relative to the including
 * file. A file on the current include chain is a cycle; a file loaded once
 * already is refused too, since merging it again could only duplicate keys.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

struct inc_state {
	char *chain[CFG_MAX_INCLUDE_DEPTH + 1]; /* realpaths being loaded */
	size_t n_chain;
	char *loaded[CFG_MAX_FILES];
	struct cfg_pos loaded_from[CFG_MAX_FILES];
	size_t n_loaded;
};

/* Merge src (consumed) into dst. Both are maps. */
static int
merge_map(struct cfg_ctx *ctx, struct cfg_node *dst, struct cfg_node *src)
{
	struct cfg_pair *have, *sp;
	struct cfg_node *dv;
	char qb[64];
	size_t i;
	int rc = 0;

	for (i = 0; i < src->n; i++) {
		sp = &src->pairs[i];
		have = NULL;
		dv = cfg_map_get(dst, sp->key, &have);
		if (dv == NULL) {
			if (dst->n == dst->cap) {
				size_t ncap = dst->cap ? dst->cap * 2 : 4;
				struct cfg_pair *np = realloc(dst->pairs, ncap * sizeof(*np));

				if (np == NULL) {
					cfg_error(ctx, &sp->kpos, "out of memory");
					rc = -ENOMEM;
					continue;
				}
				dst->pairs = np;
				dst->cap = ncap;
			}
			dst->pairs[dst->n++] = *sp;
			sp->key = NULL;
			sp->val = NULL;
			continue;
		}
		if (dv->kind == CFG_MAP && sp->val->kind == CFG_MAP) {
			if (merge_map(ctx, dv, sp->val))
				rc = -EINVAL;
			sp->val = NULL; /* consumed by the recursion */
			continue;
		}
		cfg_error(ctx, &sp->kpos, "duplicate key \"%s\" (first defined at %s:%u:%u)",
		          cfg_quote(sp->key, qb, sizeof(qb)), have->kpos.file, have->kpos.line,
		          have->kpos.col);
		rc = -EINVAL;
	}
	cfg_node_free(src);
	return rc;
}

/* Detach peers.includes from a file's tree so files can each have one. */
static struct cfg_node *
take_includes(struct cfg_node *root)
{
	struct cfg_node *peers = cfg_map_get(root, "peers", NULL);
	struct cfg_node *inc;
	size_t i;

	if (peers == NULL || peers->kind != CFG_MAP)
		return NULL;
	for (i = 0; i < peers->n; i++) {
		if (strcmp(peers->pairs[i].key, "includes") != 0)
			continue;
		inc = peers->pairs[i].val;
		free(peers->pairs[i].key);
		memmove(&peers->pairs[i], &peers->pairs[i + 1],
		        (peers->n - i - 1) * sizeof(peers->pairs[0]));
		peers->n--;
		return inc;
	}
	return NULL;
}

static int load_one(struct cfg_ctx *ctx, struct inc_state *st, const char *path, const char *buf,
                    size_t len, const struct cfg_pos *from);

/* Resolve name against the directory of the including file. Owned result. */
static char *
include_path(const char *including, const char *name)
{
	const char *slash = strrchr(including, '/');
	size_t dlen;
	char *p;

	if (name[0] == '/' || slash == NULL)
		return strdup(name);
	dlen = (size_t)(slash - including);
	p = malloc(dlen + 1 + strlen(name) + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, including, dlen);
	p[dlen] = '/';
	strcpy(p + dlen + 1, name);
	return p;
}

/* One includes entry: a scalar holding one name or a comma-separated list. */
static int
include_entry(struct cfg_ctx *ctx, struct inc_state *st, const char *including,
              const struct cfg_node *n)
{
	char *val, *tok, *save = NULL, *end, *full;
	int rc = 0;

	if (n->kind != CFG_SCALAR) {
		cfg_error(ctx, &n->pos,
		          "peers.includes: expected a file name or a comma-separated list");
		return -EINVAL;
	}
	if (n->null)
		return 0;
	val = cfg_expand(ctx, n, "peers.includes", false);
	if (val == NULL)
		return -EINVAL;
	for (tok = strtok_r(val, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		full = include_path(including, tok);
		if (full == NULL) {
			cfg_error(ctx, &n->pos, "out of memory");
			rc = -ENOMEM;
			break;
		}
		if (load_one(ctx, st, full, NULL, 0, &n->pos))
			rc = -EINVAL;
		free(full);
	}
	free(val);
	return rc;
}

static int
follow_includes(struct cfg_ctx *ctx, struct inc_state *st, const char *including,
                struct cfg_node *inc)
{
	size_t i;
	int rc = 0;

	if (inc->kind == CFG_SEQ) {
		for (i = 0; i < inc->n; i++)
			if (include_entry(ctx, st, including, inc->items[i]))
				rc = -EINVAL;
		return rc;
	}
	return include_entry(ctx, st, including, inc);
}

/* The identity of a file for cycle checks: its realpath, or the name itself. */
static char *
file_identity(const char *path, bool from_buffer, int *err)
{
	char *real;

	*err = 0;
	if (from_buffer)
		return strdup(path);
	real = realpath(path, NULL);
	if (real == NULL)
		*err = errno;
	return real;
}

static bool
check_seen(struct cfg_ctx *ctx, struct inc_state *st, const char *real, const char *path,
           const struct cfg_pos *from)
{
	size_t i;

	for (i = 0; i < st->n_chain; i++) {
		if (strcmp(st->chain[i], real) == 0) {
			cfg_error(ctx, from, "include cycle: \"%s\" is already being loaded", path);
			return true;
		}
	}
	for (i = 0; i < st->n_loaded; i++) {
		if (strcmp(st->loaded[i], real) == 0) {
			cfg_error(ctx, from, "\"%s\" is included twice (first at %s:%u:%u)", path,
			          st->loaded_from[i].file ? st->loaded_from[i].file
			                                  : "command line",
			          st->loaded_from[i].line, st->loaded_from[i].col);
			return true;
		}
	}
	return false;
}

static int
read_source(struct cfg_ctx *ctx, const char *path, const struct cfg_pos *from, char **data,
            size_t *len)
{
	int rc = cfg_read_file(path, CFG_MAX_FILE_BYTES, data, len, NULL);
	const char *why;

	if (rc == 0)
		return 0;
	why = rc == -EFBIG    ? "larger than 1 MiB"
	      : rc == -EINVAL ? "not a regular file"
	                      : strerror(-rc);
	if (from != NULL)
		cfg_error(ctx, from, "cannot read include \"%s\": %s", path, why);
	else
		cfg_error(ctx, NULL, "%s: cannot read config: %s", path, why);
	return -EINVAL;
}

static int
load_one(struct cfg_ctx *ctx, struct inc_state *st, const char *path, const char *buf, size_t len,
         const struct cfg_pos *from)
{
	struct cfg_node *tree = NULL, *inc;
	const char *name;
	char *real, *data = NULL;
	int rc = -EINVAL, err;

	if (st->n_chain > CFG_MAX_INCLUDE_DEPTH || st->n_loaded >= CFG_MAX_FILES) {
		cfg_error(ctx, from, "includes nested too deep or too many files (limit %d)",
		          st->n_chain > CFG_MAX_INCLUDE_DEPTH ? CFG_MAX_INCLUDE_DEPTH
		                                              : CFG_MAX_FILES);
		return -EINVAL;
	}
	real = file_identity(path, buf != NULL, &err);
	if (real == NULL) {
		if (from != NULL)
			cfg_error(ctx, from, "cannot read include \"%s\": %s", path, strerror(err));
		else
			cfg_error(ctx, NULL, "%s: cannot read config: %s", path, strerror(err));
		return -EINVAL;
	}
	if (check_seen(ctx, st, real, path, from)) {
		free(real);
		return -EINVAL;
	}
	if (buf == NULL) {
		if (read_source(ctx, path, from, &data, &len)) {
			free(real);
			return -EINVAL;
		}
		buf = data;
	}
	name = cfg_file_add(ctx, path, from);
	if (name == NULL)
		goto out;
	st->loaded[st->n_loaded] = strdup(real);
	if (from != NULL)
		st->loaded_from[st->n_loaded] = *from;
	else
		st->loaded_from[st->n_loaded] = (struct cfg_pos){ 0 };
	if (st->loaded[st->n_loaded] != NULL)
		st->n_loaded++;
	if (cfg_tree_parse(ctx, name, buf, len, &tree))
		goto out;
	if (tree == NULL) {
		rc = 0;
		goto out;
	}
	inc = take_includes(tree);
	if (ctx->root == NULL) {
		ctx->root = tree;
		rc = 0;
	} else {
		rc = merge_map(ctx, ctx->root, tree);
	}
	tree = NULL;
	if (inc != NULL) {
		st->chain[st->n_chain++] = real;
		if (follow_includes(ctx, st, name, inc))
			rc = -EINVAL;
		st->n_chain--;
		cfg_node_free(inc);
	}
out:
	cfg_node_free(tree);
	free(data);
	free(real);
	return rc;
}

int
cfg_load_tree(struct cfg_ctx *ctx, const char *path, const char *buf, size_t len)
{
	struct inc_state st = { 0 };
	size_t i;
	int rc;

	rc = load_one(ctx, &st, path, buf, len, NULL);
	for (i = 0; i < st.n_loaded; i++)
		free(st.loaded[i]);
	if (rc == 0 && ctx->n_errors > 0)
		rc = -EINVAL;
	return rc;
}
