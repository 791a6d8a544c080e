/*
 * icestation: the command line. Loads and checks the configuration, then
 * hands it to the daemon (daemon.c).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "icestation/config.h"
#include "icestation/log.h"

#include "daemon.h"

#define DEFAULT_CONFIG "/etc/icestation/peers.yml"

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: icestation [-c FILE] [--check-config] [--print-config]\n"
	            "       icestation --version | --help\n"
	            "\n"
	            "  -c, --config FILE   main configuration file (default " DEFAULT_CONFIG ")\n"
	            "      --check-config  validate the configuration, print errors, exit 0/1\n"
	            "      --print-config  print the effective configuration (secrets masked)\n"
	            "  -v, --version       print the version and exit\n"
	            "  -h, --help          print this help and exit\n"
	            "\n"
	            "Signals: SIGHUP reloads the configuration, SIGUSR1 starts a drain,\n"
	            "SIGTERM and SIGINT stop. See icestation(8).\n");
}

/*
 * glibc's malloc, tuned so memory goes back after a burst of allocations
 * (issue 6: RSS after release within 10 % of the start). By default the
 * mmap threshold rises to the largest block ever freed (the TURN hash
 * arrays reach 128-256 KiB at 10k allocations), and the trim threshold
 * with it, so the arrays end up inside a worker's arena, whose free top
 * malloc_trim() never shrinks (glibc 2.36 trims only the main heap's top).
 * Fixed values stop that drift: blocks of 64 KiB and more are their own
 * mappings and are unmapped on free, and an arena top above 128 KiB is
 * handed back when a large block is freed into it. Nothing on the packet
 * path allocates, so the cost (an mmap per hash resize) is Allocate-time.
 */
static void
malloc_tune(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	(void)mallopt(M_TOP_PAD, 64 * 1024);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool check = false, print = false;
	char err[4096];
	struct ice_config *cfg;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'P':
			print = true;
			break;
		case 'v':
			printf("%s\n", ICESTATION_SOFTWARE);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "icestation: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	/* The daemon's warnings about its configuration come out in the
	 * format that configuration asks for. */
	if (!check && !print)
		ice_log_hold(true);
	cfg = ice_config_load(path, err, sizeof(err));
	if (cfg != NULL && !check && !print) {
		ice_log_set_level((enum ice_log_level)cfg->log_level);
		ice_log_set_format((enum ice_log_format)cfg->log_format);
	}
	ice_log_hold(false);
	if (cfg == NULL) {
		/* Errors are "file:line:col: message" lines, one per problem. */
		fprintf(stderr, "%s", err);
		if (err[0] != '\0' && err[strlen(err) - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "icestation: configuration %s is invalid\n", path);
		return 1;
	}
	if (check || print) {
		rc = 0;
		if (print)
			rc = ice_config_print(cfg, stdout) < 0;
		if (check)
			fprintf(stderr, "icestation: configuration %s is valid\n", path);
		ice_config_free(cfg);
		return rc;
	}

	malloc_tune();
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0)
		fatalx("libevent has no pthreads support");
	log_info("%s starting with %s", ICESTATION_SOFTWARE, path);
	rc = daemon_run(cfg, path);
	ice_config_unref(cfg);
	return rc;
}
