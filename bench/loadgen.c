/*
 * icestation benchmark load generator. One program, one thread, four modes:
 *
 *   binding      STUN Binding requests from --sockets client sockets
 *   relay        hold --allocs allocations (ChannelBind, or CreatePermission
 *                with --indication), pump --sizes both ways through the first
 *                --active of them (default: all), release them
 *   alloc-hold   the relay set-up and release only: RSS per allocation
 *   alloc-cycle  authenticated Allocate + Refresh(0) loops on --sockets
 *                (lg_cycle.c; paced by --churn-rate, capped by --cycles)
 *   soak         paced churn, steady flows and floods for minutes to hours
 *                (lg_soak.c), one JSON line per second
 *
 * Every mode prints one JSON object on stdout. With --pid, the server's CPU
 * time (utime+stime of all threads, /proc/PID/stat) over the measured window
 * is reported per operation, and RSS (VmRSS) around the allocation phases.
 * Loopback only; every loop is bounded by --duration / --timeout.
 */
#include "loadgen.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t lg_stop;

static void
on_stop(int sig)
{
	(void)sig;
	lg_stop = 1;
}

void
lg_catch_stop(void)
{
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
}

double
lg_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
lg_proc_cpu_us(int pid)
{
	if (pid <= 0)
		return -1;
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* fields 3..15: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	 * stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

long
lg_proc_rss_kib(int pid)
{
	if (pid <= 0)
		return -1;
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int
lg_udp_socket(uint32_t ip, int port, struct sockaddr_in *bound)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	int sz = 1 << 21;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	memset(bound, 0, sizeof(*bound));
	bound->sin_family = AF_INET;
	bound->sin_addr.s_addr = htonl(ip);
	bound->sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)bound, sizeof(*bound)) < 0) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &bound->sin_addr, a, sizeof(a));
		fprintf(stderr, "loadgen: bind %s:%d: %s\n", a, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

void
lg_new_tid(struct lg *g, uint8_t tid[12])
{
	uint64_t c = ++g->tid_ctr;
	memcpy(tid, &c, 8);
	uint32_t r = (uint32_t)getpid() ^ 0x9E3779B9u;
	memcpy(tid + 8, &r, 4);
}

/* binding: closed loop of Binding requests over --sockets client sockets. */
static int
run_binding(struct lg *g)
{
	int ns = g->o.sockets;
	int *fd = calloc((size_t)ns, sizeof(int));
	if (!fd)
		return 2;
	for (int i = 0; i < ns; i++) {
		struct sockaddr_in b;
		uint32_t ip = g->o.client_ip + (uint32_t)(i / g->o.client_ports);
		fd[i] = lg_udp_socket(ip, g->o.client_port + i % g->o.client_ports, &b);
		if (fd[i] < 0 ||
		    connect(fd[i], (struct sockaddr *)&g->o.server, sizeof(g->o.server)) < 0) {
			for (int j = 0; j <= i; j++)
				if (fd[j] >= 0)
					close(fd[j]);
			free(fd);
			return 2;
		}
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(g->ep, EPOLL_CTL_ADD, fd[i], &ev);
	}
	static uint8_t req[LG_BATCH_MAX][LG_STUN_HDR];
	static uint8_t rbuf[LG_BATCH_MAX][LG_PKT_MAX];
	struct mmsghdr mm[LG_BATCH_MAX];
	struct iovec iov[LG_BATCH_MAX];
	long sent = 0, received = 0, bad = 0, stalls = 0, inflight = 0, rx0 = 0, rx1 = 0;
	double start = lg_now(), t0 = start + g->o.warmup, t1 = t0 + g->o.duration;
	double w0 = 0, w1 = 0, cpu0 = -1, cpu1 = -1, last_rx = start;
	bool in_window = false;
	int cursor = 0, per = g->o.batch;
	if (per * ns > g->o.window)
		per = g->o.window / ns > 0 ? g->o.window / ns : 1;
	for (;;) {
		double now = lg_now();
		if (!in_window && now >= t0) {
			in_window = true;
			w0 = now;
			cpu0 = lg_proc_cpu_us(g->o.server_pid);
			rx0 = received;
		}
		if (in_window && now >= t1) {
			w1 = now;
			cpu1 = lg_proc_cpu_us(g->o.server_pid);
			rx1 = received;
			break;
		}
		long budget = g->o.window - inflight;
		while (budget > 0) {
			int k = (int)(budget < per ? budget : per);
			for (int i = 0; i < k; i++) {
				struct lg_wr w;
				uint8_t tid[12];
				lg_new_tid(g, tid);
				lg_msg_init(&w, req[i], LG_STUN_HDR, LG_BINDING_REQ, tid);
				iov[i].iov_base = req[i];
				iov[i].iov_len = LG_STUN_HDR;
				memset(&mm[i], 0, sizeof(mm[i]));
				mm[i].msg_hdr.msg_iov = &iov[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			int n = sendmmsg(fd[cursor], mm, (unsigned)k, 0);
			cursor = (cursor + 1) % ns;
			if (n <= 0)
				break;
			sent += n;
			inflight += n;
			budget -= n;
		}
		struct epoll_event evs[64];
		int ne = epoll_wait(g->ep, evs, 64, budget > 0 ? 0 : 2);
		for (int e = 0; e < ne; e++) {
			for (int i = 0; i < LG_BATCH_MAX; i++) {
				iov[i].iov_base = rbuf[i];
				iov[i].iov_len = LG_PKT_MAX;
				memset(&mm[i], 0, sizeof(mm[i]));
				mm[i].msg_hdr.msg_iov = &iov[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			int n = recvmmsg(fd[evs[e].data.u32], mm, LG_BATCH_MAX, MSG_DONTWAIT, NULL);
			for (int i = 0; i < n; i++) {
				struct lg_resp r;
				if (lg_parse(&r, rbuf[i], mm[i].msg_len) == 0 &&
				    r.type == LG_BINDING_OK && r.has_mapped) {
					received++;
					if (inflight > 0)
						inflight--;
				} else {
					bad++;
				}
			}
			if (n > 0)
				last_rx = lg_now();
		}
		if (inflight > 0 && lg_now() - last_rx > 0.02) {
			inflight = 0;
			stalls++;
			last_rx = lg_now();
		}
	}
	double secs = w1 - w0, ops = (double)(rx1 - rx0);
	printf("{\"mode\":\"binding\",\"sockets\":%d,\"seconds\":%.3f,\"responses\":%.0f,"
	       "\"rate\":%.1f,\"cpu_us\":%.0f,\"cpu_us_per_op\":%.3f,\"sent\":%ld,"
	       "\"received\":%ld,\"bad\":%ld,\"stalls\":%ld}\n",
	       ns, secs, ops, ops / secs, cpu1 - cpu0,
	       ops > 0 && cpu0 >= 0 ? (cpu1 - cpu0) / ops : -1.0, sent, received, bad, stalls);
	for (int i = 0; i < ns; i++)
		close(fd[i]);
	free(fd);
	return ops > 0 ? 0 : 1;
}

void
lg_print_errors(struct lg *g)
{
	printf("\"errors\":{");
	bool first = true;
	for (size_t c = 0; c < sizeof(g->errors) / sizeof(g->errors[0]); c++)
		if (g->errors[c]) {
			printf("%s\"%zu\":%d", first ? "" : ",", c, g->errors[c]);
			first = false;
		}
	printf("}");
}

/* relay / alloc-hold: set up, (pump), release; RSS at each step. */
static int
run_relay(struct lg *g, bool pump)
{
	int pid = g->o.server_pid;
	long rss0 = lg_proc_rss_kib(pid);
	double t = lg_now();
	if (lg_allocs_open(g, g->o.allocs) < 0)
		return 2;
	int bad = lg_allocs_run(g, false);
	double setup_s = lg_now() - t;
	/* Let the server settle (lazy frees, per-thread caches) before reading RSS. */
	struct timespec settle = { 0, 500 * 1000 * 1000 };
	nanosleep(&settle, NULL);
	long rss1 = lg_proc_rss_kib(pid);
	int ready = g->o.allocs - bad;
	static const char *const tname[] = { "udp", "tcp", "tls" };
	printf("{\"mode\":\"%s\",\"transport\":\"%s\",\"indication\":%s,\"allocs\":%d,"
	       "\"ready\":%d,\"setup_seconds\":%.3f,\"challenges\":%ld,\"retransmits\":%ld,",
	       pump ? "relay" : "alloc-hold", tname[g->o.transport],
	       g->o.indication ? "true" : "false", g->o.allocs, ready, setup_s, g->challenges,
	       g->retransmits);
	lg_stream_describe(g);
	if (pump)
		printf("\"active\":%d,", g->o.active ? g->o.active : g->o.allocs);
	lg_print_errors(g);
	printf(",\"windows\":[");
	/* A few refusals (coturn's SQLite "database is locked" 401s) are reported, not fatal. */
	int rc = bad * 100 > g->o.allocs ? 1 : 0;
	if (pump && ready > 0 && rc == 0) {
		bool first = true;
		for (int s = 0; s < g->o.n_sizes; s++) {
			if (g->o.dir_c2p) {
				rc |= lg_relay_pump(g, true, g->o.sizes[s], first);
				first = false;
			}
			if (g->o.dir_p2c) {
				rc |= lg_relay_pump(g, false, g->o.sizes[s], first);
				first = false;
			}
		}
	}
	printf("],");
	t = lg_now();
	int not_freed = lg_allocs_run(g, true);
	double release_s = lg_now() - t;
	struct timespec wait = { (time_t)g->o.release_wait,
		                 (long)((g->o.release_wait - (long)g->o.release_wait) * 1e9) };
	nanosleep(&wait, NULL);
	long rss2 = lg_proc_rss_kib(pid);
	printf("\"release_seconds\":%.3f,\"not_released\":%d,\"conn_closed\":%ld,"
	       "\"rss_before_kib\":%ld,\"rss_held_kib\":%ld,\"rss_after_kib\":%ld,"
	       "\"rss_per_alloc_kib\":%.3f}\n",
	       release_s, not_freed, g->conn_closed, rss0, rss1, rss2,
	       ready > 0 && rss0 >= 0 ? (double)(rss1 - rss0) / ready : -1.0);
	return rc;
}

static int
parse_addr(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static uint32_t
parse_ip(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "loadgen: bad IPv4 address %s\n", s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

/* Long-only options: codes past every short one, so none can collide. */
enum {
	OPT_TRANSPORT = 0x100,
	OPT_TLS_CA,
	OPT_RSS_WAIT,
	OPT_CYCLES,
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: loadgen binding|relay|alloc-hold|alloc-cycle|soak --server IP:PORT [--pid PID]\n"
	        "  [--secret S] [--duration SEC] [--warmup SEC] [--allocs N] [--active N]\n"
	        "  [--sockets N] [--sizes 100,1000] [--dir c2p|p2c|both] [--indication]\n"
	        "  [--forwarder] [--client-ip IP] [--client-port P] [--client-ports N]\n"
	        "  [--peer-ip IP] [--peer-port P] [--peers N] [--window N] [--batch N]\n"
	        "  [--timeout SEC]\n"
	        "  soak: [--flows N] [--flow-pps R] [--churn-rate R] [--flood-rate R]\n"
	        "  [--flood-ip IP] [--abandon-end SEC] [--lifetime SEC]\n"
	        "  relay, alloc-hold: [--transport udp|tcp|tls] [--tls-ca PEM]\n"
	        "  [--rss-wait SEC]\n"
	        "  alloc-cycle: [--churn-rate R] [--cycles N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct lg g;
	struct lg_opts *o = &g.o;
	o->secret = "s3cret";
	o->duration = 3;
	o->warmup = 0.5;
	o->allocs = 64;
	o->sockets = 8;
	o->sizes[0] = 100;
	o->n_sizes = 1;
	o->dir_c2p = o->dir_p2c = true;
	o->client_ip = parse_ip("127.0.1.1");
	o->client_port = 23000;
	o->client_ports = 1000;
	o->peer_ip = parse_ip("127.0.2.1");
	o->peer_port = 23000;
	o->peers = 8;
	o->window = 128;
	o->batch = 32;
	o->lifetime = 600;
	o->timeout = 60;
	o->flood_ip = parse_ip("127.0.5.1");
	o->abandon_end = -1; /* default: lifetime + 10 s */
	o->release_wait = 2;
	static const struct option lo[] = { { "server", 1, 0, 's' },
		                            { "pid", 1, 0, 'p' },
		                            { "secret", 1, 0, 'S' },
		                            { "duration", 1, 0, 'd' },
		                            { "warmup", 1, 0, 'w' },
		                            { "allocs", 1, 0, 'a' },
		                            { "active", 1, 0, 'A' },
		                            { "sockets", 1, 0, 'k' },
		                            { "sizes", 1, 0, 'z' },
		                            { "dir", 1, 0, 'D' },
		                            { "indication", 0, 0, 'i' },
		                            { "forwarder", 0, 0, 'f' },
		                            { "client-ip", 1, 0, 'c' },
		                            { "client-port", 1, 0, 'C' },
		                            { "client-ports", 1, 0, 'N' },
		                            { "peer-ip", 1, 0, 'e' },
		                            { "peer-port", 1, 0, 'E' },
		                            { "peers", 1, 0, 'P' },
		                            { "window", 1, 0, 'W' },
		                            { "batch", 1, 0, 'b' },
		                            { "timeout", 1, 0, 't' },
		                            { "flows", 1, 0, 'F' },
		                            { "flow-pps", 1, 0, 'r' },
		                            { "churn-rate", 1, 0, 'R' },
		                            { "flood-rate", 1, 0, 'x' },
		                            { "flood-ip", 1, 0, 'X' },
		                            { "abandon-end", 1, 0, 'B' },
		                            { "lifetime", 1, 0, 'L' },
		                            { "transport", 1, 0, OPT_TRANSPORT },
		                            { "tls-ca", 1, 0, OPT_TLS_CA },
		                            { "rss-wait", 1, 0, OPT_RSS_WAIT },
		                            { "cycles", 1, 0, OPT_CYCLES },
		                            { 0, 0, 0, 0 } };
	if (argc < 2)
		usage();
	o->mode = argv[1];
	optind = 2;
	int c;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_addr(optarg, &o->server) < 0)
				usage();
			break;
		case 'p':
			o->server_pid = atoi(optarg);
			break;
		case 'S':
			o->secret = optarg;
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'w':
			o->warmup = atof(optarg);
			break;
		case 'a':
			o->allocs = atoi(optarg);
			break;
		case 'A':
			o->active = atoi(optarg);
			break;
		case 'k':
			o->sockets = atoi(optarg);
			break;
		case 'z': {
			o->n_sizes = 0;
			for (char *t = strtok(optarg, ","); t && o->n_sizes < 4;
			     t = strtok(NULL, ","))
				o->sizes[o->n_sizes++] = atoi(t);
			break;
		}
		case 'D':
			o->dir_c2p = strcmp(optarg, "p2c") != 0;
			o->dir_p2c = strcmp(optarg, "c2p") != 0;
			break;
		case 'i':
			o->indication = true;
			break;
		case 'f':
			o->forwarder = true;
			break;
		case 'c':
			o->client_ip = parse_ip(optarg);
			break;
		case 'C':
			o->client_port = atoi(optarg);
			break;
		case 'N':
			o->client_ports = atoi(optarg);
			break;
		case 'e':
			o->peer_ip = parse_ip(optarg);
			break;
		case 'E':
			o->peer_port = atoi(optarg);
			break;
		case 'P':
			o->peers = atoi(optarg);
			break;
		case 'W':
			o->window = atoi(optarg);
			break;
		case 'b':
			o->batch = atoi(optarg);
			break;
		case 't':
			o->timeout = atof(optarg);
			break;
		case 'F':
			o->flows = atoi(optarg);
			break;
		case 'r':
			o->flow_pps = atof(optarg);
			break;
		case 'R':
			o->churn_rate = atof(optarg);
			break;
		case 'x':
			o->flood_rate = atof(optarg);
			break;
		case 'X':
			o->flood_ip = parse_ip(optarg);
			break;
		case 'B':
			o->abandon_end = atof(optarg);
			break;
		case 'L':
			o->lifetime = atoi(optarg);
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "tls") == 0)
				o->transport = LG_TLS;
			else if (strcmp(optarg, "tcp") == 0)
				o->transport = LG_TCP;
			else if (strcmp(optarg, "udp") != 0)
				usage();
			break;
		case OPT_TLS_CA:
			o->tls_ca = optarg;
			break;
		case OPT_RSS_WAIT:
			o->release_wait = atof(optarg);
			break;
		case OPT_CYCLES:
			o->max_cycles = atol(optarg);
			break;
		default:
			usage();
		}
	}
	bool soak = strcmp(o->mode, "soak") == 0;
	/* Paced cycles (churn beside another measurement) may outlast a 60 s
	 * window: bounded by --cycles, whose count they must give. */
	bool paced = strcmp(o->mode, "alloc-cycle") == 0 && o->churn_rate > 0;
	if (paced && (o->churn_rate > 2000 || o->max_cycles <= 0 || o->max_cycles > 1000000 ||
	              o->duration > 600))
		usage();
	if (o->abandon_end < 0)
		o->abandon_end = o->lifetime + 10;
	/* soak: bounded rates, so the server and the sampler keep CPU on 2 cores. */
	if (soak && (o->flows < 0 || o->flows > 1000 || o->flow_pps < 0 || o->flow_pps > 1000 ||
	             o->churn_rate < 0 || o->churn_rate > 2000 || o->flood_rate < 0 ||
	             o->flood_rate > 1000 || o->duration > 86400 || o->lifetime < 3))
		usage();
	if (!o->server.sin_port || o->duration <= 0 || (o->duration > 60 && !soak && !paced) ||
	    o->max_cycles < 0 || o->allocs < 1 || o->allocs > 15000 || o->active < 0 ||
	    o->active > o->allocs || o->sockets < 1 || o->sockets > 1024 || o->client_ports < 1 ||
	    o->peers < 1 || o->window < 1 || o->batch < 1 || o->batch > LG_BATCH_MAX ||
	    o->timeout <= 0 || o->timeout > 300 || o->release_wait < 0 || o->release_wait > 10)
		usage();
	for (int i = 0; i < o->n_sizes; i++)
		if (o->sizes[i] < 1 || o->sizes[i] > 1400)
			usage();
	/* Streams: the relay modes only (one connection per allocation). */
	if (o->transport != LG_UDP &&
	    (o->forwarder || o->allocs > 1024 ||
	     (strcmp(o->mode, "relay") != 0 && strcmp(o->mode, "alloc-hold") != 0)))
		usage();
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0 || lg_stream_init(&g) < 0)
		return 2;
	if (strcmp(o->mode, "binding") == 0)
		return run_binding(&g);
	if (strcmp(o->mode, "relay") == 0)
		return run_relay(&g, true);
	if (strcmp(o->mode, "alloc-hold") == 0)
		return run_relay(&g, false);
	if (soak)
		return lg_soak(&g);
	if (strcmp(o->mode, "alloc-cycle") == 0) {
		o->allocs = o->sockets;
		if (lg_allocs_open(&g, o->sockets) < 0)
			return 2;
		return lg_alloc_cycle(&g);
	}
	usage();
	return 2;
}
