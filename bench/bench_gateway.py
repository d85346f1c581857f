#!/usr/bin/env python3
"""bench_gateway.py [SIZE_MiB] - the pull-through gateway against a fake upstream, in one run.

Measures, with the anchor beside hubgate in the same run (these machines are shared and noisy):
  - cold time to first byte: a client going to the (fake) Hub directly (HEAD, 302, CDN GET)
    vs the same client through hubgate (one GET), median of REPS, on files never seen before;
  - upstream body bytes / file bytes with 1, 16 and 64 concurrent cold clients (curl);
  - warm throughput of the cached file through hubgate vs nginx serving the same bytes
    (bench_sink, 1 and 8 connections);
  - the blocking scanner on cold downloads: a pickle (held until judged) and a safetensors file
    (judged by its header) through a gateway with --scan block vs one with --scan off.
The fake upstream is tests/py/fakehub.py (Python: its own speed is not what is measured).
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
HUBGATE = os.environ.get("HUBGATE", os.path.join(ROOT, "build", "hubgate"))
SINK = os.environ.get("SINK", os.path.join(ROOT, "build", "bench_sink"))
os.environ.setdefault("HUBGATE", HUBGATE)
import fakehub  # noqa: E402
import pickle  # noqa: E402
import struct  # noqa: E402

REPS = int(os.environ.get("REPS", "3"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ttfb(url, method="GET", headers=None):
    """Seconds until the status line and the first body byte arrived; (seconds, response)."""
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.request(method, u.path + ("?" + u.query if u.query else ""), headers=headers or {})
    r = c.getresponse()
    if method == "GET":
        r.read(1)
    took = time.perf_counter() - t0
    hdrs = dict((k.lower(), v) for k, v in r.getheaders())
    if method == "GET":
        while r.read(1 << 20):
            pass
    c.close()
    return took, r.status, hdrs


def safetensors(n):
    """A valid safetensors file of about n bytes with random tensor bytes: random bytes named
    .safetensors are judged by what they look like, and about 3 % of them look like a bad header
    or a pickle and are blocked (--scan block is the default)."""
    body = n - 128
    hdr = json.dumps({"w": {"dtype": "U8", "shape": [body], "data_offsets": [0, body]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
    return struct.pack("<Q", len(hdr)) + hdr + os.urandom(body)


class Gateway:
    def __init__(self, work, upstream, *extra, name="gw"):
        self.data = os.path.join(work, name)
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = subprocess.Popen([HUBGATE, "serve", "--data", self.data, "--listen", "127.0.0.1:0",
                                      "--upstream", upstream, "--threads", "2", *extra],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[-1])
        self.base = "http://127.0.0.1:%d" % self.port

    def metrics(self):
        out = {}
        with urllib.request.urlopen(self.base + "/metrics") as r:
            for line in r.read().decode().splitlines():
                if line and not line.startswith("#"):
                    k, v = line.rsplit(" ", 1)
                    out[k] = int(v)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.log.close()


def main():
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    size = size_mib << 20
    base = "/dev/shm" if os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 6 * size else None
    work = tempfile.mkdtemp(prefix="hubgate-bench-gw-", dir=base)
    hub = fakehub.FakeHub()
    gw = nginx = None
    try:
        # Distinct files: every cold measurement needs bytes the gateway has never seen.
        cold_ttfb = ["ttfb%d.safetensors" % i for i in range(2 * REPS)]
        conc = {n: "conc%d.safetensors" % n for n in (1, 16, 64)}
        small = 16 << 20
        files = {p: safetensors(small) for p in cold_ttfb}
        files.update({p: safetensors(small * 2) for p in conc.values()})
        cold_range = ["range%d.safetensors" % i for i in range(2 * REPS)]
        files.update({p: safetensors(small * 4) for p in cold_range})
        files["big.safetensors"] = safetensors(size)
        scan_mib = max(16, size_mib // 4)
        for mode in ("block", "off"):
            for i in range(REPS):
                files["scan-%s-%d.pkl" % (mode, i)] = pickle.dumps({"w": os.urandom(scan_mib << 20)}, protocol=4)
                files["scan-%s-%d.safetensors" % (mode, i)] = safetensors(scan_mib << 20)
        print("building the fake upstream (%d MiB)..." % (sum(map(len, files.values())) >> 20), flush=True)
        commit = hub.add_repo("bench/model", files=files, xet=False)
        gw = Gateway(work, hub.url)

        # 1. cold TTFB: direct (HEAD on the Hub, then GET the CDN Location) vs through hubgate.
        direct, via = [], []
        for i in range(REPS):
            p = cold_ttfb[2 * i]
            t_head, st, h = ttfb("%s/bench/model/resolve/%s/%s" % (hub.url, commit, p), "HEAD")
            t_get, st2, _ = ttfb(h["location"])
            assert st == 302 and st2 == 200, (st, st2)
            direct.append(t_head + t_get)
            t, st, _ = ttfb("%s/bench/model/resolve/%s/%s" % (gw.base, commit, cold_ttfb[2 * i + 1]))
            assert st == 200, st
            via.append(t)
        d, v = statistics.median(direct), statistics.median(via)
        print("\ncold time to first byte (16 MiB files, median of %d)" % REPS)
        print("  directly from the upstream (HEAD + 302 + CDN GET): %7.1f ms" % (d * 1000))
        print("  through hubgate (one GET):                         %7.1f ms   ratio %.2f" % (v * 1000, v / d))

        # 1b. a cold Range at 3/4 of a 64 MiB file over a 100 MB/s upstream: fetched first.
        a = small * 3
        rng = {"Range": "bytes=%d-%d" % (a, a + (1 << 20) - 1)}
        hub.faults.slow_bps = 100e6
        direct, via, done = [], [], []
        for i in range(REPS):
            t_head, st, h = ttfb("%s/bench/model/resolve/%s/%s" % (hub.url, commit, cold_range[2 * i]), "HEAD")
            t_get, st2, _ = ttfb(h["location"], headers=rng)
            assert st == 302 and st2 == 206, (st, st2)
            direct.append(t_head + t_get)
            t0 = time.perf_counter()
            t, st, _ = ttfb("%s/bench/model/resolve/%s/%s" % (gw.base, commit, cold_range[2 * i + 1]), headers=rng)
            assert st == 206, st
            via.append(t)
            done.append(time.perf_counter() - t0)
        hub.faults.slow_bps = None
        d, v = statistics.median(direct), statistics.median(via)
        print("\ncold Range of 1 MiB at 48 MiB into a 64 MiB file, upstream at 100 MB/s (median of %d)" % REPS)
        print("  directly from the upstream (HEAD + 302 + CDN Range): %7.1f ms" % (d * 1000))
        print("  through hubgate, first byte (region fetched first):  %7.1f ms   ratio %.2f" % (v * 1000, v / d))
        print("  through hubgate, last byte (after the whole file verified): %7.1f ms" % (statistics.median(done) * 1000))

        # 2. upstream bytes per file byte with N concurrent cold clients.
        print("\nupstream body bytes / file bytes, N concurrent cold clients (32 MiB file, curl)")
        for n, p in conc.items():
            before = gw.metrics().get("hubgate_upstream_body_bytes_total", 0)
            hub.reset_counters()
            url = "%s/bench/model/resolve/%s/%s" % (gw.base, commit, p)
            procs = [subprocess.Popen(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url],
                                      stdout=subprocess.PIPE, text=True) for _ in range(n)]
            got = [int(pr.communicate()[0] or 0) for pr in procs]
            assert all(g == len(files[p]) for g in got), "a client got a short body"
            up = gw.metrics().get("hubgate_upstream_body_bytes_total", 0) - before
            fake = hub.counters["cdn_bytes"] + hub.counters["resolve_bytes"] + hub.counters["xorb_bytes"]
            print("  N=%-3d gateway counter %.3f   fake upstream counter %.3f" % (n, up / len(files[p]), fake / len(files[p])))

        # 3. warm throughput vs nginx on the same bytes.
        path = "/bench/model/resolve/%s/big.safetensors" % commit
        t, st, _ = ttfb(gw.base + path)  # warms the cache
        for _ in range(200):  # ingested (and kept as a plain copy) just after the last byte went out
            if "x-xet-hash" in ttfb(gw.base + path, "HEAD")[2] and gw.metrics().get("hubgate_plain_files_made_total"):
                break
            time.sleep(0.1)
        www = os.path.join(work, "www")
        os.makedirs(www)
        with open(os.path.join(www, "big.safetensors"), "wb") as f:
            f.write(files["big.safetensors"])
        os.chmod(work, 0o755)
        os.chmod(www, 0o755)
        os.chmod(os.path.join(www, "big.safetensors"), 0o644)
        ngport = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write("worker_processes 2; daemon off; pid %s/nginx.pid; error_log %s/nginx.err;\n"
                    "events { worker_connections 1024; }\nhttp { access_log off; sendfile on; tcp_nopush on;"
                    " sendfile_max_chunk 2m; server { listen 127.0.0.1:%d; root %s; } }\n" % (work, work, ngport, www))
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work])
        for _ in range(50):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/big.safetensors" % ngport, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        with open(os.path.join(work, "req.gw"), "w") as f:
            f.write(path + "\n")
        with open(os.path.join(work, "req.ng"), "w") as f:
            f.write("/big.safetensors\n")
        # Runs of 256 MiB last about 60 ms: more of them than elsewhere, alternating.
        warm_reps = max(REPS, 7)
        print("\nwarm throughput, %d MiB cached file, GB/s (median of %d; ratio = hubgate / nginx)" % (size_mib, warm_reps))
        for n in (1, 8):
            res = {"gw": [], "ng": []}
            for _ in range(warm_reps):
                for kind, port in (("ng", ngport), ("gw", gw.port)):
                    out = subprocess.run([SINK, "127.0.0.1", str(port), str(n), os.path.join(work, "req." + kind)],
                                         capture_output=True, text=True, check=True).stdout.split()
                    res[kind].append(float(out[2]))
            ng, hg = statistics.median(res["ng"]), statistics.median(res["gw"])
            print("  clients %-2d nginx %6.2f   hubgate %6.2f   ratio %.2f" % (n, ng, hg, hg / ng))

        # 4. what the blocking scanner adds to a cold download.
        print("\nblocking scan on cold downloads (%d MiB files, median of %d; ms)" % (scan_mib, REPS))
        gws = {"block": Gateway(work, hub.url, "--scan", "block", name="gw-block"),
               "off": Gateway(work, hub.url, "--scan", "off", name="gw-off")}
        try:
            for kind in ("pkl", "safetensors"):
                res = {}
                for mode, g in gws.items():
                    firsts, totals = [], []
                    for i in range(REPS):
                        url = "%s/bench/model/resolve/%s/scan-%s-%d.%s" % (g.base, commit, mode, i, kind)
                        t0 = time.perf_counter()
                        first, st, _ = ttfb(url)
                        totals.append(time.perf_counter() - t0)
                        firsts.append(first)
                        assert st == 200, (url, st)
                    res[mode] = (statistics.median(firsts) * 1000, statistics.median(totals) * 1000)
                (fb, tb), (fo, to) = res["block"], res["off"]
                print("  %-12s first byte %7.1f (off %7.1f)   whole file %7.1f (off %7.1f, +%.1f %%)"
                      % (kind, fb, fo, tb, to, 100 * (tb - to) / to))
        finally:
            for g in gws.values():
                g.stop()
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        if gw:
            gw.stop()
        hub.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
