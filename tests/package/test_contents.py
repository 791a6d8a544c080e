"""The built .deb, unpacked into a scratch root with `dpkg -x`: its file list
against cmake/install.cmake's lists, its conffiles, its maintainer scripts,
and the packaged binary's --check-config on the packaged config.
Installing it for real (maintainer scripts, the unit) is install_deb.sh's
job, in a booted container.

Usage: test_contents.py DEBDIR EXPECTED_FILES EXPECTED_CONFFILES"""

import os
import re
import stat
import subprocess
import sys
import tempfile

passed = failures = 0


def check(cond, what, detail=""):
    global passed, failures
    if cond:
        passed += 1
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}" + (f"\n     {detail}" if detail else ""))


def lines(path):
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip()]


def find_deb(debdir):
    debs = [f for f in os.listdir(debdir)
            if f.startswith("icestation_") and f.endswith(".deb")]
    if len(debs) != 1:
        sys.exit(f"expected one icestation_*.deb in {debdir}, found {debs}")
    return os.path.join(debdir, debs[0])


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], check=True,
                          capture_output=True, text=True).stdout.strip()


def installed_files(root):
    """Regular files under root, relative; dh_compress may gzip docs."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), root)
            out[rel] = os.lstat(os.path.join(d, f)).st_mode
    return out


def test_files(root, expected):
    files = installed_files(root)
    # Man pages must be gzipped (policy 12.1); other docs may be.
    got = set()
    for rel in files:
        if rel.startswith("usr/share/man/"):
            check(rel.endswith(".gz"), f"{rel} is compressed")
            rel = rel[:-3]
        elif rel.startswith("usr/share/doc/") and rel.endswith(".gz"):
            rel = rel[:-3]
        got.add(rel)
    want = set(expected)
    check(got == want, "the package holds exactly the files install.cmake names",
          f"missing {sorted(want - got)}, unexpected {sorted(got - want)}")
    for rel, mode in files.items():
        exe = rel.startswith("usr/sbin/")
        check(stat.S_IMODE(mode) == (0o755 if exe else 0o644),
              f"{rel} mode {stat.S_IMODE(mode):04o}")
    check(not os.path.exists(os.path.join(root, "etc/icestation/secret")),
          "no secret is shipped: each install makes its own")


def test_unit(root):
    unitdir = os.path.join(root, "lib/systemd/system")
    for u in os.listdir(unitdir):
        text = open(os.path.join(unitdir, u)).read()
        left = re.findall(r"@[A-Z_]+@", text)
        check(not left, f"{u}: every @VAR@ replaced", f"left: {left}")
        execs = re.findall(r"(?m)^Exec\w+=[-@+!:]*(\S+)", text)
        for e in execs:
            check(os.path.exists(os.path.join(root, e.lstrip("/"))) or os.path.exists(e),
                  f"{u}: {e} exists in the package or on the system")


def test_control(deb, ctrl, conffiles):
    check(lines(os.path.join(ctrl, "conffiles")) == sorted(conffiles),
          "conffiles are exactly the config tree",
          f"got {lines(os.path.join(ctrl, 'conffiles'))}")
    for s in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctrl, s)
        check(os.path.isfile(p) and os.access(p, os.X_OK), f"{s} is there and executable")
        r = subprocess.run(["sh", "-n", p], capture_output=True, text=True)
        check(r.returncode == 0, f"{s} parses (sh -n)", r.stderr)
        check(re.search(r"(?m)^set -e$", open(p).read()) is not None, f"{s} runs with set -e")
    post = open(os.path.join(ctrl, "postinst")).read()
    mk = post.find('>"$confdir/secret.dpkg-new"')
    start = post.find("deb-systemd-invoke $_dh_action")
    check(0 <= mk < start,
          "postinst makes the secret before debhelper's part starts the unit "
          "(LoadCredential= fails without it)")
    check(re.search(r'if \[ ! -e "\$confdir/secret" \]', post) is not None,
          "postinst writes the secret only when there is none")
    postrm = open(os.path.join(ctrl, "postrm")).read()
    purge = postrm.split("purge)", 1)
    check(len(purge) == 2 and "secret" in purge[1].split(";;", 1)[0]
          and "secret" not in purge[0].split("case", 1)[-1],
          "postrm deletes the secret on purge only")
    check(re.search(r"systemd \| systemd-standalone-sysusers", field(deb, "Depends")) is not None,
          "Depends names systemd-sysusers' package (postinst calls it)")


def test_binary(deb, root):
    binary = os.path.join(root, "usr/sbin/icestation")
    conf = os.path.join(root, "etc/icestation/peers.yml")
    r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    check(r.stdout.strip() == "icestation/" + field(deb, "Version"),
          "--version matches the package version", r.stdout + r.stderr)
    env = {k: v for k, v in os.environ.items()
           if k not in ("TURN_AUTH_SECRET", "TURN_AUTH_SECRET_FILE")}
    r = subprocess.run([binary, "--check-config", "-c", conf], env=env,
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "no auth secret" in r.stderr,
          "--check-config on the packaged config refuses it without a secret", r.stderr)
    with tempfile.TemporaryDirectory() as d:
        secret = os.path.join(d, "secret")
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, os.urandom(32).hex().encode() + b"\n")
        os.close(fd)
        env["TURN_AUTH_SECRET_FILE"] = secret
        r = subprocess.run([binary, "--check-config", "-c", conf], env=env,
                           capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and f"configuration {conf} is valid" in r.stderr,
          "--check-config accepts the packaged config with the secret file the unit "
          "hands over", r.stderr)


def main():
    debdir, expected_path, conffiles_path = sys.argv[1:4]
    deb = find_deb(debdir)
    with tempfile.TemporaryDirectory() as scratch:
        root, ctrl = os.path.join(scratch, "root"), os.path.join(scratch, "DEBIAN")
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
        subprocess.run(["dpkg-deb", "-e", deb, ctrl], check=True)
        test_files(root, lines(expected_path))
        test_unit(root)
        test_control(deb, ctrl, lines(conffiles_path))
        test_binary(deb, root)
    print(f"{passed} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
