"""Who can reach the ICE API (docs/api.md, "Where it listens"). With no
http.listen key the API listens on 127.0.0.1:8080 only: reachable on
loopback, refused on the host's other address, and no warning. Listening on
0.0.0.0 with neither bearer-tokens nor an identity-header logs one warning
at start; either of those silences it.

Runs in a network namespace of its own (netns.py) with an interface holding
192.0.2.2, so port 8080 cannot clash with a developer's `make run` and the
wildcard listener is reachable from nowhere else. Ports 8080 (namespace
only), 17020-17029."""

import socket
import sys

import netns
from icetest import Daemon

OTHER = "192.0.2.2"
WARNING = "with neither bearer-tokens nor an identity-header"


def connects(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


def default_listen():
    d = Daemon(http_port=8080, stun_port=17021)
    # The harness always writes http.listen: take it out, so the default is
    # what the daemon uses.
    with open(d.config_path) as f:
        text = f.read()
    assert 'listen: "127.0.0.1:8080"' in text, text
    with open(d.config_path, "w") as f:
        f.write(text.replace('listen: "127.0.0.1:8080"', 'enabled: true'))
    with d:
        assert connects("127.0.0.1", 8080)
        assert not connects(OTHER, 8080), "the default listen is not loopback only"
        assert WARNING not in d.log(), d.log()
    print("default: 127.0.0.1:8080 only, no warning")


def exposed(port, http_extra, warn):
    extra = dict(http_extra)
    with Daemon(http_port=port, stun_port=port + 1, http_listen=f"0.0.0.0:{port}",
                http_extra=extra) as d:
        assert connects(OTHER, port), "0.0.0.0 not reachable on the other address"
        assert (WARNING in d.log()) == warn, d.log()
        if warn:
            assert d.log().count(WARNING) == 1, d.log()
            assert f"0.0.0.0:{port}" in d.log()
    print(f"0.0.0.0 with {sorted(http_extra) or 'no access control'}: "
          f"{'warning' if warn else 'no warning'}")


def main():
    netns.enter(outward=OTHER)
    default_listen()
    exposed(17022, {}, True)
    exposed(17024, {"bearer-tokens": ["t" * 32]}, False)
    exposed(17026, {"identity-header": "X-Peers-User-DID"}, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
