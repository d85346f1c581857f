"""fakehub: an in-process fake of the Hugging Face Hub (Hub API + LFS CDN + Xet CAS) for tests.

Python 3 standard library only.  It follows /work/shared/docs/hub-protocol.md (sections 2 and 4)
and xet-spec.md (section 5) so that hubgate's pull-through gateway can be tested against
something that behaves like huggingface.co, including its failure modes.

Design
------
Three ThreadingHTTPServers (daemon threads, HTTP/1.1 keep-alive) listen on ephemeral ports of
127.0.0.1, one per upstream host, because the real Hub also spreads a download over hosts and a
gateway must not mix them up (or leak a Hub token to the CDN):

  * Hub host  (``hub.url``):     resolve/raw, /api/... (info, tree, paths-info, refs, commits,
                                 xet-read-token).  Hub tokens: ``Authorization: Bearer hf_...``.
  * CDN host  (``hub.cdn_url``): ``/lfs/<sha256>?Expires=..&Signature=..``, the target of the
                                 302 for LFS files; HMAC-signed, expiring URLs; no auth expected.
  * CAS host  (``hub.cas_url``): Xet ``/v2|v1/reconstructions/<xethash>`` (Bearer xet token) and
                                 signed xorb URLs ``/xorb/default/<xorbhash>?X-Xet-Signed-Range=..``.

Repos live in memory as real git-like objects: file ``oid``s are git blob ids (of the LFS pointer
for LFS files), folder ``oid``s are git tree ids and commit ids are sha1s of git commit objects,
so every id a client sees is well-formed and deterministic.

Xet data is made by the project's own CLI (``$HUBGATE xet chunk|hash|xorb|xorb-info``), since
Python has no BLAKE3.  Each LFS file of a xet repo is chunked once; its chunks are then placed in
xorbs of at most ``xorb_chunks`` chunks (default 8), each xorb built from the byte span of its
chunks.  The chunker restarts at every chunk boundary, so a chunk-aligned span must chunk into
exactly the same chunks: that is checked against ``xorb-info`` and a mismatch raises XetBuildError.
Chunks already stored (same chunk hash) are referenced from their existing xorb instead of being
stored again, so files sharing content share xorbs, and a file that reuses two separate runs of
one xorb gets a multi-range fetch entry.  CLI results are cached per process by input sha256.

API
---
    hub = FakeHub(hubgate=None, xorb_chunks=8, page_size=1000, cdn_ttl=3600, xorb_ttl=3600,
                  token_ttl=3600)      # starts the servers; also a context manager
    hub.add_repo("org/model", files={"config.json": b"...", "model.safetensors": b"..."},
                 type="model", private=False, gated=False, xet=True, branch="main", tags=(),
                 message="initial commit", date=None)                          -> commit hex
    hub.add_commit("org/model", files={"config.json": b"v2", "old.txt": None}, type="model",
                   branch="main", tags=(), message=None, date=None, parent=None,
                   replace=False)      # None deletes a file; replace=True: files is the whole
                                       # tree; a new branch starts at parent or the default
                                       # branch; moves the branch                 -> commit hex
    hub.add_tag("org/model", "v1.0", rev="main", type="model")                    -> commit hex
    hub.grant("org/gated", "hf_goodtoken")    # tokens allowed for a private/gated repo (any type)
    hub.repo("org/model", type="model")       # the Repo: .private .gated .xet .branches .tags
    hub.file("org/model", "a.bin", rev="main", type="model")     # None if absent at rev
          # RepoFile: .path .data .size .sha256 .blob_oid .oid (tree oid) .lfs .pointer .xet_hash
    hub.xet_file(xethash)                     # XetFile: .hash .size .terms [(xorb, start, end)]
    hub.xorbs                                 # {xorb hash: Xorb(.hash .data .chunks)}
    hub.url, hub.cdn_url, hub.cas_url         # "http://127.0.0.1:PORT" of each host
    hub.page_size, hub.cdn_ttl, hub.xorb_ttl, hub.token_ttl   # settable at any time
    hub.counters                              # collections.Counter (missing keys read as 0)
    hub.reset_counters()
    hub.requests                              # deque (last 10000) of Logged(host, method,
                                              #   path with query, {lowercased header: value})
    hub.faults                                # see below; hub.faults.clear() resets them all
    hub.close()

Module helpers tests may use: git_blob_oid(data), lfs_pointer(sha256, size), is_lfs(path, size),
xet_chunks(hubgate, data) -> [FileChunk(off, len, hash)], xet_file_hash(hubgate, data),
build_xorb(hubgate, span, expected_chunks) -> Xorb, XetBuildError, parse_ranges(value, size).

Routes.  Hub: HEAD|GET /{T}{repo}/resolve|raw/{rev}/{path} (T = "" | datasets/ | spaces/ |
kernels/; rev a branch, tag, commit, HEAD, quote()d or raw refs/pr/N; 200/206/416 for regular
files, 302 to the CDN for LFS files with X-Linked-*, plus X-Xet-Hash and the xet Link for xet
repos; mode D with the vnd.xet-fileinfo Accept; 304 on If-None-Match); GET /api/{types}/{repo}
[/revision/{rev}] (?blobs=true); /tree/{rev}[/{path}] (?recursive, expand, limit, cursor;
Link rel="next" past page_size); POST /paths-info/{rev} (form or JSON); /refs[?include_prs=1];
/commits/{rev} (X-Total-Count, paginated like the tree); /xet-read-token/{rev}.
CAS: /v2/reconstructions/{h}, /v1/reconstructions/{h}, and the older /reconstructions/{h} and
/reconstruction/{h} (v1 shape); GET /xorb/default/{h} with single or multi Range inside the
signed ranges (206, multipart/byteranges in request order; no Range = the whole xorb, if signed).

Visibility (hub-protocol.md 4.2, on every Hub route, HEAD included): a token that does not start
with ``hf_`` is invalid (401, ``Invalid credentials in Authorization header``, no error code);
any ``hf_`` token is a valid user.  Missing repo, or private repo not granted: 401 RepoNotFound
``Invalid username or password.`` without token, 404 RepoNotFound with one.  Gated repo not
granted: 401 GatedRepo without token, 403 GatedRepo with one.

Fault switches (plain attributes of ``hub.faults``; tests may flip them at any time):
    Every switch applies to all requests and bodies of the hosts in ``hosts`` (JSON included),
    except reset_after and corrupt, which only touch file bodies.
    down = True        a connection is reset (SO_LINGER 0) as soon as it is accepted or its next
                       request arrives, and bodies being sent are cut: clients fail fast.
    slow_bps = N       every body is written in small pieces at most N bytes/second.
    reset_after = N    the next file body (resolve, CDN or xorb) longer than N bytes is cut after
                       N bytes; ``reset_times`` (default 1) bodies are cut, then the switch clears
                       itself.  ``reset_mode``: "close" (default, FIN: exactly N bytes arrive) or
                       "rst" (connection reset; some of the N bytes may be lost).
    corrupt = True     file bodies are corrupt: resolve/CDN bodies have the byte at offset
                       size//2 of the file inverted (when the served range covers it), xorb
                       bodies have one byte inverted inside the payload of the first whole chunk
                       record of each served range.
    ignore_range = True  resolve/CDN bodies ignore Range headers: 200 with the whole file.
    status_429 = N     the next N requests get 429 + ``Retry-After: <retry_after>`` (default 1).
    hosts = {"hub", "cdn", "cas"}   the hosts the switches apply to.

Counters (``hub.counters[name]``):
    per connection: hub_connections cdn_connections cas_connections (TCP connections accepted)
    per request:  hub_requests cdn_requests cas_requests (every request that got past `down`),
                  head_resolve get_resolve head_raw get_raw resolve_redirect xet_fileinfo
                  api_info api_tree api_paths_info api_refs api_commits xet_token cdn_get
                  cdn_head recon_v2 recon_v1 xorb_get xorb_ranges (ranges asked)
                  xorb_multirange, status_<code> for every answer
    body bytes:   resolve_bytes (resolve and raw file bodies) cdn_bytes xorb_bytes (bytes actually
                  written, so a cut body counts what was sent; a body that began before the last
                  reset_counters() counts nowhere)
    leaks/denials: cdn_auth_seen xorb_auth_seen (an Authorization header arrived where none
                  belongs), cdn_forbidden xorb_forbidden (403 on a signed URL), cas_unauthorized
    faults:       fault_down fault_reset fault_corrupt fault_429

Start/stop:  ``hub = fakehub.FakeHub()`` ... ``hub.close()``, or ``with fakehub.FakeHub() as hub:``.
"""
import base64
import collections
import hashlib
import hmac
import http.server
import itertools
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

HUBGATE = os.environ.get("HUBGATE", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "../../build/hubgate"))

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".parquet", ".h5",
                ".msgpack", ".npz", ".npy", ".pkl", ".zip")
LFS_MIN_SIZE = 10 * 1024 * 1024        # larger files are LFS whatever their name

TYPES = {"models": "model", "datasets": "dataset", "spaces": "space", "kernels": "kernel"}
WEB_PREFIX = {"datasets": "dataset", "spaces": "space", "kernels": "kernel"}
API_MARKERS = ("revision", "tree", "paths-info", "refs", "xet-read-token", "commits")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
AUTHOR = "Fake Hub <fakehub@example.com>"
BASE_DATE = 1700000000


# ---------------------------------------------------------------------------------------------
# Git objects and LFS
# ---------------------------------------------------------------------------------------------

def git_blob_oid(data):
    """The git blob id: what the Hub uses as a regular file's ETag and tree oid."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256, size):
    return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
            % (sha256, size)).encode()


def is_lfs(path, size):
    return path.lower().endswith(LFS_SUFFIXES) or size > LFS_MIN_SIZE


def git_tree_oid(entries):
    """entries: [(name, is_dir, oid hex)] -> git tree id (git sorts folders as 'name/')."""
    body = b""
    for name, is_dir, oid in sorted(entries, key=lambda e: e[0].encode() + (b"/" if e[1] else b"")):
        body += (b"40000 " if is_dir else b"100644 ") + name.encode() + b"\0" + bytes.fromhex(oid)
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def iso_date(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------------
# Xet data, built with the hubgate CLI
# ---------------------------------------------------------------------------------------------

class XetBuildError(RuntimeError):
    pass


XorbChunk = collections.namedtuple("XorbChunk", "hash raw_off raw_len rec_off rec_len")
FileChunk = collections.namedtuple("FileChunk", "off len hash")


class Xorb:
    """A xorb as uploaded: chunk records only (xet-spec.md 3.1)."""

    def __init__(self, xhash, data, chunks):
        self.hash, self.data, self.chunks = xhash, data, chunks

    def byte_range(self, start, end):
        """Inclusive byte range of the records of chunks [start, end)."""
        last = self.chunks[end - 1]
        return self.chunks[start].rec_off, last.rec_off + last.rec_len - 1


class XetFile:
    """A file's reconstruction: terms (xorb hash, first chunk, end chunk exclusive)."""

    def __init__(self, fhash, size, terms):
        self.hash, self.size, self.terms = fhash, size, terms


_cli_cache = {}
_cli_lock = threading.Lock()


def _cli(hubgate, sub, data):
    """Runs `hubgate xet SUB -` on data; returns (stdout bytes, stderr text), cached per input."""
    key = (hubgate, sub, hashlib.sha256(data).digest())
    with _cli_lock:
        if key in _cli_cache:
            return _cli_cache[key]
    try:
        p = subprocess.run([hubgate, "xet", sub, "-"], input=data, capture_output=True, timeout=300)
    except OSError as e:
        raise XetBuildError("fakehub builds Xet data with the hubgate CLI; cannot run %r "
                            "(set $HUBGATE): %s" % (hubgate, e)) from e
    if p.returncode != 0:
        raise XetBuildError("hubgate xet %s failed (%d): %s" % (sub, p.returncode,
                                                                p.stderr.decode(errors="replace")))
    out = (p.stdout, p.stderr.decode(errors="replace"))
    with _cli_lock:
        _cli_cache[key] = out
    return out


def xet_chunks(hubgate, data):
    """`xet chunk`: one line per chunk, 'offset length chunkhash'."""
    chunks = []
    for line in _cli(hubgate, "chunk", data)[0].decode().splitlines():
        off, n, h = line.split()
        chunks.append(FileChunk(int(off), int(n), h))
    pos = 0
    for c in chunks:
        if c.off != pos or not HEX64.match(c.hash):
            raise XetBuildError("xet chunk: unexpected line %r" % (c,))
        pos += c.len
    if pos != len(data):
        raise XetBuildError("xet chunk covered %d of %d bytes" % (pos, len(data)))
    return chunks


def xet_file_hash(hubgate, data):
    """`xet hash`: 'xethash sha256 size'."""
    fields = _cli(hubgate, "hash", data)[0].decode().split()
    if len(fields) != 3 or int(fields[2]) != len(data) or \
            fields[1] != hashlib.sha256(data).hexdigest() or not HEX64.match(fields[0]):
        raise XetBuildError("xet hash: unexpected output %r" % fields)
    return fields[0]


def build_xorb(hubgate, span, expected):
    """Packs span into a xorb with `xet xorb`, reads it back with `xet xorb-info` and checks that
    its chunks are exactly `expected` (FileChunks of the file this span was cut from)."""
    data, err = _cli(hubgate, "xorb", span)
    info = _cli(hubgate, "xorb-info", data)[0].decode().splitlines()
    head = info[0].split()   # xorb HASH chunks N raw_bytes R records_bytes B
    if len(head) != 8 or head[0] != "xorb" or int(head[3]) != len(info) - 1 or \
            int(head[5]) != len(span) or int(head[7]) != len(data):
        raise XetBuildError("xet xorb-info: unexpected header %r" % info[0])
    xhash = head[1]
    if err.split()[:1] != [xhash]:
        raise XetBuildError("xet xorb says %r but xorb-info says %s" % (err, xhash))
    chunks = []
    for i, line in enumerate(info[1:]):   # i HASH raw OFF+LEN record OFF+LEN scheme
        f = line.split()
        raw_off, raw_len = map(int, f[3].split("+"))
        rec_off, rec_len = map(int, f[5].split("+"))
        chunks.append(XorbChunk(f[1], raw_off, raw_len, rec_off, rec_len))
    got = [(c.hash, c.raw_len) for c in chunks]
    want = [(c.hash, c.len) for c in expected]
    if got != want:
        raise XetBuildError("a xorb built from a chunk-aligned span did not re-chunk into the same "
                            "chunks (chunker not deterministic on sub-spans?):\n got %r\nwant %r"
                            % (got, want))
    pos = 0
    for c in chunks:
        if c.rec_off != pos:
            raise XetBuildError("xorb records not contiguous at chunk %r" % (c,))
        pos += c.rec_len
    if pos != len(data):
        raise XetBuildError("xorb records cover %d of %d bytes" % (pos, len(data)))
    return Xorb(xhash, data, chunks)


class XetStore:
    """All xorbs and file reconstructions of one FakeHub, with chunk-level dedup."""

    def __init__(self, hubgate, xorb_chunks):
        self.hubgate, self.cap = hubgate, xorb_chunks
        self.xorbs = {}        # xorb hash -> Xorb
        self.files = {}        # xet file hash -> XetFile
        self._by_sha = {}      # sha256 -> XetFile
        self._where = {}       # chunk hash -> (xorb hash, index): the first place it was stored

    def add(self, data, sha256):
        if sha256 in self._by_sha:
            return self._by_sha[sha256]
        chunks = xet_chunks(self.hubgate, data)
        fhash = xet_file_hash(self.hubgate, data)
        terms, pending = [], []

        def add_term(xh, a, b):
            if terms and terms[-1][0] == xh and terms[-1][2] == a:
                terms[-1] = (xh, terms[-1][1], b)   # contiguous: one term, as a real CAS would
            else:
                terms.append((xh, a, b))

        def flush():
            # new chunks become new xorbs of at most cap chunks, each from its own byte span
            for g in range(0, len(pending), self.cap):
                group = [chunks[i] for i in pending[g:g + self.cap]]
                span = data[group[0].off:group[-1].off + group[-1].len]
                x = build_xorb(self.hubgate, span, group)
                if x.hash in self.xorbs:      # the same span was stored before: same xorb
                    x = self.xorbs[x.hash]
                else:
                    self.xorbs[x.hash] = x
                    for k, c in enumerate(x.chunks):
                        self._where.setdefault(c.hash, (x.hash, k))
                add_term(x.hash, 0, len(group))
            pending.clear()

        i = 0
        while i < len(chunks):
            loc = self._where.get(chunks[i].hash)
            if loc is None:
                pending.append(i)
                i += 1
                continue
            flush()
            xh, j = loc
            x, k = self.xorbs[xh], 0
            while i + k < len(chunks) and j + k < len(x.chunks) and \
                    x.chunks[j + k].hash == chunks[i + k].hash:
                k += 1
            add_term(xh, j, j + k)
            i += k
        flush()
        seq = [self.xorbs[xh].chunks[k].hash for xh, a, b in terms for k in range(a, b)]
        if seq != [c.hash for c in chunks]:
            raise XetBuildError("internal error: terms do not spell the file's chunks")
        xf = XetFile(fhash, len(data), terms)
        self.files[fhash] = xf
        self._by_sha[sha256] = xf
        return xf


# ---------------------------------------------------------------------------------------------
# Repository model
# ---------------------------------------------------------------------------------------------

class RepoFile:
    def __init__(self, path, data, xet_hash=None):
        self.path, self.data, self.size = path, data, len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.blob_oid = git_blob_oid(data)
        self.lfs = is_lfs(path, len(data))
        self.pointer = lfs_pointer(self.sha256, self.size) if self.lfs else None
        self.oid = git_blob_oid(self.pointer) if self.lfs else self.blob_oid   # the tree oid
        self.xet_hash = xet_hash


class Commit:
    def __init__(self, files, parent, date, message, author=AUTHOR):
        self.files = dict(files)          # path -> RepoFile
        self.parent = parent              # Commit or None
        self.date, self.message, self.author = date, message, author
        self.title = message.split("\n", 1)[0]
        self.dirs, self.kids = self._build_dirs()
        body = "tree %s\n" % self.dirs[""]
        if parent:
            body += "parent %s\n" % parent.oid
        body += "author %s %d +0000\ncommitter %s %d +0000\n\n%s\n" % (author, date, author, date,
                                                                      message)
        body = body.encode()
        self.oid = hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()

    def _build_dirs(self):
        """-> ({folder path: tree oid} with "" the root, {folder path: [child paths]})."""
        kids = collections.defaultdict(set)
        kids[""]
        for path in self.files:
            parts = path.split("/")
            for n in range(1, len(parts) + 1):
                kids["/".join(parts[:n - 1])].add("/".join(parts[:n]))
        dirs = {}
        for d in sorted(kids, key=lambda p: -p.count("/") - (1 if p else 0)):   # deepest first
            entries = []
            for child in kids[d]:
                name = child.rsplit("/", 1)[-1]
                if child in self.files:
                    entries.append((name, False, self.files[child].oid))
                else:
                    entries.append((name, True, dirs[child]))
            dirs[d] = git_tree_oid(entries)
        order = {d: sorted(ch, key=lambda c: (c not in dirs, c)) for d, ch in kids.items()}
        return dirs, order

    def oid_of(self, path):
        f = self.files.get(path)
        return f.oid if f else self.dirs.get(path)

    def last_commit(self, path):
        """The commit that made path what it is here (walks back while it is unchanged)."""
        c, oid = self, self.oid_of(path)
        while c.parent is not None and c.parent.oid_of(path) == oid:
            c = c.parent
        return c

    def walk(self, folder, recursive):
        for child in self.kids.get(folder, ()):
            yield child
            if recursive and child in self.dirs:
                yield from self.walk(child, True)


class Repo:
    def __init__(self, rtype, rid, private, gated, xet, default_branch, created):
        self.type, self.id = rtype, rid
        self.private = private
        self.gated = gated                # False, "auto" or "manual"
        self.xet = xet
        self.default_branch = default_branch
        self.created = created
        self.branches = {}                # name -> commit oid ("refs/pr/N" are pull requests)
        self.tags = {}
        self.commits = {}                 # oid -> Commit
        self.xet_hashes = set()           # every Xet file hash of any commit (token scope)

    @property
    def types(self):
        return self.type + "s"

    @property
    def web_prefix(self):
        return "" if self.type == "model" else self.type + "s/"

    def resolve(self, rev):
        if rev == "HEAD":
            rev = self.default_branch
        for table, prefix in ((self.branches, "refs/heads/"), (self.tags, "refs/tags/")):
            if rev in table:
                return self.commits[table[rev]]
            if rev.startswith(prefix) and rev[len(prefix):] in table:
                return self.commits[table[rev[len(prefix):]]]
        return self.commits.get(rev) if HEX40.match(rev) else None


# ---------------------------------------------------------------------------------------------
# Faults, ranges, requests and responses
# ---------------------------------------------------------------------------------------------

class Faults:
    """Switches read by the servers on every request and every body write (see module doc)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.clear()

    def clear(self):
        self.down = False
        self.slow_bps = None
        self.reset_after = None
        self.reset_times = 1
        self.reset_mode = "close"
        self.corrupt = False
        self.ignore_range = False
        self.status_429 = 0
        self.retry_after = 1
        self.hosts = {"hub", "cdn", "cas"}

    def on(self, host, name):
        return host in self.hosts and getattr(self, name)

    def take_429(self, host):
        with self._lock:
            if host in self.hosts and self.status_429 > 0:
                self.status_429 -= 1
                return True
        return False

    def take_reset(self, host, length):
        """-> the cut offset for a body of this length, consuming one use of the switch."""
        with self._lock:
            n = self.reset_after
            if host not in self.hosts or n is None or length <= n:
                return None
            self.reset_times -= 1
            if self.reset_times <= 0:
                self.reset_after, self.reset_times = None, 1
            return n


def parse_ranges(value, size):
    """'bytes=a-b,c-,-n' -> [(start, end inclusive)] clamped to size; None if absent or malformed
    (RFC 9110: ignore it), "unsatisfiable" if no range overlaps the file."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(.+)", value)
    if not m:
        return None
    out = []
    for part in m.group(1).split(","):
        pm = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", part)
        if not pm or (pm.group(1) == "" and pm.group(2) == ""):
            return None
        a, b = pm.group(1), pm.group(2)
        if a == "":                                   # suffix: the last b bytes
            n = int(b)
            if n == 0:
                continue
            out.append((max(0, size - n), size - 1))
            continue
        a, b = int(a), None if b == "" else int(b)
        if b is not None and b < a:
            return None
        if a < size:
            out.append((a, size - 1 if b is None else min(b, size - 1)))
    return out or "unsatisfiable"


def header_value(text):
    """Header values go out as UTF-8 bytes (http.server encodes them as latin-1)."""
    return str(text).encode("utf-8").decode("latin-1")


class Request:
    def __init__(self, host, method, target, headers, body):
        self.host, self.method, self.headers, self.body = host, method, headers, body
        path, _, query = target.partition("?")
        self.path = path                                  # still percent-encoded
        self.segs = path.lstrip("/").split("/")
        self.query = urllib.parse.parse_qsl(query, keep_blank_values=True)
        auth = headers.get("Authorization") or ""
        m = re.fullmatch(r"\s*[Bb]earer\s+(\S+)\s*", auth)
        self.token = m.group(1) if m else None

    def q(self, name, default=None):
        vals = [v for k, v in self.query if k == name]
        return vals[-1] if vals else default

    def flag(self, name):
        return (self.q(name) or "").lower() in ("true", "1", "yes")

    def h(self, name):
        return self.headers.get(name)


class Response:
    """status, headers [(name, value)], body; kind names a file body ("resolve", "cdn" or
    "xorb") so that faults and byte counters apply to it."""

    def __init__(self, status, body=b"", headers=(), kind=None):
        self.status, self.body, self.headers, self.kind = status, body, list(headers), kind


def json_response(status, obj, headers=()):
    body = json.dumps(obj).encode()
    return Response(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])


def error_response(status, message, code=None, headers=()):
    hs = [("X-Error-Message", header_value(message))]
    if code:
        hs.insert(0, ("X-Error-Code", code))
    return json_response(status, {"error": message}, [*hs, *headers])


Logged = collections.namedtuple("Logged", "host method path headers")


# ---------------------------------------------------------------------------------------------
# HTTP plumbing shared by the three hosts
# ---------------------------------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, fake, name):
        self.fake, self.name = fake, name
        self.conns = set()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakehub/1"
    timeout = 120          # idle keep-alive connections are dropped after this

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.conns.add(self.connection)
        self.server.fake._count("%s_connections" % self.server.name)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        self.server.conns.discard(self.connection)

    def handle(self):
        self.close_connection = True
        if not self._refuse_if_down():
            self.handle_one_request()
        while not self.close_connection:
            if self._refuse_if_down():
                return
            self.handle_one_request()

    def _refuse_if_down(self):
        fake = self.server.fake
        if fake._closing or fake.faults.on(self.server.name, "down"):
            fake._count("fault_down")
            self._reset()
            return True
        return False

    def _reset(self):
        """Abortive close: the peer gets a RST (connection reset) right away."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self):
        fake, host = self.server.fake, self.server.name
        body = self._read_body()
        if self._refuse_if_down():
            return
        fake._count(host + "_requests")
        fake.requests.append(Logged(host, self.command, self.path,
                                    {k.lower(): v for k, v in self.headers.items()}))
        if fake.faults.take_429(host):
            fake._count("fault_429")
            resp = error_response(429, "Too Many Requests",
                                  headers=[("Retry-After", str(fake.faults.retry_after))])
        else:
            req = Request(host, self.command, self.path, self.headers, body)
            try:
                resp = fake._route(req)
            except Exception:  # a bug in the fake: say so loudly, answer 500
                traceback.print_exc(file=sys.stderr)
                resp = error_response(500, "fakehub internal error")
        try:
            self._send(resp, self.command == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = _dispatch

    def _send(self, resp, head):
        fake = self.server.fake
        fake._count("status_%d" % resp.status)
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        self.send_header("X-Request-Id", "fakehub-%s-%d" % (self.server.name, next(fake._ids)))
        if resp.status != 304:
            self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if not head and resp.status != 304:
            self._write_body(resp.body, resp.kind)

    def _write_body(self, body, kind):
        fake, host, faults = self.server.fake, self.server.name, self.server.fake.faults
        cut = faults.take_reset(host, len(body)) if kind else None
        limit = len(body) if cut is None else cut
        epoch = fake._epoch
        pos = 0
        while pos < limit:
            if fake._closing or faults.on(host, "down"):
                fake._count("fault_down")
                self._reset()
                return
            bps = faults.slow_bps if host in faults.hosts else None
            step = max(1, min(16384, int(bps) // 20)) if bps else 1 << 20
            n = min(step, limit - pos)
            # Counted before the write returns: a client that has read the last byte must find it
            # counted (taken back if the write fails).
            if kind:
                fake._count(kind + "_bytes", n, epoch)
            try:
                self.wfile.write(body[pos:pos + n])
            except OSError:
                if kind:
                    fake._count(kind + "_bytes", -n, epoch)
                raise
            pos += n
            if bps:
                time.sleep(n / bps)
        if cut is not None:
            fake._count("fault_reset")
            if faults.reset_mode == "rst":
                self._reset()
            else:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_WR)
                except OSError:
                    pass


# ---------------------------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------------------------

class FakeHub:
    def __init__(self, hubgate=None, xorb_chunks=8, page_size=1000, cdn_ttl=3600, xorb_ttl=3600,
                 token_ttl=3600):
        self.hubgate = hubgate or HUBGATE
        self.page_size = page_size
        self.cdn_ttl, self.xorb_ttl, self.token_ttl = cdn_ttl, xorb_ttl, token_ttl
        self.faults = Faults()
        self.counters = collections.Counter()
        self._epoch = 0                          # bumped by reset_counters
        self.requests = collections.deque(maxlen=10000)
        self._xet = XetStore(self.hubgate, xorb_chunks)
        self._repos = {}                         # (type, id) -> Repo
        self._grants = collections.defaultdict(set)
        self._blobs = {}                         # sha256 -> bytes of every LFS file (CDN)
        self._secret = os.urandom(32)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._dates = itertools.count(0)
        self._closing = False
        self._servers = {n: _Server(self, n) for n in ("hub", "cdn", "cas")}
        self._threads = []
        for srv in self._servers.values():
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 daemon=True, name="fakehub-" + srv.name)
            t.start()
            self._threads.append(t)

    # -- lifecycle and accessors

    def _base(self, name):
        return "http://127.0.0.1:%d" % self._servers[name].server_address[1]

    @property
    def url(self):
        return self._base("hub")

    @property
    def cdn_url(self):
        return self._base("cdn")

    @property
    def cas_url(self):
        return self._base("cas")

    @property
    def xorbs(self):
        return self._xet.xorbs

    def xet_file(self, xet_hash):
        return self._xet.files.get(xet_hash)

    def close(self):
        if self._closing:
            return
        self._closing = True
        for srv in self._servers.values():
            srv.shutdown()
            for c in list(srv.conns):      # wake handler threads parked on keep-alive reads
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            srv.server_close()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def reset_counters(self):
        with self._lock:
            self.counters.clear()
            self._epoch += 1

    def _count(self, key, n=1, epoch=None):
        """Counts unless `epoch` (taken when a body started) predates the last reset: a body
        still trickling to a gateway that an earlier test stopped must not count in the next."""
        with self._lock:
            if epoch is None or epoch == self._epoch:
                self.counters[key] += n

    # -- content

    def add_repo(self, repo_id, files, type="model", private=False, gated=False, xet=True,
                 branch="main", tags=(), message="initial commit", date=None):
        key = (type, repo_id)
        if type + "s" not in TYPES:
            raise ValueError("unknown repo type %r" % type)
        gated = "manual" if gated is True else (gated or False)
        with self._lock:
            if key in self._repos:
                raise ValueError("repo %s/%s exists" % key)
            self._repos[key] = Repo(type, repo_id, private, gated, xet, branch,
                                    date if date is not None else self._next_date())
        return self.add_commit(repo_id, files, type=type, branch=branch, tags=tags, message=message,
                               date=date, replace=True)

    def add_commit(self, repo_id, files=None, type="model", branch="main", tags=(), message=None,
                   date=None, parent=None, replace=False):
        with self._lock:
            repo = self.repo(repo_id, type)
            if parent is not None:
                base = repo.resolve(parent)
                if base is None:
                    raise ValueError("unknown parent revision %r" % parent)
            else:
                base = repo.resolve(branch) or repo.resolve(repo.default_branch)
            tree = {} if replace or base is None else dict(base.files)
            for path, data in (files or {}).items():
                path = path.strip("/")
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = self._make_file(repo, path, data)
            commit = Commit(tree, base, date if date is not None else self._next_date(),
                            message or "update %s" % branch)
            repo.commits[commit.oid] = commit
            repo.branches[branch] = commit.oid
            for t in tags:
                repo.tags[t] = commit.oid
            return commit.oid

    def add_tag(self, repo_id, tag, rev="main", type="model"):
        with self._lock:
            repo = self.repo(repo_id, type)
            c = repo.resolve(rev)
            if c is None:
                raise ValueError("unknown revision %r" % rev)
            repo.tags[tag] = c.oid
            return c.oid

    def grant(self, repo_id, token):
        with self._lock:
            self._grants[repo_id].add(token)

    def repo(self, repo_id, type="model"):
        try:
            return self._repos[(type, repo_id)]
        except KeyError:
            raise KeyError("no %s repo %r" % (type, repo_id)) from None

    def file(self, repo_id, path, rev="main", type="model"):
        c = self.repo(repo_id, type).resolve(rev)
        return c.files.get(path) if c else None

    def _next_date(self):
        return BASE_DATE + 3600 * next(self._dates)

    def _make_file(self, repo, path, data):
        if isinstance(data, str):
            data = data.encode()
        f = RepoFile(path, bytes(data))
        if f.lfs:
            self._blobs[f.sha256] = f.data
            if repo.xet and f.size > 0:        # empty files have nothing to reconstruct
                f.xet_hash = self._xet.add(f.data, f.sha256).hash
                repo.xet_hashes.add(f.xet_hash)
        return f

    # -- signing

    def _sign(self, *parts):
        return hmac.new(self._secret, "\n".join(parts).encode(), hashlib.sha256).hexdigest()

    def _signed_ok(self, req, *parts):
        """-> None if the URL's Expires/Signature are valid for parts, else the reason."""
        exp, sig = req.q("Expires"), req.q("Signature")
        if not exp or not sig or not re.fullmatch(r"-?\d+", exp):
            return "missing signature"
        if not hmac.compare_digest(sig, self._sign(*parts, exp)):
            return "signature mismatch"
        if int(exp) < time.time():
            return "request has expired"
        return None

    def _cdn_location(self, f):
        path = "/lfs/" + f.sha256
        exp = str(int(time.time() + self.cdn_ttl))
        return "%s%s?Expires=%s&Signature=%s" % (self.cdn_url, path, exp, self._sign("cdn", path, exp))

    def _xorb_url(self, xhash, ranges):
        path = "/xorb/default/" + xhash
        signed = "bytes=" + ",".join("%d-%d" % r for r in ranges)
        exp = str(int(time.time() + self.xorb_ttl))
        return "%s%s?%s" % (self.cas_url, path, urllib.parse.urlencode(
            [("X-Xet-Signed-Range", signed), ("Expires", exp),
             ("Signature", self._sign("xorb", path, signed, exp))]))

    def _xet_token(self, repo):
        exp = int(time.time() + self.token_ttl)
        payload = "%s|%s|%d" % (repo.type, repo.id, exp)
        return "xet_%s.%s" % (b64url(payload.encode()), self._sign("xet", payload)[:32]), exp

    def _xet_token_repo(self, token):
        """-> the Repo a valid, unexpired xet token is scoped to, else None."""
        if not token.startswith("xet_"):
            return None
        try:
            body, sig = token[4:].rsplit(".", 1)
            payload = b64url_decode(body).decode()
            rtype, rid, exp = payload.split("|")
        except (ValueError, UnicodeError):
            return None
        if not hmac.compare_digest(sig, self._sign("xet", payload)[:32]):
            return None
        if int(exp) < time.time():
            return None
        return self._repos.get((rtype, rid))

    # -- routing

    def _route(self, req):
        if req.host == "hub":
            return self._api(req) if req.segs[0] == "api" else self._resolve(req)
        if req.host == "cdn":
            return self._cdn(req)
        return self._cas(req)

    @staticmethod
    def _take_rev(segs):
        """Raw segments after a marker -> (revision, rest); refs/pr/N and refs/convert/X may come
        unencoded (hub-protocol.md 2.1)."""
        if not segs or segs[0] == "":
            return None, segs
        if segs[0] == "refs" and len(segs) >= 3 and \
                ((segs[1] == "pr" and segs[2].isdigit()) or segs[1] == "convert"):
            return "refs/%s/%s" % (segs[1], urllib.parse.unquote(segs[2])), segs[3:]
        return urllib.parse.unquote(segs[0]), segs[1:]

    def _pick(self, candidates):
        """Candidates (type, repo id, ...): the first naming an existing repo, else the first."""
        for c in candidates:
            if (c[0], c[1]) in self._repos:
                return c
        return candidates[0] if candidates else None

    def _access(self, req, rtype, rid):
        """hub-protocol.md 4.2 -> (Repo, None) or (None, error Response)."""
        token, repo = req.token, self._repos.get((rtype, rid))
        if token is not None and not token.startswith("hf_"):
            return None, error_response(401, "Invalid credentials in Authorization header")
        granted = token is not None and token in self._grants.get(rid, ())
        if repo is None or (repo.private and not granted):
            if token is None:
                return None, error_response(401, "Invalid username or password.", "RepoNotFound")
            return None, error_response(404, "Repository not found", "RepoNotFound")
        if repo.gated and not granted:
            if token is None:
                return None, error_response(
                    401, "Access to %s %s is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in." % (rtype, rid), "GatedRepo")
            return None, error_response(
                403, "Access to %s %s is restricted and you are not in the authorized list. "
                "Visit %s/%s%s to ask for access." % (rtype, rid, self.url, repo.web_prefix, rid),
                "GatedRepo")
        return repo, None

    # -- Hub host: resolve and raw (hub-protocol.md 2.2, 2.3)

    def _resolve(self, req):
        segs, rtype = req.segs, "model"
        if segs[0] in WEB_PREFIX:
            rtype, segs = WEB_PREFIX[segs[0]], segs[1:]
        cands = []
        for n in (2, 1):
            if len(segs) > n and segs[n] in ("resolve", "raw"):
                rev, rest = self._take_rev(segs[n + 1:])
                if rev is not None:
                    cands.append((rtype, "/".join(urllib.parse.unquote(s) for s in segs[:n]),
                                  segs[n], rev, "/".join(urllib.parse.unquote(s) for s in rest)))
        pick = self._pick(cands)
        if pick is None or req.method not in ("GET", "HEAD"):
            return error_response(404, "Not Found")
        rtype, rid, kind, rev, path = pick
        self._count(("head_" if req.method == "HEAD" else "get_") + kind)
        repo, err = self._access(req, rtype, rid)
        if err:
            return err
        commit = repo.resolve(rev)
        if commit is None:
            return error_response(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
        f = commit.files.get(path)
        if f is None:
            return error_response(404, "Entry not found", "EntryNotFound",
                                  [("X-Repo-Commit", commit.oid)])
        common = [("X-Repo-Commit", commit.oid), ("Accept-Ranges", "bytes")]
        if kind == "raw":           # the git blob: the pointer for LFS files
            blob = f.pointer if f.lfs else f.data
            return self._serve_bytes(req, blob, [*common, ("ETag", '"%s"' % f.oid),
                                                 ("Content-Type", "text/plain; charset=utf-8")],
                                     "resolve", corruptible=not f.lfs)
        if not f.lfs:
            return self._serve_bytes(req, f.data, [*common, ("ETag", '"%s"' % f.blob_oid),
                                                   ("Content-Type", content_type(path))], "resolve")
        etag = '"%s"' % f.sha256
        lfs = [*common, ("ETag", etag), ("X-Linked-Etag", etag), ("X-Linked-Size", str(f.size))]
        if f.xet_hash:
            lfs += [("X-Xet-Hash", f.xet_hash),
                    ("Link", '<%s/api/%s/%s/xet-read-token/%s>; rel="xet-auth", '
                             '<%s/v1/reconstructions/%s>; rel="xet-reconstruction-info"'
                     % (self.url, repo.types, rid, commit.oid, self.cas_url, f.xet_hash))]
        if req.h("If-None-Match") == etag:
            return Response(304, headers=lfs)
        if f.xet_hash and "application/vnd.xet-fileinfo+json" in (req.h("Accept") or ""):
            self._count("xet_fileinfo")       # mode D: the JS probe asks for Xet info
            body = {"hash": f.xet_hash, "etag": f.sha256, "size": f.size,
                    "refreshUrl": "%s/api/%s/%s/xet-read-token/%s" % (self.url, repo.types, rid,
                                                                      commit.oid),
                    "reconstructionUrl": "%s/v1/reconstructions/%s" % (self.cas_url, f.xet_hash)}
            r = json_response(200, body, lfs)
            r.headers[0] = ("Content-Type", "application/vnd.xet-fileinfo+json")
            return r
        self._count("resolve_redirect")
        loc = self._cdn_location(f)
        return Response(302, b"Found. Redirecting to " + loc.encode(),
                        [*lfs, ("Location", loc), ("Content-Type", "text/plain; charset=utf-8")])

    def _serve_bytes(self, req, data, headers, kind, corruptible=True):
        """A file body with single-range support (206, 416; multi-ranges get the whole file)."""
        etag = next((v for k, v in headers if k == "ETag"), None)
        if etag and req.h("If-None-Match") == etag:
            return Response(304, headers=headers)
        size = len(data)
        if size == 0:   # hub-protocol.md Q5: JS probes empty files with bytes=0-0
            extra = [("Content-Range", "bytes */0")] if req.h("Range") else []
            return Response(200, b"", [*headers, *extra], kind)
        rng = None if self.faults.on(req.host, "ignore_range") else parse_ranges(req.h("Range"), size)
        if rng == "unsatisfiable":
            r = error_response(416, "Requested Range Not Satisfiable")
            r.headers += [("Content-Range", "bytes */%d" % size),
                          *[h for h in headers if h[0] == "X-Repo-Commit"]]
            return r
        a, b = (0, size - 1) if rng is None or len(rng) != 1 else rng[0]
        body = data[a:b + 1]
        mid = size // 2
        if corruptible and self.faults.on(req.host, "corrupt") and a <= mid <= b:
            self._count("fault_corrupt")
            body = bytearray(body)
            body[mid - a] ^= 0xFF
            body = bytes(body)
        if rng is None or len(rng) != 1:
            return Response(200, body, headers, kind)
        return Response(206, body, [*headers, ("Content-Range", "bytes %d-%d/%d" % (a, b, size))],
                        kind)

    # -- Hub host: /api/... (hub-protocol.md 2.5 to 2.8)

    def _api(self, req):
        s = req.segs[1:]
        if not s or s[0] not in TYPES:
            return error_response(404, "Not Found")
        rtype, rest = TYPES[s[0]], s[1:]
        cands = []
        for n in (2, 1):
            if len(rest) == n:
                cands.append((rtype, "/".join(urllib.parse.unquote(x) for x in rest), None, []))
            elif len(rest) > n and rest[n] in API_MARKERS:
                cands.append((rtype, "/".join(urllib.parse.unquote(x) for x in rest[:n]), rest[n],
                              rest[n + 1:]))
        pick = self._pick(cands)
        if pick is None:
            return error_response(404, "Not Found")
        rtype, rid, marker, tail = pick
        want = "POST" if marker == "paths-info" else "GET"
        if req.method != want and not (want == "GET" and req.method == "HEAD"):
            return error_response(405, "Method Not Allowed")
        self._count({None: "api_info", "revision": "api_info", "tree": "api_tree",
                     "paths-info": "api_paths_info", "refs": "api_refs", "commits": "api_commits",
                     "xet-read-token": "xet_token"}[marker])
        repo, err = self._access(req, rtype, rid)
        if err:
            return err
        if marker == "refs":
            return self._refs(req, repo)
        rev, tail = (repo.default_branch, tail) if marker is None else self._take_rev(tail)
        if rev is None:
            return error_response(404, "Not Found")
        commit = repo.resolve(rev)
        if commit is None:
            return error_response(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
        if marker in (None, "revision"):
            return self._info(req, repo, commit)
        if marker == "tree":
            folder = "/".join(urllib.parse.unquote(x) for x in tail).strip("/")
            return self._tree(req, repo, commit, rev, folder)
        if marker == "paths-info":
            return self._paths_info(req, repo, commit)
        if marker == "commits":
            return self._commits(req, commit)
        return self._token(repo)

    def _entry(self, repo, commit, path, expand):
        f = commit.files.get(path)
        if f is not None:
            e = {"type": "file", "oid": f.oid, "size": f.size, "path": path}
            if f.lfs:
                e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": len(f.pointer)}
                if f.xet_hash:
                    e["xetHash"] = f.xet_hash
        else:
            e = {"type": "directory", "oid": commit.dirs[path], "size": 0, "path": path}
        if expand:
            last = commit.last_commit(path)
            e["lastCommit"] = {"id": last.oid, "title": last.title, "date": iso_date(last.date)}
        return e

    def _info(self, req, repo, commit):
        files = sorted(commit.files.values(), key=lambda f: f.path)
        siblings = []
        for f in files:
            s = {"rfilename": f.path}
            if req.flag("blobs"):
                s.update(size=f.size, blobId=f.oid)
                if f.lfs:
                    s["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": len(f.pointer)}
            siblings.append(s)
        info = {"_id": hashlib.sha1(("%s/%s" % (repo.type, repo.id)).encode()).hexdigest()[:24],
                "id": repo.id, "author": repo.id.split("/")[0] if "/" in repo.id else None,
                "sha": commit.oid, "lastModified": iso_date(commit.date),
                "createdAt": iso_date(repo.created), "private": repo.private, "gated": repo.gated,
                "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                "xetEnabled": repo.xet, "siblings": siblings,
                "usedStorage": sum(f.size for f in files)}
        if repo.type == "model":
            info["modelId"] = repo.id
        return json_response(200, info)

    def _page(self, req, items, extra_params):
        """Cursor pagination (hub-protocol.md 2.6): -> (page, extra headers with the next Link)."""
        try:
            start = int(json.loads(b64url_decode(req.q("cursor")))["o"]) if req.q("cursor") else 0
        except (ValueError, KeyError, TypeError):
            return None, []
        limit = max(1, int(req.q("limit")) if (req.q("limit") or "").isdigit() else self.page_size)
        page = items[start:start + limit]
        headers = []
        if start + limit < len(items):
            params = [*extra_params, *([("limit", str(limit))] if req.q("limit") else []),
                      ("cursor", b64url(json.dumps({"o": start + limit}).encode()))]
            headers.append(("Link", '<%s%s?%s>; rel="next"' % (self.url, req.path,
                                                               urllib.parse.urlencode(params))))
        return page, headers

    def _tree(self, req, repo, commit, rev, folder):
        if folder not in commit.dirs:
            return error_response(404, '%s does not exist on "%s"' % (folder, rev), "EntryNotFound",
                                  [("X-Repo-Commit", commit.oid)])
        recursive, expand = req.flag("recursive"), req.flag("expand")
        paths = list(commit.walk(folder, recursive))
        page, headers = self._page(req, paths, [("recursive", str(recursive).lower()),
                                                ("expand", str(expand).lower())])
        if page is None:
            return error_response(400, "Invalid cursor")
        return json_response(200, [self._entry(repo, commit, p, expand) for p in page], headers)

    def _paths_info(self, req, repo, commit):
        ctype = (req.h("Content-Type") or "").lower()
        try:
            if "json" in ctype:
                doc = json.loads(req.body or b"{}")
                paths, expand = doc.get("paths", []), doc.get("expand", False)
                expand = expand is True or str(expand).lower() in ("true", "1")
            else:
                form = urllib.parse.parse_qsl(req.body.decode(), keep_blank_values=True)
                paths = [v for k, v in form if k == "paths"]
                expand = any(k == "expand" and v.lower() in ("true", "1") for k, v in form)
        except (ValueError, UnicodeError, AttributeError):
            return error_response(400, "Invalid paths-info body")
        if isinstance(paths, str):
            paths = [paths]
        out = []
        for p in paths:
            p = str(p).strip("/")
            if p in commit.files or (p and p in commit.dirs):
                out.append(self._entry(repo, commit, p, expand))
        return json_response(200, out)

    def _refs(self, req, repo):
        def ref(name, oid, kind):
            return {"name": name, "ref": "refs/%s/%s" % (kind, name) if kind else name,
                    "targetCommit": oid}
        body = {"branches": [ref(n, o, "heads") for n, o in sorted(repo.branches.items())
                             if not n.startswith("refs/")],
                "converts": [], "tags": [ref(n, o, "tags") for n, o in sorted(repo.tags.items())]}
        if req.flag("include_prs"):
            body["pullRequests"] = [ref(n, o, None) for n, o in sorted(repo.branches.items())
                                    if n.startswith("refs/pr/")]
        return json_response(200, body)

    def _commits(self, req, commit):
        chain, c = [], commit
        while c is not None:
            chain.append(c)
            c = c.parent
        page, headers = self._page(req, chain, [])
        if page is None:
            return error_response(400, "Invalid cursor")
        items = [{"id": c.oid, "title": c.title, "message": c.message,
                  "authors": [{"user": c.author.split(" <")[0]}], "date": iso_date(c.date)}
                 for c in page]
        return json_response(200, items, [*headers, ("X-Total-Count", str(len(chain)))])

    def _token(self, repo):
        token, exp = self._xet_token(repo)
        return json_response(200, {"accessToken": token, "exp": exp, "casUrl": self.cas_url},
                             [("X-Xet-Cas-Url", self.cas_url), ("X-Xet-Access-Token", token),
                              ("X-Xet-Token-Expiration", str(exp))])

    # -- CDN host

    def _cdn(self, req):
        if req.method not in ("GET", "HEAD") or len(req.segs) != 2 or req.segs[0] != "lfs":
            return error_response(404, "Not Found")
        self._count("cdn_head" if req.method == "HEAD" else "cdn_get")
        if req.h("Authorization"):
            self._count("cdn_auth_seen")
        sha = req.segs[1]
        why = self._signed_ok(req, "cdn", req.path)
        if why:
            self._count("cdn_forbidden")
            return error_response(403, why)
        data = self._blobs.get(sha)
        if data is None:
            return error_response(404, "Not Found")
        return self._serve_bytes(req, data, [("ETag", '"%s"' % sha), ("Accept-Ranges", "bytes"),
                                             ("Content-Type", "application/octet-stream")], "cdn")

    # -- CAS host (xet-spec.md 5.2 to 5.4)

    def _cas(self, req):
        s = req.segs
        if len(s) == 3 and s[0] == "xorb" and s[1] == "default":
            return self._xorb(req, s[2])
        if len(s) == 3 and s[0] in ("v1", "v2") and s[1] == "reconstructions":
            version, fhash = s[0], s[2]
        elif len(s) == 2 and s[0] in ("reconstructions", "reconstruction"):   # old hf_xet paths
            version, fhash = "v1", s[1]
        else:
            return error_response(404, "Not Found")
        self._count("recon_" + version)
        repo = self._xet_token_repo(req.token) if req.token else None
        if repo is None:
            self._count("cas_unauthorized")
            return error_response(401, "Unauthorized: missing, invalid or expired token")
        xf = self._xet.files.get(fhash)
        if xf is None:
            return error_response(404, "File not found")
        if fhash not in repo.xet_hashes:
            return error_response(403, "Token not valid for this file")
        return self._reconstruction(req, xf, version)

    def _reconstruction(self, req, xf, version):
        rng = parse_ranges(req.h("Range"), xf.size) if xf.size else None
        if rng == "unsatisfiable" or (req.h("Range") and xf.size == 0):
            return error_response(416, "Requested Range Not Satisfiable",
                                  headers=[("Content-Range", "bytes */%d" % xf.size)])
        a, b = (0, xf.size - 1) if not rng else rng[0]
        terms, pos, offset = [], 0, None
        for xh, start, end in xf.terms:
            x, keep = self.xorbs[xh], []
            for k in range(start, end):
                n = x.chunks[k].raw_len
                if pos + n > a and pos <= b:       # the chunk overlaps [a, b]
                    if offset is None:
                        offset = a - pos
                    keep.append(k)
                pos += n
            if keep:
                terms.append((xh, keep[0], keep[-1] + 1))
        wanted = collections.defaultdict(list)   # xorb -> merged chunk ranges, sorted
        for xh, start, end in sorted(terms):
            rs = wanted[xh]
            if rs and start <= rs[-1][1]:
                rs[-1] = (rs[-1][0], max(rs[-1][1], end))
            else:
                rs.append((start, end))
        out_terms = [{"hash": xh, "unpacked_length": sum(c.raw_len for c in self.xorbs[xh].chunks[s:e]),
                      "range": {"start": s, "end": e}} for xh, s, e in terms]
        doc = {"offset_into_first_range": offset or 0, "terms": out_terms}
        if version == "v2":
            doc["xorbs"] = {}
            for xh, rs in wanted.items():
                br = [self.xorbs[xh].byte_range(s, e) for s, e in rs]
                doc["xorbs"][xh] = [{"url": self._xorb_url(xh, br),
                                     "ranges": [{"chunks": {"start": s, "end": e},
                                                 "bytes": {"start": r[0], "end": r[1]}}
                                                for (s, e), r in zip(rs, br)]}]
        else:
            doc["fetch_info"] = {}
            for xh, rs in wanted.items():
                entries = []
                for s, e in rs:
                    r = self.xorbs[xh].byte_range(s, e)
                    entries.append({"range": {"start": s, "end": e}, "url": self._xorb_url(xh, [r]),
                                    "url_range": {"start": r[0], "end": r[1]}})
                doc["fetch_info"][xh] = entries
        return json_response(200, doc)

    def _xorb(self, req, xhash):
        if req.method not in ("GET", "HEAD"):
            return error_response(405, "Method Not Allowed")
        self._count("xorb_get")
        if req.h("Authorization"):
            self._count("xorb_auth_seen")
        signed = req.q("X-Xet-Signed-Range") or ""
        why = self._signed_ok(req, "xorb", req.path, signed)
        if why:
            self._count("xorb_forbidden")
            return error_response(403, why)
        x = self.xorbs.get(xhash)
        if x is None:
            return error_response(404, "Not Found")
        size = len(x.data)
        allowed = parse_ranges(signed, size)
        if not isinstance(allowed, list):
            self._count("xorb_forbidden")
            return error_response(403, "bad signed range")
        asked = parse_ranges(req.h("Range"), size) if req.h("Range") else [(0, size - 1)]
        if not isinstance(asked, list):
            self._count("xorb_forbidden")
            return error_response(403 if asked is None else 416, "Range not allowed")
        self._count("xorb_ranges", len(asked))
        if not all(any(s0 <= a and b <= e0 for s0, e0 in allowed) for a, b in asked):
            self._count("xorb_forbidden")
            return error_response(403, "Range outside the signed range")
        parts = [self._xorb_part(req, x, a, b) for a, b in asked]
        ctype = ("Content-Type", "application/octet-stream")
        if not req.h("Range"):
            return Response(200, parts[0], [ctype], "xorb")
        if len(asked) == 1:
            a, b = asked[0]
            return Response(206, parts[0], [ctype, ("Content-Range", "bytes %d-%d/%d" % (a, b, size))],
                            "xorb")
        self._count("xorb_multirange")
        boundary = "fakehub%s" % os.urandom(8).hex()
        body = b"".join(b"--%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes "
                        b"%d-%d/%d\r\n\r\n%s\r\n" % (boundary.encode(), a, b, size, p)
                        for (a, b), p in zip(asked, parts)) + b"--%s--\r\n" % boundary.encode()
        return Response(206, body, [("Content-Type", "multipart/byteranges; boundary=" + boundary)],
                        "xorb")

    def _xorb_part(self, req, x, a, b):
        """Bytes [a, b] of a xorb; with the corrupt fault, one payload byte of the first whole
        chunk record in the range is inverted, so that chunk decodes wrong or not at all."""
        data = x.data[a:b + 1]
        if not self.faults.on(req.host, "corrupt"):
            return data
        self._count("fault_corrupt")
        data = bytearray(data)
        whole = [c for c in x.chunks if c.rec_off >= a and c.rec_off + c.rec_len - 1 <= b]
        if whole:
            c = whole[0]
            data[c.rec_off - a + 8 + (c.rec_len - 8) // 2] ^= 0xFF
        else:
            data[len(data) // 2] ^= 0xFF
        return bytes(data)


def content_type(path):
    p = path.lower()
    if p.endswith(".json"):
        return "application/json"
    if p.endswith((".txt", ".md", ".py", ".csv", ".yaml", ".yml", ".gitattributes")):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"
