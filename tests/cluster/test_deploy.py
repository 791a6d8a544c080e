"""The example manifests under deploy/ (docs/cluster.md): every YAML file
parses, each has the shape the docs promise (compose: Redis and two nodes on
host networking; Kubernetes: a DaemonSet with hostNetwork and a Redis
Service the config names), every icestation config in them passes the real
loader (icestation --check-config) with the environment the manifest gives,
and the systemd drop-in verifies with the shipped unit.
No network, no containers: syntax and consistency only.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEPLOY = os.path.join(ROOT, "deploy")
BIN = os.environ.get("ICESTATION_BIN", os.path.join(ROOT, "build-test", "icestation"))


def check_config(path, env):
    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("PEERS_", "TURN_", "ICESTATION_"))}
    full.update(env)
    p = subprocess.run([BIN, "--check-config", "-c", path], env=full, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, f"{path} with {env}:\n{p.stdout}{p.stderr}"
    return p.stdout + p.stderr


def compose_env(value):
    """${VAR:?msg} and ${VAR} of compose, filled with test values."""
    fill = {"TURN_AUTH_SECRET": "0123456789abcdef0123456789abcdef", "PUBLIC_IP": "192.0.2.7"}
    return re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", lambda m: fill[m.group(1)], str(value))


def test_all_parse():
    files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"), recursive=True))
    assert len(files) >= 4, files
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d is not None]
        assert docs, f"{f}: empty"
    return files


def test_compose():
    with open(os.path.join(DEPLOY, "compose", "compose.yml")) as f:
        c = yaml.safe_load(f)
    svc = c["services"]
    assert set(svc) == {"redis", "node-a", "node-b"}, svc.keys()
    assert "--save" in svc["redis"]["command"] and "127.0.0.1" in svc["redis"]["command"]
    ids, ports = set(), set()
    for name in ("node-a", "node-b"):
        n = svc[name]
        assert n["network_mode"] == "host" and n["depends_on"] == ["redis"]
        assert n["build"]["dockerfile"] == "deploy/compose/Dockerfile"
        assert os.path.exists(os.path.join(DEPLOY, "compose", n["build"]["context"],
                                           n["build"]["dockerfile"]))
        env = {k: compose_env(v) for k, v in n["environment"].items()}
        ids.add(env["ICESTATION_NODE_ID"])
        ports.add(env["ICESTATION_PORT"])
        check_config(os.path.join(DEPLOY, "compose", "conf", "peers.yml"), env)
    assert len(ids) == 2 and len(ports) == 2, "two distinct nodes"


def test_kubernetes(tmp):
    with open(os.path.join(DEPLOY, "kubernetes", "icestation-cluster.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    ds = by_kind["DaemonSet"][0]
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    svc = [s for s in by_kind["Service"] if s["metadata"]["name"] == "redis"][0]
    ns = svc["metadata"]["namespace"]
    assert by_kind["Deployment"][0]["spec"]["template"]["metadata"]["labels"] == \
        svc["spec"]["selector"], "the Service selects the Redis pods"
    peers = by_kind["ConfigMap"][0]["data"]["peers.yml"]
    assert f"redis://redis.{ns}.svc.cluster.local:6379/0" in peers
    # The secret files the config names are the ones the DaemonSet mounts.
    mount = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "secret"][0]
    secdir = os.path.join(tmp, "secret")
    os.makedirs(secdir)
    for key in ("turn-secret", "redis-password"):
        assert f"{mount['mountPath']}/{key}" in peers
        with open(os.path.join(secdir, key), "w") as f:
            f.write("0123456789abcdef0123456789abcdef\n")
        os.chmod(os.path.join(secdir, key), 0o600)
    path = os.path.join(tmp, "k8s-peers.yml")
    with open(path, "w") as f:
        f.write(peers.replace(mount["mountPath"], secdir))
    env = {"ICESTATION_NODE_ID": "k8s-node-1", "PEERS_TURN_PUBLIC_IP": "192.0.2.10",
           "PEERS_STUN_PUBLIC_IP": "192.0.2.10", "PEERS_DOMAIN": "turn.example.org"}
    names = {e["name"] for e in spec["containers"][0]["env"]}
    assert set(env) <= names, f"the DaemonSet sets {names}"
    check_config(path, env)


def test_systemd(tmp):
    dropin = os.path.join(DEPLOY, "systemd", "icestation.service.d", "cluster.conf")
    unit_dir = os.path.join(tmp, "units")
    os.makedirs(os.path.join(unit_dir, "icestation.service.d"))
    with open(os.path.join(ROOT, "systemd", "icestation.service")) as f:
        # install replaces @SBINDIR@ with the daemon's directory.
        unit = f.read().replace("@SBINDIR@/icestation", BIN)
    with open(os.path.join(unit_dir, "icestation.service"), "w") as f:
        f.write(unit)
    shutil.copy(dropin, os.path.join(unit_dir, "icestation.service.d"))
    # verify runs man for each Documentation=man: page; give it ours.
    man = os.path.join(tmp, "man", "man8")
    os.makedirs(man)
    for page in os.listdir(os.path.join(ROOT, "man")):
        shutil.copy(os.path.join(ROOT, "man", page), man)
    p = subprocess.run(["systemd-analyze", "verify", os.path.join(unit_dir, "icestation.service")],
                       env=dict(os.environ, SYSTEMD_UNIT_PATH=unit_dir + ":",
                                MANPATH=os.path.join(tmp, "man")),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "cluster.conf" not in p.stdout + p.stderr, p.stdout + p.stderr

    # cluster.yml with the shipped tree, the environment the drop-in sets.
    env = dict(re.findall(r"^Environment=(\w+)=(.*)$", open(dropin).read(), re.M))
    assert {"ICESTATION_REDIS_URL", "ICESTATION_REDIS_PASSWORD_FILE"} <= set(env), env
    pw = os.path.join(tmp, "redis-password")
    with open(pw, "w") as f:
        f.write("pw\n")
    os.chmod(pw, 0o600)
    env["ICESTATION_REDIS_PASSWORD_FILE"] = pw  # %d/redis-password at run time
    env["TURN_AUTH_SECRET"] = "0123456789abcdef0123456789abcdef"
    conf = os.path.join(ROOT, "conf")
    main = os.path.join(tmp, "peers.yml")
    with open(main, "w") as f:
        f.write("peers:\n  includes: " + ", ".join(
            [os.path.join(conf, n) for n in ("log.yml", "sub_stun.yml", "sub_turn.yml")] +
            [os.path.join(DEPLOY, "systemd", "cluster.yml")]) + "\n")
    check_config(main, env)


def main():
    files = test_all_parse()
    tmp = tempfile.mkdtemp(prefix="icedeploy-")
    try:
        test_compose()
        test_kubernetes(tmp)
        test_systemd(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"deploy: {len(files)} YAML files parse; compose, Kubernetes and systemd check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
