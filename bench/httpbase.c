/*
 * The ICE-API baseline: a bare libevent evhttp server, one event loop, that
 * answers every request with 200 and a constant JSON body of a given size
 * (the size of icestation's /api/v1/turn/ice-servers answer), so wrk can
 * measure what evhttp itself costs. Runs until SIGTERM/SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static char *body;
static size_t body_len;

static void
handle(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "private, max-age=3600");
	evbuffer_add(out, body, body_len);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: httpbase IP PORT BODY_BYTES\n");
		return 2;
	}
	int port = atoi(argv[2]);
	long n = atol(argv[3]);
	if (port < 1 || port > 65535 || n < 2 || n > 1 << 20)
		return 2;
	body_len = (size_t)n;
	body = malloc(body_len);
	if (!body)
		return 1;
	/* A valid JSON string of exactly body_len bytes. */
	memset(body, 'x', body_len);
	body[0] = '"';
	body[body_len - 1] = '"';
	struct event_base *base = event_base_new();
	struct evhttp *http = base ? evhttp_new(base) : NULL;
	if (!http || evhttp_bind_socket(http, argv[1], (uint16_t)port) < 0) {
		fprintf(stderr, "httpbase: cannot listen on %s:%d\n", argv[1], port);
		return 1;
	}
	evhttp_set_gencb(http, handle, NULL);
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	printf("ready\n");
	fflush(stdout);
	event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
	evhttp_free(http);
	event_base_free(base);
	free(body);
	return 0;
}
