/*
 * /metrics families computed when scraped rather than counted in the
 * per-thread blocks: the process (RSS, open and maximum file descriptors,
 * CPU seconds, under the names Prometheus client libraries use), the build
 * (version labels), and the ICE-API latency histogram.
 *
 * The histogram is the HTTP loop's own: only that thread observes into it
 * and only that thread serves /metrics, so it needs no atomics. It measures
 * the server's share of a request: from evhttp handing the parsed request
 * to the handler until the response is queued (credential minting, JSON
 * assembly, every refusal); not the client's sending or reading.
 */
#include <sys/resource.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "http_int.h"

/* Upper bounds, in microseconds and as the le label; the last bucket is +Inf. */
static const struct {
	uint32_t us;
	const char *le;
} lat_bounds[HTTP_LAT_BUCKETS - 1] = {
	{ 50, "0.00005" },  { 100, "0.0001" },  { 250, "0.00025" }, { 500, "0.0005" },
	{ 1000, "0.001" },  { 2500, "0.0025" }, { 5000, "0.005" },  { 10000, "0.01" },
	{ 25000, "0.025" }, { 100000, "0.1" },  { 1000000, "1" },
};

uint64_t
http_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
http_latency_observe(struct ice_http *h, uint64_t ns)
{
	size_t i = 0;

	while (i < HTTP_LAT_BUCKETS - 1 && ns > (uint64_t)lat_bounds[i].us * 1000u)
		i++;
	h->lat_bucket[i]++;
	h->lat_sum_ns += ns;
}

static void
latency(const struct ice_http *h, struct evbuffer *out)
{
	static const char name[] = "icestation_http_request_duration_seconds";
	uint64_t cum = 0;

	evbuffer_add_printf(out,
	                    "# HELP %s ICE-API requests: time from the parsed request to the "
	                    "queued response (the server's share)\n# TYPE %s histogram\n",
	                    name, name);
	for (size_t i = 0; i < HTTP_LAT_BUCKETS; i++) {
		cum += h->lat_bucket[i];
		if (i < HTTP_LAT_BUCKETS - 1)
			evbuffer_add_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
			                    lat_bounds[i].le, cum);
		else
			evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	}
	evbuffer_add_printf(out, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
	                    (double)h->lat_sum_ns / 1e9, name, cum);
}

static void
family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Entries of /proc/self/fd, less the one opendir itself holds. -1 if unreadable. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void
process(struct evbuffer *out)
{
	unsigned long long size = 0, resident = 0;
	struct rusage ru;
	struct rlimit rl;
	FILE *fp;
	long fds;

	fp = fopen("/proc/self/statm", "re");
	if (fp != NULL) {
		if (fscanf(fp, "%llu %llu", &size, &resident) != 2)
			size = resident = 0;
		fclose(fp);
	}
	if (resident > 0) {
		long page = sysconf(_SC_PAGESIZE);

		family(out, "process_resident_memory_bytes", "gauge",
		       "Resident memory size in bytes");
		evbuffer_add_printf(out, "process_resident_memory_bytes %llu\n", resident * page);
		family(out, "process_virtual_memory_bytes", "gauge",
		       "Virtual memory size in bytes");
		evbuffer_add_printf(out, "process_virtual_memory_bytes %llu\n", size * page);
	}
	fds = open_fds();
	if (fds >= 0) {
		family(out, "process_open_fds", "gauge", "Open file descriptors");
		evbuffer_add_printf(out, "process_open_fds %ld\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors");
		evbuffer_add_printf(out, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		family(out, "process_cpu_seconds_total", "counter",
		       "User and system CPU time of every thread, in seconds");
		evbuffer_add_printf(out, "process_cpu_seconds_total %.6f\n",
		                    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		                            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
}

static void
build_info(struct evbuffer *out)
{
	family(out, "icestation_build_info", "gauge",
	       "Always 1; the labels name the version and the libraries it runs with");
	/* Version strings are ours or the libraries' own: no quote or backslash. */
	evbuffer_add_printf(
		out, "icestation_build_info{version=\"%s\",libevent=\"%s\",openssl=\"%s\"} 1\n",
		ICESTATION_VERSION, event_get_version(), OpenSSL_version(OPENSSL_VERSION_STRING));
}

void
http_scrape_extra(const struct ice_http *h, struct evbuffer *out)
{
	build_info(out);
	process(out);
	latency(h, out);
}
