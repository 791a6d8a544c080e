/*
 * ${VAR} expansion in scalar values, done before any type conversion:
 *   ${NAME}          the variable's value; unset -> error
 *   ${NAME:-text}    the value, or text when NAME is unset or empty (as in sh)
 *   $$               a literal '$'
 * A '$' followed by anything else is kept as is, so secrets with '$' in them
 * need no escaping unless they contain "${" or "$$". The default text is
 * literal: it is not expanded again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static bool
name_char(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_')
		return true;
	return !first && c >= '0' && c <= '9';
}

static void
sb_wipe(struct sbuf *b)
{
	if (b->p != NULL)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
}

/*
 * Expand one ${...} starting at s (pointing at '$'). Appends to b and returns
 * the number of input bytes used, or 0 after reporting an error.
 */
static size_t
expand_one(struct cfg_ctx *ctx, const struct cfg_node *n, const char *path, const char *s,
           struct sbuf *b)
{
	const char *name = s + 2, *p = name, *close, *val;
	char namebuf[128];
	size_t nlen;

	while (name_char(*p, p == name))
		p++;
	nlen = (size_t)(p - name);
	close = strchr(p, '}');
	if (close == NULL) {
		cfg_error(ctx, &n->pos, "%s: unterminated \"${\" (write $$ for a literal '$')",
		          path);
		return 0;
	}
	if (nlen == 0 || nlen >= sizeof(namebuf) || (*p != '}' && strncmp(p, ":-", 2) != 0)) {
		cfg_error(ctx, &n->pos,
		          "%s: bad variable reference: expected ${NAME} or ${NAME:-default} "
		          "with NAME made of letters, digits and '_'",
		          path);
		return 0;
	}
	memcpy(namebuf, name, nlen);
	namebuf[nlen] = '\0';
	val = getenv(namebuf);
	if (*p == '}') {
		if (val == NULL) {
			cfg_error(ctx, &n->pos,
			          "%s: environment variable %s is not set and has no default "
			          "(set it, or write ${%s:-default})",
			          path, namebuf, namebuf);
			return 0;
		}
	} else if (val == NULL || val[0] == '\0') {
		sb_put(b, p + 2, (size_t)(close - (p + 2)));
		return (size_t)(close + 1 - s);
	}
	sb_put(b, val, strlen(val));
	return (size_t)(close + 1 - s);
}

char *
cfg_expand(struct cfg_ctx *ctx, const struct cfg_node *n, const char *path, bool secret)
{
	struct sbuf b = { 0 };
	const char *s = n->str, *dollar;
	size_t used;

	(void)secret; /* messages below never quote the value, secret or not */
	sb_put(&b, "", 0);
	while ((dollar = strchr(s, '$')) != NULL) {
		sb_put(&b, s, (size_t)(dollar - s));
		if (dollar[1] == '$') {
			sb_put(&b, "$", 1);
			s = dollar + 2;
		} else if (dollar[1] == '{') {
			used = expand_one(ctx, n, path, dollar, &b);
			if (used == 0) {
				sb_wipe(&b);
				return NULL;
			}
			s = dollar + used;
		} else {
			sb_put(&b, "$", 1);
			s = dollar + 1;
		}
		if (b.len > CFG_MAX_VALUE_BYTES)
			break;
	}
	sb_put(&b, s, strlen(s));
	if (b.oom || b.len > CFG_MAX_VALUE_BYTES) {
		cfg_error(ctx, &n->pos, "%s: value too long after expansion (limit %d bytes)", path,
		          CFG_MAX_VALUE_BYTES);
		sb_wipe(&b);
		return NULL;
	}
	return b.p;
}
