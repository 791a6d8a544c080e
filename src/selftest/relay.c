/*
 * The self-test's relay steps: the peer socket, a UDP socket on the relay
 * address at a free port of relay-port-range (the peer policy admits the
 * server's own address only there: "another allocation on this server",
 * which is also how two relayed clients of this server reach each other),
 * a Send indication from the client that must reach it intact from the
 * relayed address, and a datagram from it that must come back intact as a
 * Data indication. Datagrams are sent again every PROBE_RESEND_MS until
 * they arrive or the step's deadline passes.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "conn.h"
#include "probe.h"

/* Send the payload of the running relay step (again). */
void
probe_send_relayed(struct st_probe *p)
{
	uint8_t buf[ST_FRAME_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	int n;

	if (p->phase == PH_TO_PEER) {
		n = st_msg_send_ind(&p->peer, p->out, sizeof(p->out), buf, sizeof(buf));
		if (n < 0 || st_conn_send(p->conn, buf, (size_t)n) < 0) {
			probe_fail(p, "cannot send the Send indication");
			return;
		}
	} else {
		len = ice_addr_to_sockaddr(&p->relay_src, &ss);
		(void)sendto(p->peer_fd, p->back, sizeof(p->back), 0, (struct sockaddr *)&ss, len);
	}
	probe_arm(p, PROBE_RESEND_MS);
}

static void
on_peer_read(evutil_socket_t fd, short what, void *arg)
{
	struct st_probe *p = arg;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	uint8_t buf[ST_FRAME_MAX];
	char a[ICE_ADDR_STRLEN], b[ICE_ADDR_STRLEN];
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sslen);
	struct ice_addr src;

	(void)what;
	if (n < 0 || p->phase != PH_TO_PEER || ice_addr_from_sockaddr(&src, (void *)&ss) < 0)
		return;
	if ((size_t)n != sizeof(p->out) || memcmp(buf, p->out, sizeof(p->out)) != 0) {
		probe_fail(p, "the peer socket received %zd bytes that are not the %zu sent", n,
		           sizeof(p->out));
		return;
	}
	p->relay_src = src;
	evtimer_del(p->ev_timer);
	if (ice_addr_equal(&src, &p->relayed))
		st_step_end(p->step, ST_OK, "%zu bytes arrived intact from the relayed address %s",
		            sizeof(p->out), ice_addr_str(&src, a, sizeof(a)));
	else
		st_step_end(p->step, ST_OK,
		            "%zu bytes arrived intact from %s, the relay's local address (the "
		            "relayed address %s is a NAT's: the NAT must map it there)",
		            sizeof(p->out), ice_addr_str(&src, a, sizeof(a)),
		            ice_addr_str(&p->relayed, b, sizeof(b)));
	probe_next(p);
}

/* A UDP socket on the relay address at a free relay port. 0 or -errno. */
int
probe_peer_open(struct st_probe *p)
{
	const struct ice_config_turn *tc = &p->t->cfg->turn;
	uint32_t span = (uint32_t)tc->relay_port_max - tc->relay_port_min + 1, start = 0;
	struct sockaddr_storage ss;
	int err = EADDRINUSE;

	(void)getrandom(&start, sizeof(start), 0);
	p->peer_fd =
		socket(p->t->plan.peer_ip.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->peer_fd < 0)
		return -errno;
	for (uint32_t i = 0; i < ICE_MIN(span, (uint32_t)PROBE_PEER_PORT_TRIES); i++) {
		socklen_t len;

		p->peer = p->t->plan.peer_ip;
		p->peer.port = (uint16_t)(tc->relay_port_min + (start + i) % span);
		len = ice_addr_to_sockaddr(&p->peer, &ss);
		if (bind(p->peer_fd, (struct sockaddr *)&ss, len) == 0) {
			p->ev_peer = event_new(p->t->base, p->peer_fd, EV_READ | EV_PERSIST,
			                       on_peer_read, p);
			if (p->ev_peer == NULL || event_add(p->ev_peer, NULL) < 0)
				return -ENOMEM;
			return 0;
		}
		err = errno;
		if (err != EADDRINUSE && err != EACCES)
			break;
	}
	return -err;
}

void
probe_on_data(struct st_probe *p, const struct stun_msg *m)
{
	struct ice_addr from;
	const uint8_t *data;
	size_t len;
	char a[ICE_ADDR_STRLEN];

	if (p->phase != PH_TO_CLIENT || st_msg_data_ind(m, &from, &data, &len) < 0)
		return;
	if (!ice_addr_equal(&from, &p->peer) || len != sizeof(p->back) ||
	    memcmp(data, p->back, len) != 0) {
		probe_fail(p,
		           "a Data indication came from %s with %zu bytes that are not the peer's",
		           ice_addr_str(&from, a, sizeof(a)), len);
		return;
	}
	evtimer_del(p->ev_timer);
	st_step_end(p->step, ST_OK, "%zu bytes came back intact in a Data indication from %s", len,
	            ice_addr_str(&from, a, sizeof(a)));
	probe_next(p);
}
