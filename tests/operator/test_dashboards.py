"""The Prometheus companions (issue 17): deploy/grafana/icestation.json and
deploy/prometheus/alerts.yml against a live daemon (with TLS, so the
certificate's expiry is a real date; the cluster metrics are registered on
every daemon, with or without a cluster section).

- Every metric either file names is in the daemon's /metrics, and every
  label a selector matches on exists in that family (with the value, for
  an equality); `up` is Prometheus's own.
- `promtool check rules` (Debian's prometheus package) accepts the rules.
- A real Prometheus (the same package, on 127.0.0.1) scrapes the daemon
  every second with the rules loaded: every rule evaluates without error;
  the test then causes what the alerts are about and each one goes pending
  or firing: a certificate that expires in 7 days, a reload refused, bad
  credentials at more than the rule's rate, 486 (a per-user quota of 1)
  and 508 (a relay range of 2 ports). The cluster alert goes pending for a
  second daemon whose cluster's Redis never answers, and stays silent for
  the first, which has no cluster, although its redis_up is 0 too; once
  the first daemon is stopped, the daemon-down alert goes pending for it.
- Every query of the dashboard (Grafana's variables put in) returns data
  from that Prometheus.
Ports 8400-8411, relay 8800-8803."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

from icetest import Daemon, wait_for
from opnet import make_cert
from turnclient import TurnClient, TurnError

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "icestation.json")
HTTP, PORT, TLS, PROM = 8400, 8401, 8402, 8410
HTTP2, PORT2, NO_REDIS = 8403, 8404, 8411  # a cluster node whose Redis never answers
PROMETHEUS_OWN = {"up"}
EXPECTED = ("IcestationCertificateExpiresSoon", "IcestationReloadFailed", "IcestationAuthFailures",
            "IcestationQuotaReached", "IcestationInsufficientCapacity")


def rule_exprs():
    with open(ALERTS) as f:
        doc = yaml.safe_load(f)
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            out.append(re.sub(r"label_values\((\w+), \w+\)", r"\1", v["query"]["query"]))
    return out


def grafana_to_promql(expr):
    """Grafana's variables as Prometheus would receive them."""
    return expr.replace("$__rate_interval", "1m").replace('instance=~"$instance"',
                                                          'instance=~".*"')


def families(metrics_text):
    """{family: [ {label: value} ]} from /metrics."""
    fam = {}
    for line in metrics_text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? \S+$", line)
        assert m, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        fam.setdefault(m.group(1), []).append(labels)
    return fam


def check_names(exprs, fam):
    """Every icestation_* name is exported; every selector's labels exist."""
    named = set()
    for expr in exprs:
        for name in re.findall(r"\b(icestation_[a-z0-9_]+)\b", expr):
            named.add(name)
            assert name in fam, f"{name} (in {expr!r}) is not in /metrics"
        for name, body in re.findall(r"\b(icestation_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', body):
                if label in ("instance", "job"):
                    continue  # Prometheus's target labels
                have = [s[label] for s in fam[name] if label in s]
                assert have, f"{name} has no label {label} (in {expr!r})"
                if op == "=":
                    assert value in have, f"{name}{{{label}=\"{value}\"}} is not exported"
                if op in ("=~", "!~"):
                    for alt in value.split("|"):
                        assert alt in have, f"{name}: no {label}={alt} (in {expr!r})"
        for name in re.findall(r"\b([a-z_]+)\{job=", expr):
            assert name in PROMETHEUS_OWN or name in fam, name
    return named


class Prometheus:
    def __init__(self, work):
        self.work = work
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            yaml.safe_dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [ALERTS],
                "scrape_configs": [{"job_name": "icestation", "static_configs": [
                    {"targets": [f"127.0.0.1:{HTTP}", f"127.0.0.1:{HTTP2}"]}]}],
            }, f)
        self.log = open(os.path.join(work, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/prometheus", f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{PROM}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 60, interval=0.2, what="prometheus ready")

    def ready(self):
        assert self.proc.poll() is None, f"prometheus exited:\n{self.logtext()}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PROM}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def logtext(self):
        with open(os.path.join(self.work, "prometheus.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def api(self, path, **params):
        url = f"http://127.0.0.1:{PROM}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def alerts(self, port):
        """{alertname: state} of the target on port (and of no target)."""
        return {a["labels"]["alertname"]: a["state"] for a in self.api("alerts")["alerts"]
                if a["labels"].get("instance", f"127.0.0.1:{port}") == f"127.0.0.1:{port}"}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def refused(name, password, code):
    """One Allocate that the daemon must refuse with code."""
    c = TurnClient(("127.0.0.1", PORT), name, password)
    try:
        c.allocate()
        raise AssertionError(f"an Allocate that should get {code} succeeded")
    except TurnError as e:
        assert e.code == code, (e.code, code)
    finally:
        c.close()


def cause_alerts(d):
    """What the alerts are about, caused for real."""
    # A reload of a broken tree: refused (422), the old configuration stays.
    path = os.path.join(d.dir, "sub_turn.yml")
    good = open(path).read()
    with open(path, "w") as f:
        f.write("peers: [this is: not a mapping\n")
    status, body = d.admin("POST", "/admin/v1/reload")
    assert status == 422, (status, body)
    with open(path, "w") as f:
        f.write(good)
    # Credentials with a wrong password: 401 bad_integrity. rate() over the
    # rule's 5 minutes must pass 1/s, so more than 300 of them.
    name, _ = d.turn_credentials("did:peers:guesser")
    for _ in range(400):
        refused(name, "not-the-password", 401)
    # 486: a second allocation of a user limited to one; more than 0.1/s
    # over the rule's 5 minutes.
    held = []
    name, pw = d.turn_credentials("did:peers:quota")
    held.append(TurnClient(("127.0.0.1", PORT), name, pw))
    held[-1].allocate()
    for _ in range(40):
        refused(name, pw, 486)
    # 508: the relay range has two ports; the second allocation takes the
    # last one and the next ones find none.
    for i in range(6):
        name, pw = d.turn_credentials(f"did:peers:filler{i}")
        c = TurnClient(("127.0.0.1", PORT), name, pw)
        try:
            c.allocate()
            held.append(c)
        except TurnError as e:
            assert e.code == 508 and i >= 1, (i, e.code)
            c.close()
    return held


def main():
    exprs = list(rule_exprs().values()) + dashboard_exprs()
    r = subprocess.run(["promtool", "check", "rules", ALERTS], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "SUCCESS: 8 rules found" in r.stdout, r.stdout + r.stderr

    work = tempfile.mkdtemp(prefix="icestation-dashboards-")
    cert, key = make_cert(work, ["DNS:localhost", "IP:127.0.0.1"], days=7)
    d = Daemon(http_port=HTTP, stun_port=PORT,
               stun_extra={"rate-limit": {"requests-per-second": 0}},
               turn_extra={"transports": ["udp", "tcp", "tls"],
                           "tls": {"port": TLS, "cert": cert, "key": key},
                           "relay-port-range": "8800-8801", "max-allocations-per-user": 1})
    # Its cluster's Redis is a port where nothing listens: it keeps trying.
    d2 = Daemon(http_port=HTTP2, stun_port=PORT2, turn_extra={"relay-port-range": "8802-8803"},
                server_extra={"cluster": {"enabled": True, "node-id": "lonely",
                                          "redis": f"redis://127.0.0.1:{NO_REDIS}/0"}})
    prom = held = None
    try:
        d.start()
        d2.start()
        status, _, body = d.http("/metrics")
        assert status == 200
        fam = families(body.decode())
        named = check_names(exprs, fam)
        assert len(named) >= 20, named  # the files name the families, not a handful
        assert fam["icestation_cluster_redis_up"] == [{}], "cluster metrics are not registered"

        prom = Prometheus(work)
        wait_for(lambda: len(prom.query('up{job="icestation"} == 1')) == 2, 30, interval=0.5,
                 what="Prometheus scraping both daemons")
        held = cause_alerts(d)
        # Two rule evaluations later every alert the test caused is there.
        wait_for(lambda: all(a in prom.alerts(HTTP) for a in EXPECTED), 60, interval=0.5,
                 what=f"alerts {EXPECTED}")
        wait_for(lambda: "IcestationClusterRedisDown" in prom.alerts(HTTP2), 60, interval=0.5,
                 what="the Redis alert of the node whose Redis never answers")
        alerts = prom.alerts(HTTP)
        for name in ("IcestationClusterRedisDown", "IcestationDown", "IcestationMissing"):
            assert name not in alerts, alerts
        assert set(prom.alerts(HTTP2)) == {"IcestationClusterRedisDown"}, prom.alerts(HTTP2)
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        assert len(rules) == 8 and all(r["health"] == "ok" for r in rules), \
            [(r["name"], r.get("lastError")) for r in rules]
        for expr in dashboard_exprs():
            assert prom.query(grafana_to_promql(expr)), f"no data for {expr!r}"

        for c in held:
            c.close()
        held = None
        d.stop()
        wait_for(lambda: prom.alerts(HTTP).get("IcestationDown"), 30, interval=0.5,
                 what="the daemon-down alert")
        assert "IcestationDown" not in prom.alerts(HTTP2), prom.alerts(HTTP2)
        d2.stop()
    finally:
        for c in held or []:
            c.close()
        if prom is not None:
            prom.stop()
        for x in (d, d2):
            if x.proc is not None:
                x.kill()
                print(x.log())
            x.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print("PASS test_dashboards")


if __name__ == "__main__":
    main()
