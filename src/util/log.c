/*
 * One line per event on stderr. Under systemd (JOURNAL_STREAM set and matching
 * stderr) each line starts with the syslog priority "<N>" so journald files it
 * at the right level; otherwise a timestamp and a level word.
 */
#include "icestation/log.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int ice_log_level_cur = ICE_LOG_INFO;
static _Atomic int log_to_journal = -1; /* computed once; any thread may be first */

void
ice_log_set_level(enum ice_log_level level)
{
	atomic_store_explicit(&ice_log_level_cur, (int)level, memory_order_relaxed);
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

static void ICE_PRINTF(3, 0)
	log_vemit(enum ice_log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n = 0;
	int r;

	if (log_to_journal < 0)
		log_to_journal = stderr_is_journal();
	if (log_to_journal) {
		r = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
		             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		             tm.tm_sec, ts.tv_nsec / 1000000, level_word(level));
	}
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (errnum != 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	/* Keep one event on one line whatever the message carried. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* One write() so lines from several threads never interleave. */
	(void)!write(STDERR_FILENO, line, n);
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
