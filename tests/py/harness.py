"""Shared test harness: run hubgate (import, serve) on a private data directory.

Python standard library only.  The binary comes from $HUBGATE (set by CTest).
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HUBGATE = os.environ.get("HUBGATE", os.path.join(os.path.dirname(__file__), "../../build/hubgate"))


def run(*args, check=True, timeout=300, **kw):
    """Runs `hubgate ARGS`; returns the CompletedProcess (text mode)."""
    p = subprocess.run([HUBGATE, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"hubgate {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p


def import_dir(data, src, repo, *extra):
    """Imports src as a commit of repo; returns the commit id."""
    return run("import", "--data", data, *extra, src, repo).stdout.strip()


class Server:
    """`hubgate serve` on 127.0.0.1 with an ephemeral port; use as a context manager.

    The suites about the protocol serve synthetic files (random bytes named .bin, pickles cut
    short) that the model-file scanner rightly refuses: unless extra names --scan, the server
    runs with --scan off.  test_scan_serving.py tests the scanner in the serving path."""

    def __init__(self, data, *extra):
        self.data = data
        self.extra = extra
        self.proc = None
        self.port = None
        self.log = None

    def __enter__(self):
        self.log = tempfile.NamedTemporaryFile(prefix="hubgate-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [HUBGATE, "serve", "--data", self.data, "--listen", "127.0.0.1:0",
             *([] if "--scan" in self.extra else ["--scan", "off"]),
             *(self.extra if "--upstream" in self.extra else ["--no-upstream", *self.extra])],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on port "):
            self.proc.kill()
            raise AssertionError(f"server did not start: {line!r}; log {self.log.name}")
        self.port = int(line.split()[-1])
        self.base = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "killed: no clean stop within 20 s"
        self.proc.stdout.close()
        self.log.close()
        if exc[0] is None and rc != 0:
            # A clean stop exits 0; anything else (a sanitizer report, a hang) fails the test.
            with open(self.log.name, errors="replace") as f:
                tail = f.read()[-4000:]
            raise AssertionError(f"hubgate serve exited with {rc}; log {self.log.name}:\n{tail}")
        if exc[0] is None:
            os.unlink(self.log.name)
        return False

    def metrics(self):
        """The /metrics counters as a dict."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as r:
            out = {}
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, v = line.rsplit(" ", 1)
                    out[k] = int(v)
            return out


def tempdir(prefix="hubgate-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    return d


def rmtree(d):
    shutil.rmtree(d, ignore_errors=True)


# The Link header parser of huggingface.js (parseLinkHeader).
LINK_RE = re.compile(r'<(https?:[/][/][^>]+)>;\s+rel="([^"]+)"')


class Resp:
    """An answer as a test sees it: status, headers (a dict with lower-cased names, or the
    http.client message where repeated headers matter), body, and whether the body was complete
    (a gateway that aborts a bad download cuts it short)."""

    def __init__(self, status, headers, body, complete=True):
        self.status, self.headers, self.body, self.complete = status, headers, body, complete

    def h(self, name):
        return self.headers.get(name.lower() if isinstance(self.headers, dict) else name)

    def all(self, name):
        """Every value of a header that may be repeated."""
        if isinstance(self.headers, dict):
            v = self.headers.get(name.lower())
            return [v] if v is not None else []
        return self.headers.get_all(name) or []

    def json(self):
        return json.loads(self.body)

    def links(self):
        """rel -> URL from every Link header, parsed as huggingface.js does."""
        return {rel: url for v in self.all("Link") for url, rel in LINK_RE.findall(v)}

    def __repr__(self):
        return "<%s %s %r%s>" % (self.status, self.h("X-Error-Code") or "", self.body[:120],
                                 "" if self.complete else " (cut short)")


def write_tree(root, files):
    """Writes {relative path: bytes} under root (a source folder to import)."""
    for path, data in files.items():
        p = os.path.join(root, *path.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def request(port, method, path, headers=None, body=None, timeout=60):
    """One request on a fresh connection to 127.0.0.1:port.  A body cut short before
    Content-Length gives complete=False; a connection dropped before any answer gives status 0."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        hs = {k.lower(): v for k, v in r.getheaders()}
        try:
            return Resp(r.status, hs, r.read())
        except (http.client.IncompleteRead, ConnectionError, socket.timeout) as e:
            return Resp(r.status, hs, getattr(e, "partial", b""), False)
    except (ConnectionError, http.client.HTTPException, socket.timeout):
        return Resp(0, {}, b"", False)
    finally:
        c.close()
