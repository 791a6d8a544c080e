/*
 * One YAML file -> a tree of cfg_node with file:line:col on every key and
 * value. libyaml's event parser does the syntax; this file keeps positions,
 * rejects what we never want from a config (aliases, NUL bytes, several
 * documents, duplicate keys) and bounds the work hostile input can cause.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "cfg.h"

struct tree_parse {
	struct cfg_ctx *ctx;
	yaml_parser_t parser;
	const char *file;
	size_t n_nodes;
	bool failed;
};

static void
mark_pos(struct cfg_pos *pos, const char *file, const yaml_mark_t *m)
{
	pos->file = file;
	pos->line = (unsigned)m->line + 1;
	pos->col = (unsigned)m->column + 1;
}

void
cfg_node_free(struct cfg_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++) {
		if (n->kind == CFG_SEQ) {
			cfg_node_free(n->items[i]);
		} else if (n->kind == CFG_MAP) {
			free(n->pairs[i].key);
			cfg_node_free(n->pairs[i].val);
		}
	}
	free(n->items);
	free(n->pairs);
	free(n->str);
	free(n);
}

struct cfg_node *
cfg_map_get(const struct cfg_node *n, const char *key, struct cfg_pair **pair)
{
	size_t i;

	if (n == NULL || n->kind != CFG_MAP)
		return NULL;
	for (i = 0; i < n->n; i++) {
		if (strcmp(n->pairs[i].key, key) == 0) {
			if (pair != NULL)
				*pair = &n->pairs[i];
			return n->pairs[i].val;
		}
	}
	return NULL;
}

static int
grow(void **arr, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 4;
	void *p = realloc(*arr, ncap * elem);

	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Fetch the next event; a libyaml syntax error becomes one positioned line. */
static int
next_event(struct tree_parse *tp, yaml_event_t *ev)
{
	struct cfg_pos pos;
	char ctxbuf[96] = "";

	if (yaml_parser_parse(&tp->parser, ev))
		return 0;
	if (tp->parser.error == YAML_MEMORY_ERROR) {
		cfg_error(tp->ctx, NULL, "%s: out of memory parsing YAML", tp->file);
		return -ENOMEM;
	}
	mark_pos(&pos, tp->file, &tp->parser.problem_mark);
	if (tp->parser.context != NULL)
		snprintf(ctxbuf, sizeof(ctxbuf), " (%s at line %zu)", tp->parser.context,
		         tp->parser.context_mark.line + 1);
	cfg_error(tp->ctx, &pos, "YAML syntax error: %s%s",
	          tp->parser.problem ? tp->parser.problem : "unknown problem", ctxbuf);
	return -EINVAL;
}

static struct cfg_node *
node_new(struct tree_parse *tp, enum cfg_kind kind, const yaml_mark_t *m)
{
	struct cfg_node *n;
	struct cfg_pos pos;

	mark_pos(&pos, tp->file, m);
	if (++tp->n_nodes > CFG_MAX_NODES) {
		cfg_error(tp->ctx, &pos, "too many YAML nodes (limit %d)", CFG_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		cfg_error(tp->ctx, &pos, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->pos = pos;
	return n;
}

static bool
scalar_is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static char *
scalar_dup(struct tree_parse *tp, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct cfg_pos pos;
	char *s;

	if (memchr(v, '\0', len) != NULL) {
		mark_pos(&pos, tp->file, &ev->start_mark);
		cfg_error(tp->ctx, &pos, "a NUL byte is not allowed in a value");
		return NULL;
	}
	s = strndup(v, len);
	if (s == NULL) {
		mark_pos(&pos, tp->file, &ev->start_mark);
		cfg_error(tp->ctx, &pos, "out of memory");
	}
	return s;
}

static struct cfg_node *build(struct tree_parse *tp, yaml_event_t *ev, int depth);

static int
map_add(struct tree_parse *tp, struct cfg_node *map, char *key, const struct cfg_pos *kpos,
        struct cfg_node *val)
{
	struct cfg_pair *dup = NULL;
	char qb[64];

	if (cfg_map_get(map, key, &dup) != NULL) {
		cfg_error(tp->ctx, kpos, "duplicate key \"%s\" (first defined at %s:%u:%u)",
		          cfg_quote(key, qb, sizeof(qb)), dup->kpos.file, dup->kpos.line,
		          dup->kpos.col);
		return -EINVAL;
	}
	if (map->n == map->cap && grow((void **)&map->pairs, &map->cap, sizeof(*map->pairs)))
		return -ENOMEM;
	map->pairs[map->n].key = key;
	map->pairs[map->n].kpos = *kpos;
	map->pairs[map->n].val = val;
	map->n++;
	return 0;
}

static struct cfg_node *
build_map(struct tree_parse *tp, struct cfg_node *map, int depth)
{
	yaml_event_t ev;
	struct cfg_pos kpos;
	struct cfg_node *val;
	char *key;

	for (;;) {
		if (next_event(tp, &ev))
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return map;
		}
		mark_pos(&kpos, tp->file, &ev.start_mark);
		if (ev.type != YAML_SCALAR_EVENT) {
			cfg_error(tp->ctx, &kpos, "a mapping key must be a plain string");
			yaml_event_delete(&ev);
			goto fail;
		}
		key = scalar_dup(tp, &ev);
		yaml_event_delete(&ev);
		if (key == NULL)
			goto fail;
		if (next_event(tp, &ev)) {
			free(key);
			goto fail;
		}
		val = build(tp, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (val == NULL) {
			free(key);
			goto fail;
		}
		if (map_add(tp, map, key, &kpos, val)) {
			free(key);
			cfg_node_free(val);
			goto fail;
		}
	}
fail:
	cfg_node_free(map);
	return NULL;
}

static struct cfg_node *
build_seq(struct tree_parse *tp, struct cfg_node *seq, int depth)
{
	yaml_event_t ev;
	struct cfg_node *item;

	for (;;) {
		if (next_event(tp, &ev))
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return seq;
		}
		item = build(tp, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (item == NULL)
			goto fail;
		if (seq->n == seq->cap &&
		    grow((void **)&seq->items, &seq->cap, sizeof(*seq->items))) {
			cfg_node_free(item);
			goto fail;
		}
		seq->items[seq->n++] = item;
	}
fail:
	cfg_node_free(seq);
	return NULL;
}

/* Build the node that starts with ev (borrowed: the caller deletes it). */
static struct cfg_node *
build(struct tree_parse *tp, yaml_event_t *ev, int depth)
{
	struct cfg_node *n;
	struct cfg_pos pos;

	mark_pos(&pos, tp->file, &ev->start_mark);
	if (depth > CFG_MAX_DEPTH) {
		cfg_error(tp->ctx, &pos, "YAML nested deeper than %d levels", CFG_MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = node_new(tp, CFG_SCALAR, &ev->start_mark);
		if (n == NULL)
			return NULL;
		n->null = scalar_is_null(ev);
		n->str = scalar_dup(tp, ev);
		if (n->str == NULL) {
			cfg_node_free(n);
			return NULL;
		}
		return n;
	case YAML_MAPPING_START_EVENT:
		n = node_new(tp, CFG_MAP, &ev->start_mark);
		return n ? build_map(tp, n, depth) : NULL;
	case YAML_SEQUENCE_START_EVENT:
		n = node_new(tp, CFG_SEQ, &ev->start_mark);
		return n ? build_seq(tp, n, depth) : NULL;
	case YAML_ALIAS_EVENT:
		cfg_error(tp->ctx, &pos, "YAML aliases (*name) are not supported in the config");
		return NULL;
	default:
		cfg_error(tp->ctx, &pos, "unexpected YAML structure");
		return NULL;
	}
}

int
cfg_tree_parse(struct cfg_ctx *ctx, const char *file, const char *buf, size_t len,
               struct cfg_node **out)
{
	struct tree_parse tp = { .ctx = ctx, .file = file };
	struct cfg_node *root = NULL;
	struct cfg_pos pos;
	yaml_event_t ev;
	int rc = -EINVAL;

	*out = NULL;
	if (!yaml_parser_initialize(&tp.parser)) {
		cfg_error(ctx, NULL, "%s: out of memory", file);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&tp.parser, (const unsigned char *)buf, len);

	if (next_event(&tp, &ev)) /* STREAM-START */
		goto out;
	yaml_event_delete(&ev);
	if (next_event(&tp, &ev))
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) { /* empty file: nothing to merge */
		yaml_event_delete(&ev);
		rc = 0;
		goto out;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	if (next_event(&tp, &ev))
		goto out;
	root = build(&tp, &ev, 0);
	yaml_event_delete(&ev);
	if (root == NULL)
		goto out;
	if (next_event(&tp, &ev)) /* DOCUMENT-END */
		goto out;
	yaml_event_delete(&ev);
	if (next_event(&tp, &ev))
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT) {
		mark_pos(&pos, file, &ev.start_mark);
		cfg_error(ctx, &pos, "only one YAML document per file is supported");
		yaml_event_delete(&ev);
		goto out;
	}
	yaml_event_delete(&ev);
	if (root->kind != CFG_MAP && !(root->kind == CFG_SCALAR && root->null)) {
		cfg_error(ctx, &root->pos, "the top level of a config file must be a mapping");
		goto out;
	}
	if (root->kind == CFG_MAP) {
		*out = root;
		root = NULL;
	}
	rc = 0;
out:
	cfg_node_free(root);
	yaml_parser_delete(&tp.parser);
	return rc;
}

int
cfg_read_file(const char *path, size_t max, char **out, size_t *outlen, unsigned *mode)
{
	struct stat st;
	size_t used = 0;
	ssize_t r;
	char *buf;
	int fd, rc;

	*out = NULL;
	*outlen = 0;
	/* O_NONBLOCK: a FIFO named as a config file must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out_close;
	}
	if (mode != NULL)
		*mode = (unsigned)st.st_mode;
	if ((uint64_t)st.st_size > max) {
		rc = -EFBIG;
		goto out_close;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	/* Read up to max+1 so a file that grows while we read is still caught. */
	while (used <= max) {
		r = read(fd, buf + used, max + 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			free(buf);
			goto out_close;
		}
		if (r == 0)
			break;
		used += (size_t)r;
	}
	if (used > max) {
		free(buf);
		rc = -EFBIG;
		goto out_close;
	}
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	rc = 0;
out_close:
	close(fd);
	return rc;
}
