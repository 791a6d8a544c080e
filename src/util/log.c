/*
 * One line per event on stderr. Under systemd (JOURNAL_STREAM set and matching
 * stderr) events go to the journal with sd_journal_send, so their fields
 * (ICESTATION_CLIENT=..., PRIORITY=) are searchable; otherwise each line is a
 * timestamp, a level word and the message (text), or one JSON object
 * (log.format: json). Every line is one write(), so lines from several
 * threads never interleave, and nothing here allocates.
 */
#include "icestation/log.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

_Atomic int ice_log_level_cur = ICE_LOG_INFO;
static _Atomic int log_format = ICE_LOG_TEXT;
static _Atomic int log_to_journal = -1; /* computed once; any thread may be first */

enum {
	LOG_LINE_MAX = 2048,
	LOG_FIELDS_MAX = 16,
	LOG_HOLD_MAX = 32,  /* lines held while a configuration loads */
	LOG_HOLD_LEN = 512, /* bytes kept of each */
};

/* Lines this thread holds back (ice_log_hold): a configuration being loaded
 * decides the format its own warnings are written in. */
static _Thread_local struct {
	bool on;
	unsigned n, dropped;
	struct {
		enum ice_log_level level;
		char msg[LOG_HOLD_LEN];
	} l[LOG_HOLD_MAX];
} held;

void
ice_log_set_level(enum ice_log_level level)
{
	atomic_store_explicit(&ice_log_level_cur, (int)level, memory_order_relaxed);
}

void
ice_log_set_format(enum ice_log_format format)
{
	atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
}

int
ice_log_level_parse(const char *s)
{
	if (strcmp(s, "debug") == 0)
		return ICE_LOG_DEBUG;
	if (strcmp(s, "info") == 0)
		return ICE_LOG_INFO;
	if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
		return ICE_LOG_WARN;
	if (strcmp(s, "error") == 0)
		return ICE_LOG_ERROR;
	return -EINVAL;
}

/* JOURNAL_STREAM is "dev:ino" of the journal socket; compare with our stderr. */
static int
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static bool
to_journal(void)
{
	int v = atomic_load_explicit(&log_to_journal, memory_order_relaxed);

	if (v < 0) {
		v = stderr_is_journal();
		atomic_store_explicit(&log_to_journal, v, memory_order_relaxed);
	}
	return v != 0;
}

static const char *
level_word(enum ice_log_level level)
{
	switch (level) {
	case ICE_LOG_ERROR:
		return "error";
	case ICE_LOG_WARN:
		return "warn";
	case ICE_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* A bounded output line: appends never overrun, the end is cut instead. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t n;
};

static void ICE_PRINTF(2, 3) put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (l->n >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(l->buf + l->n, sizeof(l->buf) - l->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		l->n += (size_t)r < sizeof(l->buf) - l->n ? (size_t)r : sizeof(l->buf) - l->n - 1;
}

/* s as a JSON string body: quotes, backslashes and control bytes escaped. */
static void
put_json_str(struct line *l, const char *s)
{
	for (; *s != '\0' && l->n < sizeof(l->buf) - 8; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(l, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(l, "\\u%04x", c);
		else
			l->buf[l->n++] = (char)c;
	}
}

static void
put_time(struct line *l, bool json)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	put(l,
	    json ? "\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\""
	         : "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000);
}

static void
line_write(struct line *l)
{
	/* Keep one event on one line whatever the message carried. */
	for (size_t i = 0; i < l->n; i++)
		if (l->buf[i] == '\n' || l->buf[i] == '\r')
			l->buf[i] = ' ';
	l->buf[l->n++] = '\n';
	(void)!write(STDERR_FILENO, l->buf, l->n);
}

/* The journal: MESSAGE, PRIORITY and ICESTATION_<KEY> fields. */
static void
journal_send(enum ice_log_level level, const char *msg, const struct ice_log_field *f, size_t n)
{
	char bufs[LOG_FIELDS_MAX + 2][512];
	struct iovec iov[LOG_FIELDS_MAX + 2];
	size_t k = 0;
	int r;

	r = snprintf(bufs[k], sizeof(bufs[k]), "MESSAGE=%s", msg);
	iov[k].iov_base = bufs[k];
	iov[k].iov_len = r > 0 ? ICE_MIN((size_t)r, sizeof(bufs[k]) - 1) : 0;
	k++;
	r = snprintf(bufs[k], sizeof(bufs[k]), "PRIORITY=%d", (int)level);
	iov[k].iov_base = bufs[k];
	iov[k].iov_len = r > 0 ? (size_t)r : 0;
	k++;
	for (size_t i = 0; i < n && i < LOG_FIELDS_MAX; i++, k++) {
		char key[64];
		size_t j;

		for (j = 0; f[i].key[j] != '\0' && j < sizeof(key) - 1; j++)
			key[j] = f[i].key[j] >= 'a' && f[i].key[j] <= 'z' ? (char)(f[i].key[j] - 32)
			         : f[i].key[j] == '-'                     ? '_'
			                                                  : f[i].key[j];
		key[j] = '\0';
		r = snprintf(bufs[k], sizeof(bufs[k]), "ICESTATION_%s=%s", key, f[i].value);
		iov[k].iov_base = bufs[k];
		iov[k].iov_len = r > 0 ? ICE_MIN((size_t)r, sizeof(bufs[k]) - 1) : 0;
	}
	(void)sd_journal_sendv(iov, (int)k);
}

void
ice_log_fields(enum ice_log_level level, const char *msg, const struct ice_log_field *f, size_t n)
{
	bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == ICE_LOG_JSON;
	struct line l = { .n = 0 };

	if ((int)level > atomic_load_explicit(&ice_log_level_cur, memory_order_relaxed))
		return;
	if (to_journal()) {
		journal_send(level, msg, f, n);
		return;
	}
	if (json) {
		put(&l, "{");
		put_time(&l, true);
		put(&l, ",\"level\":\"%s\",\"msg\":\"", level_word(level));
		put_json_str(&l, msg);
		put(&l, "\"");
		for (size_t i = 0; i < n; i++) {
			put(&l, ",\"%s\":\"", f[i].key);
			put_json_str(&l, f[i].value);
			put(&l, "\"");
		}
		/* A cut line must still parse: close what is open. */
		if (l.n >= sizeof(l.buf) - 8)
			l.n = sizeof(l.buf) - 8;
		put(&l, "}");
	} else {
		put_time(&l, false);
		put(&l, "%s %s", level_word(level), msg);
		for (size_t i = 0; i < n; i++)
			put(&l, " %s=%s", f[i].key, f[i].value);
	}
	line_write(&l);
}

static void ICE_PRINTF(3, 0)
	log_vemit(enum ice_log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX - 256];
	int r = vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = r < 0 ? 0 : ICE_MIN((size_t)r, sizeof(msg) - 1);

	msg[n] = '\0';
	if (errnum != 0 && n < sizeof(msg) - 1)
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	if (held.on) {
		if (held.n == LOG_HOLD_MAX) {
			held.dropped++;
			return;
		}
		held.l[held.n].level = level;
		n = ICE_MIN(strlen(msg), sizeof(held.l[0].msg) - 1); /* a cut line beats none */
		memcpy(held.l[held.n].msg, msg, n);
		held.l[held.n].msg[n] = '\0';
		held.n++;
		return;
	}
	ice_log_fields(level, msg, NULL, 0);
}

void
ice_log_hold(bool on)
{
	if (on) {
		held.on = true;
		held.n = held.dropped = 0;
		return;
	}
	held.on = false;
	for (unsigned i = 0; i < held.n; i++)
		ice_log_fields(held.l[i].level, held.l[i].msg, NULL, 0);
	if (held.dropped > 0)
		ice_log_emit(ICE_LOG_WARN, 0,
		             "log: %u more lines from the configuration load not shown",
		             held.dropped);
	held.n = held.dropped = 0;
}

void
ice_log_emit(enum ice_log_level level, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, errnum, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(ICE_LOG_ERROR, errnum, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(ICE_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
