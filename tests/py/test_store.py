"""Content store tests: deduplication, git-exact ids, crash safety, corruption detection and
input validation of `hubgate import` / `hubgate verify` (and what `hubgate serve` delivers from a
damaged store).

Python 3 standard library only.  Run:
    cd tests/py && HUBGATE=../../build/hubgate python3 -m unittest -v test_store

Numbers worth quoting (dedup ratios, crash-run outcomes) are printed on stderr.
"""
import fcntl
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

import harness

AUTHOR = "Test Author <test@example.com>"
DATE = 1700000000
LFS_THRESHOLD = 10485760  # files strictly larger are LFS whatever their name

IMPORT_RE = re.compile(
    r"import (\S+) (\S+)@(\S+): (\d+) files, (\d+) bytes, (\d+) new chunk bytes, "
    r"(\d+) bytes written in (\d+) xorbs( \(unchanged: no new commit\))?")


def note(msg):
    sys.stderr.write(f"\n    [store] {msg}")
    sys.stderr.flush()


def rand_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_files(root, files, modes=None):
    """files: {relative path: bytes}; modes: {relative path: permission bits}."""
    modes = modes or {}
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, modes.get(rel, 0o644))


def list_files(root):
    out = []
    for d, dirs, names in os.walk(root):
        dirs[:] = [x for x in dirs if x != ".git"]
        for n in names:
            out.append(os.path.relpath(os.path.join(d, n), root).replace(os.sep, "/"))
    return sorted(out)


class Imported:
    def __init__(self, proc):
        self.proc = proc
        self.rc = proc.returncode
        self.commit = proc.stdout.strip()
        self.stderr = proc.stderr
        m = None
        for line in proc.stderr.splitlines():
            m = IMPORT_RE.search(line) or m
        self.stats = None
        if m:
            self.stats = {
                "files": int(m.group(4)), "bytes": int(m.group(5)), "new": int(m.group(6)),
                "written": int(m.group(7)), "xorbs": int(m.group(8)),
                "unchanged": m.group(9) is not None,
            }


def do_import(data, src, repo, *extra, check=True, author=AUTHOR, date=DATE, message=None):
    args = ["import", "--data", data]
    if author is not None:
        args += ["--author", author]
    if date is not None:
        args += ["--date", str(date)]
    if message is not None:
        args += ["--message", message]
    args += [*extra, src, repo]
    r = Imported(harness.run(*args, check=check))
    if check:
        assert re.fullmatch(r"[0-9a-f]{40}", r.commit), f"import printed {r.commit!r}"
        assert r.stats is not None, f"no import log line in {r.stderr!r}"
    return r


def verify(data):
    p = harness.run("verify", "--data", data, check=False)
    out = p.stdout
    rep = {"rc": p.returncode, "stdout": out, "stderr": p.stderr}

    def grab(rx, names):
        m = re.search(rx, out, re.M)
        if not m:
            raise AssertionError(f"verify output lacks /{rx}/: {out!r} {p.stderr[-2000:]!r}")
        for n, v in zip(names, m.groups()):
            rep[n] = int(v)

    grab(r"^xorbs (\d+) \(bad (\d+), missing (\d+)\)$", ["xorbs", "xorbs_bad", "xorbs_missing"])
    grab(r"^contents (\d+) \(bad (\d+)\)$", ["contents", "contents_bad"])
    grab(r"^commits (\d+) \(bad (\d+)\)$", ["commits", "commits_bad"])
    grab(r"^orphan files (\d+)$", ["orphans"])
    grab(r"^logical bytes (\d+), unique chunk bytes (\d+), stored bytes (\d+)$",
         ["logical", "unique", "stored"])
    rep["ok"] = out.rstrip().endswith("\nOK") or out.strip() == "OK"
    rep["problems"] = "PROBLEMS FOUND" in out
    return rep


def assert_clean(tc, rep, what=""):
    tc.assertEqual(rep["rc"], 0, f"{what}: verify failed:\n{rep['stdout']}\n{rep['stderr'][-3000:]}")
    tc.assertTrue(rep["ok"], f"{what}: {rep['stdout']}")
    for k in ("xorbs_bad", "xorbs_missing", "contents_bad", "commits_bad"):
        tc.assertEqual(rep[k], 0, f"{what}: {k}: {rep['stdout']}")


def gc(data, *extra):
    """hubgate gc: (exit status, number removed or removable, bytes, stderr)."""
    p = harness.run("gc", "--data", data, *extra, check=False)
    m = re.search(r"^(?:removed|would remove) (\d+) orphan xorb files, (\d+) bytes$", p.stdout, re.M)
    if p.returncode == 0 and not m:
        raise AssertionError(f"gc output: {p.stdout!r} {p.stderr[-1000:]!r}")
    return p.returncode, int(m.group(1)) if m else None, int(m.group(2)) if m else None, p.stderr


def xorb_files(data):
    out = set()
    top = os.path.join(data, "xorbs")
    for d, _, names in os.walk(top):
        for n in names:
            out.add(os.path.join(d, n))
    return out


class Server(harness.Server):
    """harness.Server that also closes the pipe it reads the port from."""

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            if self.proc is not None and self.proc.stdout is not None:
                self.proc.stdout.close()


def http_get(port, path, headers=None, timeout=30):
    """GET reading the whole body: (status, body, complete, content_length, timed_out).

    complete: the body has Content-Length bytes; timed_out: nothing arrived for `timeout`
    seconds (neither more body nor the end of the connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    timed_out = False
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        clen = r.getheader("Content-Length")
        try:
            body = r.read()
            complete = clen is None or len(body) == int(clen)
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        except (socket.timeout, TimeoutError):
            body, complete, timed_out = b"", False, True
        except (ConnectionError, http.client.HTTPException):
            body, complete = b"", False
        return r.status, body, complete, clen, timed_out
    finally:
        conn.close()


def branch_head(data, repo, kind="models", branch="main"):
    """The commit the branch points at (via `hubgate serve`), or None if the repo is unknown."""
    with Server(data) as s:
        status, body, complete, _, _ = http_get(s.port, f"/api/{kind}/{repo}/revision/{branch}")
    if status in (401, 404):
        return None
    if status != 200 or not complete:
        raise AssertionError(f"revision API: {status} {body[:300]!r}")
    return json.loads(body)["sha"]


def hub_tree_oid(data, commit):
    """The tree id hubgate recorded for a commit (read from the index; no API exposes it)."""
    import sqlite3
    con = sqlite3.connect(os.path.join(data, "index.sqlite"), timeout=10)
    try:
        row = con.execute("SELECT tree_oid FROM commits WHERE oid = ?", (bytes.fromhex(commit),)).fetchone()
    finally:
        con.close()
    return bytes(row[0]).hex() if row else None


def lfs_pointer(data):
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(data).hexdigest()}\n"
            f"size {len(data)}\n").encode()


# ---------------------------------------------------------------------------------------------
# 1. Deduplication
# ---------------------------------------------------------------------------------------------

def base_model_files():
    r = random.Random(1234)
    words = [("".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9))))
             for _ in range(3000)]
    vocab = {w: i for i, w in enumerate(sorted(set(words)))}
    return {
        "model-00001-of-00003.safetensors": rand_bytes(11, 16 << 20),
        "model-00002-of-00003.safetensors": rand_bytes(12, 14 << 20),
        "model-00003-of-00003.safetensors": rand_bytes(13, 10 << 20),
        "model.safetensors.index.json": json.dumps(
            {"metadata": {"total_size": 40 << 20},
             "weight_map": {f"layers.{i}.weight": f"model-0000{1 + i % 3}-of-00003.safetensors"
                            for i in range(200)}}, indent=2).encode(),
        "config.json": json.dumps({"architectures": ["TinyForCausalLM"], "hidden_size": 1024,
                                   "num_hidden_layers": 24, "vocab_size": len(vocab)}, indent=2).encode(),
        "tokenizer.json": json.dumps({"model": {"vocab": vocab}}, indent=1).encode(),
        "README.md": b"# Base model\n\nA deterministic test fixture.\n",
    }


def fine_tune(files):
    """The fine-tuned variant: ~10 % of the tensor bytes changed.  Returns (files, changed)."""
    r = random.Random(99)
    out = dict(files)
    changed = 0
    # shard 1: eight 256 KiB spans rewritten and ten scattered one-byte edits
    b = bytearray(files["model-00001-of-00003.safetensors"])
    for k in range(8):
        off = (k * 2 + 1) << 20
        b[off:off + (256 << 10)] = r.randbytes(256 << 10)
        changed += 256 << 10
    for _ in range(10):
        o = r.randrange(len(b))
        b[o] ^= 0x5A
        changed += 1
    out["model-00001-of-00003.safetensors"] = bytes(b)
    # shard 2: 300 KiB inserted in the middle (everything after it shifts) and two spans
    b = files["model-00002-of-00003.safetensors"]
    mid = len(b) // 2 + 12345
    b = bytearray(b[:mid] + r.randbytes(300 << 10) + b[mid:])
    changed += 300 << 10
    for off in (2 << 20, 11 << 20):
        b[off:off + (256 << 10)] = r.randbytes(256 << 10)
        changed += 256 << 10
    out["model-00002-of-00003.safetensors"] = bytes(b)
    # shard 3: one 1.25 MiB span and five 8-byte edits
    b = bytearray(files["model-00003-of-00003.safetensors"])
    b[3 << 20:(3 << 20) + (1280 << 10)] = r.randbytes(1280 << 10)
    changed += 1280 << 10
    for _ in range(5):
        o = r.randrange(len(b) - 8)
        b[o:o + 8] = r.randbytes(8)
        changed += 8
    out["model-00003-of-00003.safetensors"] = bytes(b)
    out["config.json"] = files["config.json"].replace(b'"hidden_size": 1024', b'"hidden_size": 1024, "finetuned": true')
    out["README.md"] = b"# Fine-tuned model\n\nDerived from the base fixture.\n"
    return out, changed


class DedupTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-store-dedup-")
        cls.data = os.path.join(cls.tmp, "data")
        cls.base_dir = os.path.join(cls.tmp, "base")
        cls.ft_dir = os.path.join(cls.tmp, "ft")
        base = base_model_files()
        ft, cls.changed = fine_tune(base)
        write_files(cls.base_dir, base)
        write_files(cls.ft_dir, ft)
        cls.tensor_bytes = sum(len(v) for k, v in base.items() if k.endswith(".safetensors"))
        cls.base_files, cls.ft_files = base, ft
        cls.base = do_import(cls.data, cls.base_dir, "acme/base-model", message="Base")
        cls.ft = do_import(cls.data, cls.ft_dir, "acme/base-model", message="Fine-tune")
        cls.copy = do_import(cls.data, cls.base_dir, "mirror/base-model", message="Base")
        cls.xorbs_before_again = xorb_files(cls.data)
        cls.again = do_import(cls.data, cls.base_dir, "mirror/base-model", message="Base")
        cls.xorbs_after_again = xorb_files(cls.data)
        cls.rep = verify(cls.data)

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def test_1_base_import(self):
        s = self.base.stats
        self.assertFalse(s["unchanged"])
        self.assertEqual(s["files"], len(self.base_files) + 1)  # + the default .gitattributes
        self.assertGreaterEqual(s["bytes"], self.tensor_bytes)
        # random tensors do not deduplicate within themselves: everything is new
        self.assertGreaterEqual(s["new"], self.tensor_bytes)
        note(f"base import: {s['bytes']} logical bytes, {s['new']} new chunk bytes, "
             f"{s['written']} written in {s['xorbs']} xorbs")

    def test_2_fine_tune_writes_only_changed_regions(self):
        s = self.ft.stats
        self.assertFalse(s["unchanged"])
        self.assertNotEqual(self.ft.commit, self.base.commit)
        frac = s["new"] / s["bytes"]
        note(f"fine-tune: {self.changed} bytes changed ({self.changed / self.tensor_bytes:.1%} of tensors), "
             f"{s['bytes']} logical, {s['new']} new chunk bytes ({frac:.1%}), {s['written']} written")
        self.assertGreaterEqual(s["new"], self.changed - 64, "new chunk bytes below the bytes that changed")
        self.assertLess(frac, 0.25, "the fine-tune stored far more than its changed regions")
        self.assertLessEqual(s["written"], s["new"] * 1.01 + 65536)

    def test_3_same_base_in_second_repo_writes_nothing(self):
        s = self.copy.stats
        self.assertFalse(s["unchanged"])  # a new repo: a new branch, a first commit
        self.assertEqual(s["new"], 0)
        self.assertEqual(s["written"], 0)
        self.assertEqual(s["xorbs"], 0)
        # same tree, no parent, same author/date/message: git gives the same commit id
        self.assertEqual(self.copy.commit, self.base.commit)

    def test_4_unchanged_reimport(self):
        s = self.again.stats
        self.assertEqual(self.again.commit, self.copy.commit)
        self.assertTrue(s["unchanged"], self.again.stderr)
        self.assertEqual((s["new"], s["written"], s["xorbs"]), (0, 0, 0))
        self.assertEqual(self.xorbs_before_again, self.xorbs_after_again)

    def test_5_verify_ratios(self):
        rep = self.rep
        assert_clean(self, rep, "dedup store")
        self.assertEqual(rep["orphans"], 0)
        self.assertEqual(rep["commits"], 3)  # (repo, commit) rows: base + fine-tune, and the mirror's
        logical_imported = self.base.stats["bytes"] + self.ft.stats["bytes"] + self.copy.stats["bytes"]
        stored, unique = rep["stored"], rep["unique"]
        note(f"verify: stored {stored}, unique chunk bytes {unique}, logical (unique contents) "
             f"{rep['logical']}, logical imported {logical_imported}; stored/unique {stored / unique:.4f}, "
             f"logical imported/stored {logical_imported / stored:.2f}x, "
             f"du-style saving {1 - stored / logical_imported:.1%}")
        self.assertLessEqual(stored / unique, 1.05, "stored bytes more than 5 % above unique chunk bytes")
        self.assertGreaterEqual(stored, unique * 0.5)  # random tensors do not compress
        self.assertGreaterEqual(logical_imported / unique, 2.5)
        # unique chunk bytes: the base plus the fine-tune's new chunks, nothing else
        total_new = self.base.stats["new"] + self.ft.stats["new"] + self.copy.stats["new"]
        self.assertEqual(unique, total_new)
        self.assertEqual(stored, self.base.stats["written"] + self.ft.stats["written"])

    def test_6_served_bytes_match_sources(self):
        """Reconstruction across xorbs of two imports: every file of every repo reads back."""
        with Server(self.data) as s:
            for repo, files in (("acme/base-model", self.ft_files), ("mirror/base-model", self.base_files)):
                for rel, data in files.items():
                    status, body, complete, _, _ = http_get(s.port, f"/{repo}/resolve/main/{rel}")
                    self.assertEqual(status, 200, f"{repo}/{rel}")
                    self.assertTrue(complete, f"{repo}/{rel}")
                    self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest(),
                                     f"{repo}/{rel}")
            # the base commit stays readable by id after the fine-tune moved main
            rel = "model-00002-of-00003.safetensors"
            status, body, complete, _, _ = http_get(s.port, f"/acme/base-model/resolve/{self.base.commit}/{rel}")
            self.assertEqual((status, complete), (200, True))
            self.assertEqual(body, self.base_files[rel])


# ---------------------------------------------------------------------------------------------
# 2. Commit and tree ids equal git's
# ---------------------------------------------------------------------------------------------

OWN_GITATTRIBUTES = (b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
                     b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
                     b"*.dat filter=lfs diff=lfs merge=lfs -text\n"
                     b"saved_model/**/* filter=lfs diff=lfs merge=lfs -text\n"
                     b"*tfevents* filter=lfs diff=lfs merge=lfs -text\n")


@unittest.skipUnless(shutil.which("git"), "git is not installed")
class GitIdsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-store-git-")
        cls.home = os.path.join(cls.tmp, "home")
        os.makedirs(cls.home)

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def git(self, wt, *args, date=DATE, stdin=subprocess.DEVNULL):
        name, email = AUTHOR[:AUTHOR.index(" <")], AUTHOR[AUTHOR.index("<") + 1:-1]
        env = dict(os.environ, HOME=self.home, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_AUTHOR_DATE=f"@{date} +0000",
                   GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email, GIT_COMMITTER_DATE=f"@{date} +0000",
                   LC_ALL="C")
        p = subprocess.run(["git", "-C", wt, *args], env=env, stdin=stdin, capture_output=True, timeout=120)
        if p.returncode != 0:
            raise AssertionError(f"git {args}: {p.stderr.decode(errors='replace')}")
        return p.stdout.decode().strip()

    def git_snapshot(self, wt, src, lfs, parent, message, date=DATE):
        """Makes wt mirror src (LFS files as pointers, same x bits); returns (commit, tree)."""
        if not os.path.isdir(os.path.join(wt, ".git")):
            os.makedirs(wt, exist_ok=True)
            self.git(wt, "init", "-q")
            self.git(wt, "config", "core.autocrlf", "false")
            self.git(wt, "config", "core.filemode", "true")
        for rel in list_files(wt):
            os.unlink(os.path.join(wt, rel))
        for rel in list_files(src):
            sp, dp = os.path.join(src, rel), os.path.join(wt, rel)
            os.makedirs(os.path.dirname(dp), exist_ok=True)
            with open(sp, "rb") as f:
                data = f.read()
            with open(dp, "wb") as f:
                f.write(lfs_pointer(data) if rel in lfs else data)
            os.chmod(dp, stat.S_IMODE(os.stat(sp).st_mode))
        self.git(wt, "add", "-A")
        tree = self.git(wt, "write-tree")
        args = ["commit-tree", tree]
        if parent:
            args += ["-p", parent]
        args += ["-m", message]
        commit = self.git(wt, *args, date=date)
        return commit, tree

    def hub_tree(self, data, repo, kind="models", rev="main"):
        with Server(data) as s:
            status, body, _, _, _ = http_get(s.port, f"/api/{kind}/{repo}/tree/{rev}?recursive=1")
        if status != 200:
            return f"(tree API {status})"
        return sorted((e["path"], e.get("oid")) for e in json.loads(body) if e["type"] == "file")

    def compare(self, data, repo, got_commit, wt, want_commit, want_tree, kind="models"):
        """hubgate's commit (and its tree, read from the index) against git's."""
        got_tree = hub_tree_oid(data, got_commit)
        git_files = sorted((line.split("\t", 1)[1], line.split()[2])
                           for line in self.git(wt, "ls-tree", "-r", want_tree).splitlines())
        diag = (f"\nhubgate files: {self.hub_tree(data, repo, kind, got_commit)}"
                f"\ngit files:     {git_files}")
        self.assertEqual(got_tree, want_tree, "tree id differs from git's" + diag)
        self.assertEqual(got_commit, want_commit, "commit id differs from git's (trees agree)")

    def test_commits_match_git(self):
        src = os.path.join(self.tmp, "src1")
        wt = os.path.join(self.tmp, "wt1")
        data = os.path.join(self.tmp, "data1")
        files = {
            ".gitattributes": OWN_GITATTRIBUTES,
            "README.md": b"# Model\n\nText with unicode: \xc3\xa9\xe2\x82\xac\n",
            "config.json": b'{"a": 1}\n',
            "empty.txt": b"",
            "run.sh": b"#!/bin/sh\necho hi\n",
            # tree order: "a.txt" < "a/" (dir sorts as "a/") < "a0" ; "a-b" < "a.txt"
            "a.txt": b"a dot txt\n",
            "a-b": b"a dash b\n",
            "a0": b"a zero\n",
            "a/inner.txt": b"inner\n",
            "a/b/c/deep.json": b"[1, 2, 3]\n",
            "donn\xc3\xa9es/\xc3\xa9t\xc3\xa9.txt".encode("latin-1").decode("utf-8"): b"unicode path\n",
            "model.safetensors": rand_bytes(21, 300_000),
            "weights.pt": rand_bytes(22, 50_000),
            "saved_model/keras_metadata": b"saved model metadata\n",
            "saved_model/variables/variables.index": rand_bytes(23, 1000),
            "other/saved_model.txt": b"not lfs\n",
            "logs/events.out.tfevents.1700000000.host": rand_bytes(24, 2000),
            "exactly-10MiB.raw": rand_bytes(25, LFS_THRESHOLD),
            "just-over-10MiB.raw": rand_bytes(26, LFS_THRESHOLD + 1),
        }
        modes = {"run.sh": 0o755, "a/b/c/deep.json": 0o744}
        lfs = {"model.safetensors", "weights.pt", "saved_model/keras_metadata",
               "saved_model/variables/variables.index", "logs/events.out.tfevents.1700000000.host",
               "just-over-10MiB.raw"}
        write_files(src, files, modes)

        msg1 = "Initial import"
        c1 = do_import(data, src, "acme/gitcheck", message=msg1)
        g1, t1 = self.git_snapshot(wt, src, lfs, None, msg1)
        self.compare(data, "acme/gitcheck", c1.commit, wt, g1, t1)

        # second commit: edit, delete, add, exec bit change, an LFS file changed; multi-line message
        os.unlink(os.path.join(src, "a0"))
        write_files(src, {"config.json": b'{"a": 2}\n', "new/file.txt": b"new\n",
                          "model.safetensors": rand_bytes(27, 300_001)})
        os.chmod(os.path.join(src, "run.sh"), 0o644)
        os.chmod(os.path.join(src, "README.md"), 0o755)
        msg2 = "Second commit\n\nWith a body line.\n"
        c2 = do_import(data, src, "acme/gitcheck", date=DATE + 3600, message=msg2)
        g2, t2 = self.git_snapshot(wt, src, lfs, g1, msg2, date=DATE + 3600)
        self.compare(data, "acme/gitcheck", c2.commit, wt, g2, t2)

        # third: message with trailing blank lines and no final edit of content except one byte
        write_files(src, {"a.txt": b"a dot txt!\n"})
        msg3 = "Third\n\n"
        c3 = do_import(data, src, "acme/gitcheck", date=DATE + 7200, message=msg3)
        g3, t3 = self.git_snapshot(wt, src, lfs, g2, msg3, date=DATE + 7200)
        self.compare(data, "acme/gitcheck", c3.commit, wt, g3, t3)

        # an unchanged snapshot under another message: no new commit
        c4 = do_import(data, src, "acme/gitcheck", date=DATE + 9999, message="ignored")
        self.assertTrue(c4.stats["unchanged"])
        self.assertEqual(c4.commit, g3)
        assert_clean(self, verify(data), "git store")

    def test_empty_message(self):
        src = os.path.join(self.tmp, "src-empty")
        wt = os.path.join(self.tmp, "wt-empty")
        data = os.path.join(self.tmp, "data-empty")
        write_files(src, {".gitattributes": OWN_GITATTRIBUTES, "x.txt": b"x\n"})
        c = do_import(data, src, "acme/empty-msg", message="")
        g, t = self.git_snapshot(wt, src, set(), None, "")
        self.compare(data, "acme/empty-msg", c.commit, wt, g, t)

    def test_default_gitattributes(self):
        """A folder without .gitattributes gets the Hub default; the ids still equal git's."""
        for kind, typ, url_prefix in (("models", "model", ""), ("datasets", "dataset", "datasets/")):
            with self.subTest(type=typ):
                src = os.path.join(self.tmp, f"src-default-{typ}")
                wt = os.path.join(self.tmp, f"wt-default-{typ}")
                data = os.path.join(self.tmp, f"data-default-{typ}")
                files = {"data/train.parquet": rand_bytes(31, 20000), "notes.txt": b"notes\n",
                         "images/cat.png": rand_bytes(32, 3000), "model.bin": rand_bytes(33, 4000)}
                write_files(src, files)
                c = do_import(data, src, "acme/defaults", "--type", typ, message="Default attrs")
                with Server(data) as s:
                    status, ga, complete, _, _ = http_get(s.port, f"/{url_prefix}acme/defaults/raw/main/.gitattributes")
                self.assertEqual((status, complete), (200, True))
                self.assertIn(b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", ga)
                full = os.path.join(self.tmp, f"src-default-{typ}-full")
                write_files(full, dict(files, **{".gitattributes": ga}))
                lfs = {"data/train.parquet", "model.bin"} | ({"images/cat.png"} if typ == "dataset" else set())
                g, t = self.git_snapshot(wt, full, lfs, None, "Default attrs")
                self.compare(data, "acme/defaults", c.commit, wt, g, t, kind=kind)
                # importing the folder with that .gitattributes spelled out is the same snapshot
                again = do_import(data, full, "acme/defaults", "--type", typ, message="x")
                self.assertTrue(again.stats["unchanged"], again.stderr)
                self.assertEqual(again.commit, g)

    def test_exec_bit_follows_git(self):
        """git records 100755 only when the owner's x bit is set (0100); group/other x do not count."""
        src = os.path.join(self.tmp, "src-mode")
        wt = os.path.join(self.tmp, "wt-mode")
        data = os.path.join(self.tmp, "data-mode")
        write_files(src, {".gitattributes": OWN_GITATTRIBUTES, "owner-x.sh": b"a\n", "group-x.sh": b"b\n",
                          "other-x.sh": b"c\n", "plain.txt": b"d\n"},
                    {"owner-x.sh": 0o744, "group-x.sh": 0o654, "other-x.sh": 0o645, "plain.txt": 0o644})
        c = do_import(data, src, "acme/modes", message="modes")
        g, t = self.git_snapshot(wt, src, set(), None, "modes")
        ls = self.git(wt, "ls-tree", t)
        self.assertEqual(c.commit, g, f"mode handling differs from git (git ls-tree:\n{ls})")


# ---------------------------------------------------------------------------------------------
# 3. Crash safety
# ---------------------------------------------------------------------------------------------

def crash_base_files():
    files = {f"shard-{i}.safetensors": rand_bytes(100 + i, 18 << 20) for i in range(4)}  # 72 MiB
    files["config.json"] = b'{"model": "crash-test"}\n'
    files["README.md"] = b"# crash test\n"
    return files


def crash_ft_files(base):
    r = random.Random(7)
    out = dict(base)
    for i in range(4):
        b = bytearray(base[f"shard-{i}.safetensors"])
        for k in range(3):
            off = (k * 5 + 2) << 20
            b[off:off + (512 << 10)] = r.randbytes(512 << 10)
        out[f"shard-{i}.safetensors"] = bytes(b)
    out["extra.safetensors"] = r.randbytes(8 << 20)
    out["config.json"] = b'{"model": "crash-test", "finetuned": true}\n'
    return out


class CrashTest(unittest.TestCase):
    REPO = "acme/crashy"

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-store-crash-")
        cls.base_dir = os.path.join(cls.tmp, "base")
        cls.ft_dir = os.path.join(cls.tmp, "ft")
        base = crash_base_files()
        write_files(cls.base_dir, base)
        write_files(cls.ft_dir, crash_ft_files(base))
        # reference stores: a clean base import (the pristine copy for fine-tune runs) and a clean
        # fine-tune on top of it; their timings (from spawn to exit, as in the runs) choose the delays
        cls.pristine = os.path.join(cls.tmp, "pristine")
        cls.ref = os.path.join(cls.tmp, "ref")
        t_base = []
        for k in range(2):
            d = cls.pristine if k == 0 else os.path.join(cls.tmp, "measure")
            t0 = time.monotonic()
            c = do_import(d, cls.base_dir, cls.REPO, message="base").commit
            t_base.append(time.monotonic() - t0)
            if k == 0:
                cls.c_base = c
            else:
                assert c == cls.c_base
                harness.rmtree(d)
        shutil.copytree(cls.pristine, cls.ref)
        t0 = time.monotonic()
        cls.c_ft = do_import(cls.ref, cls.ft_dir, cls.REPO, date=DATE + 60, message="ft").commit
        cls.t_ft = time.monotonic() - t0
        cls.t_base = min(t_base)
        cls.ref_base = verify(cls.pristine)
        cls.ref_ft = verify(cls.ref)
        note(f"crash test: base import (72 MiB) {cls.t_base:.3f}s, fine-tune import {cls.t_ft:.3f}s")

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    @staticmethod
    def plans(n_timed, duration, seed):
        """Kill plans: n_timed delays spread over [0, 1.1 T] (one per slot, jittered), plus kills
        triggered by what the import does on disk: as soon as a file appears in DIR/tmp (a xorb
        being written), as soon as a new xorb file is renamed into DIR/xorbs (durable, not yet
        referenced by the index), and 3 ms after that."""
        rng = random.Random(seed)
        out = [("delay", (i + rng.random()) / n_timed * duration * 1.1) for i in range(n_timed)]
        return out + [("tmp", 0.0), ("xorb", 0.0), ("xorb", 0.003)]

    def crash_runs(self, label, plans, start_store, src, date, message, prev, new, ref_rep):
        outcomes = []
        for i, (trigger, delay) in enumerate(plans):
            data = os.path.join(self.tmp, f"{label}-{i}")
            if start_store:
                shutil.copytree(start_store, data)
            xorbs0 = xorb_files(data)
            tmpdir = os.path.join(data, "tmp")
            what = f"{trigger}+{delay * 1000:.1f}ms"
            with self.subTest(run=label, i=i, kill=what):
                args = [harness.HUBGATE, "import", "--data", data, "--author", AUTHOR, "--date", str(date),
                        "--message", message, src, self.REPO]
                t0 = time.monotonic()
                p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                seen = trigger == "delay"
                while not seen and p.poll() is None:
                    if trigger == "tmp":
                        seen = os.path.isdir(tmpdir) and bool(os.listdir(tmpdir))
                    else:
                        seen = bool(xorb_files(data) - xorbs0)
                    if not seen:
                        time.sleep(0.0003)
                if delay:
                    time.sleep(delay)
                at = time.monotonic() - t0
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                out, err = p.communicate(timeout=120)
                killed = p.returncode == -signal.SIGKILL
                if not killed:
                    self.assertEqual(p.returncode, 0, err.decode(errors="replace")[-2000:])
                rep = verify(data)
                assert_clean(self, rep, f"{label} run {i} after SIGKILL ({what}, at {at:.3f}s)")
                # gc removes exactly the orphans verify counted, and nothing the index needs
                files = xorb_files(data)
                self.assertEqual(gc(data, "--dry-run")[:2], (0, rep["orphans"]))
                self.assertEqual(xorb_files(data), files, "gc --dry-run removed files")
                self.assertEqual(gc(data)[:2], (0, rep["orphans"]))
                self.assertEqual(len(files) - len(xorb_files(data)), rep["orphans"])
                after = verify(data)
                assert_clean(self, after, f"{label} run {i} after gc")
                self.assertEqual(after["orphans"], 0)
                self.assertEqual((after["xorbs"], after["contents"]), (rep["xorbs"], rep["contents"]))
                head = branch_head(data, self.REPO)
                self.assertIn(head, (prev, new), "branch points at neither the old nor the new commit")
                again = do_import(data, src, self.REPO, date=date, message=message)
                self.assertEqual(again.commit, new)
                self.assertEqual(again.stats["unchanged"], head == new, again.stderr)
                rep2 = verify(data)
                assert_clean(self, rep2, f"{label} run {i} after the complete import")
                # the recovered index holds exactly what a clean run stores
                for k in ("xorbs", "contents", "commits", "logical", "unique", "stored"):
                    self.assertEqual(rep2[k], ref_rep[k], f"{k} differs from a clean import")
                outcomes.append({"kill": what, "at": round(at, 3), "killed": killed,
                                 "branch": "new" if head == new else "old", "orphans": rep["orphans"]})
            harness.rmtree(data)
        return outcomes

    def summarize(self, label, outcomes):
        at_new = sum(1 for o in outcomes if o["branch"] == "new")
        orphaned = sum(1 for o in outcomes if o["orphans"] > 0)
        killed = sum(1 for o in outcomes if o["killed"])
        runs = ", ".join(f"{o['kill']}@{o['at']}s:{'killed' if o['killed'] else 'finished'}/{o['branch']}"
                         f"/{o['orphans']}orph" for o in outcomes)
        note(f"{label}: {len(outcomes)} runs, {killed} killed mid-import, branch at the new commit after "
             f"{at_new}, orphan xorbs left by {orphaned}; runs: {runs}")
        return killed

    def test_kill_during_first_import(self):
        outcomes = self.crash_runs("base", self.plans(7, self.t_base, 1), None, self.base_dir, DATE, "base",
                                   None, self.c_base, self.ref_base)
        killed = self.summarize("kill during first import", outcomes)
        self.assertGreaterEqual(killed, 6, "too few runs were killed mid-import to mean anything")
        # the kill right after the first xorb became durable (8 MiB of chunking still to go)
        by_xorb = [o for o in outcomes if o["kill"] == "xorb+0.0ms"]
        if by_xorb and by_xorb[0]["killed"]:
            self.assertEqual(by_xorb[0]["branch"], "old")
            self.assertGreaterEqual(by_xorb[0]["orphans"], 1)

    def test_kill_during_fine_tune_import(self):
        outcomes = self.crash_runs("ft", self.plans(5, self.t_ft, 2), self.pristine, self.ft_dir, DATE + 60,
                                   "ft", self.c_base, self.c_ft, self.ref_ft)
        killed = self.summarize("kill during fine-tune import", outcomes)
        self.assertGreaterEqual(killed, 4, "too few runs were killed mid-import to mean anything")

    def test_store_openable_after_crash_in_first_open(self):
        """The state a kill leaves between creating DIR/secret (O_CREAT|O_EXCL) and writing its 32
        bytes, on the very first open of a new store: xorbs/, tmp/ and an empty secret, no index.
        The store must still be usable (nothing was ever signed with the missing secret)."""
        data = os.path.join(self.tmp, "first-open")
        os.makedirs(os.path.join(data, "xorbs"))
        os.makedirs(os.path.join(data, "tmp"))
        open(os.path.join(data, "secret"), "wb").close()
        src = os.path.join(self.tmp, "small")
        write_files(src, {"a.txt": b"a\n"})
        p = harness.run("import", "--data", data, src, "acme/first", check=False)
        self.assertEqual(p.returncode, 0, "a crash during the first store_open leaves a store that can never "
                         f"be opened again: {p.stderr.strip()}")
        assert_clean(self, verify(data), "after first-open crash")

    def test_gc_waits_for_a_running_import(self):
        """A running import has xorbs in place that its transaction has not named yet; gc must
        not take them for orphans.  The importer is stopped (SIGSTOP) right after its first xorb
        is renamed into place: gc cannot get the ingest lock and removes nothing; once the import
        has finished, nothing is left to remove and the store is clean."""
        data = os.path.join(self.tmp, "gc-live")
        small = os.path.join(self.tmp, "small3")
        write_files(small, {"seed.txt": b"seed\n"})
        do_import(data, small, "acme/seed", message="seed")
        xorbs0 = xorb_files(data)
        p = subprocess.Popen([harness.HUBGATE, "import", "--data", data, "--author", AUTHOR, "--date", str(DATE),
                              "--message", "base", self.base_dir, self.REPO],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while p.poll() is None and not (xorb_files(data) - xorbs0) and time.monotonic() < deadline:
                time.sleep(0.0003)
            p.send_signal(signal.SIGSTOP)
            pending = xorb_files(data) - xorbs0
            self.assertTrue(pending, "the import finished before its first xorb could be seen")
            t0 = time.monotonic()
            rc, n, _, err = gc(data, "--wait", "1")
            took = time.monotonic() - t0
            self.assertEqual(rc, 1, "gc did not wait for the running import")
            self.assertIn("kept writing to the store", err)
            self.assertGreaterEqual(took, 0.9, "gc gave up before --wait")
            self.assertEqual(gc(data, "--dry-run", "--wait", "0")[0], 1)
            self.assertLessEqual(pending, xorb_files(data), "gc removed a xorb of the running import")
        finally:
            p.send_signal(signal.SIGCONT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace")[-600:])
        self.assertEqual(out.decode().strip(), self.c_base)
        self.assertEqual(gc(data, "--wait", "0")[:2], (0, 0))
        rep = verify(data)
        assert_clean(self, rep, "after gc beside a running import")
        self.assertEqual(rep["orphans"], 0)

    def test_import_waits_while_gc_deletes(self):
        """While gc holds the exclusive lock (here: this test, for 1.5 s), an import does not write
        xorbs: it waits, then completes."""
        data = os.path.join(self.tmp, "gc-held")
        src = os.path.join(self.tmp, "small5")
        write_files(src, {"a.txt": b"a\n"})
        do_import(data, src, "acme/a")
        write_files(src, {"b.bin": rand_bytes(5, 1 << 20)})
        with open(os.path.join(data, "ingest.lock"), "a+") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            t0 = time.monotonic()
            p = subprocess.Popen([harness.HUBGATE, "import", "--data", data, src, "acme/a"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(1.5)
            self.assertIsNone(p.poll(), "the import did not wait for the lock")
            fcntl.flock(lk, fcntl.LOCK_UN)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err.decode(errors="replace")[-600:])
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        assert_clean(self, verify(data), "after an import that waited for gc")

    def test_gc_arguments(self):
        data = os.path.join(self.tmp, "gc-args")
        write_files(os.path.join(self.tmp, "small4"), {"a.txt": b"a\n"})
        do_import(data, os.path.join(self.tmp, "small4"), "acme/a")
        stray = os.path.join(data, "xorbs", "zz", "zz", "not-a-xorb")
        os.makedirs(os.path.dirname(stray))
        open(stray, "wb").close()
        p = harness.run("gc", "--data", data, check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("left alone 1 files under xorbs/ that are not xorbs", p.stdout)
        self.assertTrue(os.path.exists(stray), "gc removed a file it does not know")
        for bad in (["--wait", "-1"], ["--wait", "x"], ["--wait"], ["--bogus"], []):
            with self.subTest(args=bad):
                p = harness.run("gc", *(["--data", data] if bad else []), *bad, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("usage: hubgate gc", p.stderr)
        p = harness.run("gc", "--data", data, "--dry-run", "--evict-upstream-to", "0", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--dry-run does not apply to --evict-upstream-to", p.stderr)
        for bad in ("x", "-1", "12Q", "150%"):
            with self.subTest(evict=bad):
                p = harness.run("gc", "--data", data, "--evict-upstream-to", bad, check=False)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("--evict-upstream-to needs a size", p.stderr)
        p = harness.run("gc", "--data", os.path.join(self.tmp, "no-such-store"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no store", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "no-such-store")), "gc created a store")
        p = harness.run("gc", "--help", check=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--dry-run", p.stdout)

    def test_concurrent_open_does_not_break_running_import(self):
        """Opening the store (verify, serve, another import) empties DIR/tmp, which holds the xorb a
        running import is writing: the running import must still succeed."""
        data = os.path.join(self.tmp, "concurrent")
        small = os.path.join(self.tmp, "small2")
        write_files(small, {"seed.txt": b"seed\n"})
        do_import(data, small, "acme/seed", message="seed")
        p = subprocess.Popen([harness.HUBGATE, "import", "--data", data, "--author", AUTHOR, "--date", str(DATE),
                              "--message", "base", self.base_dir, self.REPO],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        opens = 0
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            harness.run("verify", "--data", data, check=False)
            opens += 1
        out, err = p.communicate(timeout=120)
        note(f"concurrent opens during the import: {opens}; import exit {p.returncode}")
        self.assertEqual(p.returncode, 0, f"import failed while other processes opened the store "
                                          f"({opens} verifies): {err.decode(errors='replace').strip()[-600:]}")
        self.assertEqual(out.decode().strip(), self.c_base)
        assert_clean(self, verify(data), "after concurrent import")


# ---------------------------------------------------------------------------------------------
# 4. Corruption detection
# ---------------------------------------------------------------------------------------------

def text_bytes(seed, n):
    r = random.Random(seed)
    words = ["tensor", "weight", "bias", "layer", "attention", "head", "norm", "embed", "token", "scale"]
    out = []
    size = 0
    while size < n:
        line = " ".join(r.choice(words) for _ in range(12)) + f" {r.randrange(10**6)}\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


class CorruptionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-store-corrupt-")
        cls.data = os.path.join(cls.tmp, "data")
        seed = os.path.join(cls.tmp, "seed")
        write_files(seed, {"seed.txt": b"seed\n"})
        do_import(cls.data, seed, "acme/seed")  # the default .gitattributes lands in this xorb
        # one repo per case; each import writes exactly one xorb holding only that file's chunks
        cls.cases = {
            "flip": ("acme/flipped", "w.safetensors", rand_bytes(41, 3 << 20)),
            "truncate": ("acme/truncated", "w.safetensors", rand_bytes(42, 3 << 20)),
            "delete": ("acme/deleted", "w.safetensors", rand_bytes(43, 3 << 20)),
            "flip-compressed": ("acme/flipped-text", "corpus.txt", text_bytes(44, 2 << 20)),
            "intact": ("acme/intact", "w.safetensors", rand_bytes(45, 3 << 20)),
        }
        cls.xorb_of = {}
        for name, (repo, rel, data) in cls.cases.items():
            src = os.path.join(cls.tmp, name)
            write_files(src, {rel: data})
            before = xorb_files(cls.data)
            r = do_import(cls.data, src, repo)
            new = xorb_files(cls.data) - before
            assert len(new) == 1 and r.stats["xorbs"] == 1, (name, new, r.stats)
            cls.xorb_of[name] = new.pop()
        assert_clean(unittest.TestCase(), verify(cls.data), "before corruption")

        def flip(path):
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.seek(size // 2)
                b = f.read(1)
                f.seek(size // 2)
                f.write(bytes([b[0] ^ 0x01]))

        flip(cls.xorb_of["flip"])
        flip(cls.xorb_of["flip-compressed"])
        p = cls.xorb_of["truncate"]
        os.truncate(p, os.path.getsize(p) // 2)
        os.unlink(cls.xorb_of["delete"])
        cls.rep = verify(cls.data)

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def test_verify_reports_damage(self):
        rep = self.rep
        note(f"verify after damage: {rep['stdout'].strip().splitlines()}")
        self.assertEqual(rep["rc"], 1, rep["stdout"])
        self.assertTrue(rep["problems"])
        self.assertGreaterEqual(rep["xorbs_bad"], 3, "flipped (x2) and truncated xorbs are bad")
        self.assertEqual(rep["xorbs_missing"], 1)
        self.assertGreaterEqual(rep["contents_bad"], 4)
        for name in ("flip", "truncate", "delete", "flip-compressed"):
            self.assertIn(os.path.basename(self.xorb_of[name]), rep["stderr"], f"verify does not name the {name} xorb")
        self.assertNotIn(os.path.basename(self.xorb_of["intact"]), rep["stderr"])

    def test_server_never_delivers_wrong_bytes(self):
        """A GET of a damaged file must fail (5xx, or a body that ends before Content-Length), never
        complete with wrong bytes; and it must fail promptly rather than leave the client waiting."""
        with Server(self.data) as s:
            for name, (repo, rel, data) in self.cases.items():
                want = hashlib.sha256(data).hexdigest()
                ranges = (None, "bytes=0-") if name.startswith("flip") else (None,)
                for rng in ranges:
                    with self.subTest(case=name, range=rng):
                        headers = {"Range": rng} if rng else {}
                        t0 = time.monotonic()
                        status, body, complete, clen, timed_out = http_get(
                            s.port, f"/{repo}/resolve/main/{rel}", headers, timeout=5)
                        took = time.monotonic() - t0
                        got = hashlib.sha256(body).hexdigest()
                        note(f"GET {name} range={rng}: status {status}, Content-Length {clen}, "
                             f"{len(body)} body bytes, complete={complete}, timed out={timed_out}, "
                             f"{took:.2f}s, sha256 {'ok' if got == want else 'differs'}")
                        if name == "intact":
                            self.assertIn(status, (200, 206))
                            self.assertTrue(complete)
                            self.assertEqual(got, want)
                            continue
                        delivered = status in (200, 206) and complete
                        self.assertFalse(
                            delivered and got != want,
                            f"{name}: served {status} with Content-Length {clen} and a complete body whose "
                            f"sha256 is {got}, not the file's {want} (wrong bytes delivered)")
                        self.assertFalse(delivered, f"{name}: a damaged file was served completely ({status})")
                        self.assertFalse(
                            timed_out,
                            f"{name}: {status} headers (Content-Length {clen}), then {len(body)} body bytes and no "
                            f"end of the connection for 5 s: the client hangs until the server's connection "
                            f"timeout instead of seeing the error")


# ---------------------------------------------------------------------------------------------
# 5. Input validation
# ---------------------------------------------------------------------------------------------

class LiveImportTest(unittest.TestCase):
    """The server keeps repo and revision answers in memory while the index is unchanged; an
    import by another process must be visible to the very next request, again and again."""

    def test_imports_visible_at_once_while_serving(self):
        tmp = harness.tempdir("hubgate-live-")
        try:
            data, src = os.path.join(tmp, "data"), os.path.join(tmp, "src")
            os.makedirs(src)
            write_files(src, {"config.json": b'{"v": 0}\n'})
            first = harness.import_dir(data, src, "org/live")
            with harness.Server(data) as s:
                def get(path):
                    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
                    c.request("GET", path)
                    r = c.getresponse()
                    body = r.read()
                    c.close()
                    return r.status, body
                seen = [first]
                for v in range(1, 13):
                    for _ in range(3):          # warm whatever is cached for main
                        st, body = get("/api/models/org/live")
                        self.assertEqual((st, json.loads(body)["sha"]), (200, seen[-1]))
                    write_files(src, {"config.json": b'{"v": %d}\n' % v})
                    commit = harness.import_dir(data, src, "org/live")
                    st, body = get("/api/models/org/live")
                    self.assertEqual(json.loads(body)["sha"], commit, "import %d not visible at once" % v)
                    st, body = get("/org/live/resolve/main/config.json")
                    self.assertEqual(body, b'{"v": %d}\n' % v)
                    st, body = get("/api/models/org/live/revision/%s" % seen[-1])
                    self.assertEqual((st, json.loads(body)["sha"]), (200, seen[-1]), "older commits stay")
                    seen.append(commit)
                # a repo created after the server started (a cached miss must not stick)
                self.assertEqual(get("/api/models/org/late")[0], 401)
                harness.import_dir(data, src, "org/late")
                self.assertEqual(get("/api/models/org/late")[0], 200)
        finally:
            harness.rmtree(tmp)


class ValidationTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.tempdir("hubgate-store-valid-")
        cls.data = os.path.join(cls.tmp, "data")
        cls.src = os.path.join(cls.tmp, "src")
        write_files(cls.src, {"model.safetensors": rand_bytes(51, 1 << 20), "config.json": b"{}\n"})
        cls.fresh = os.path.join(cls.tmp, "fresh-src")  # content the store has not seen
        write_files(cls.fresh, {"other.safetensors": rand_bytes(52, 1 << 20)})
        cls.commit = do_import(cls.data, cls.src, "acme/good").commit
        cls.afile = os.path.join(cls.src, "config.json")

    @classmethod
    def tearDownClass(cls):
        harness.rmtree(cls.tmp)

    def snapshot(self):
        rep = verify(self.data)
        return {k: rep[k] for k in ("xorbs", "contents", "commits", "orphans", "logical", "stored")}, xorb_files(self.data)

    def check_rejected(self, args, what):
        before, xorbs_before = self.snapshot()
        p = harness.run(*args, check=False)
        self.assertNotEqual(p.returncode, 0, f"{what}: accepted (stdout {p.stdout!r})")
        self.assertEqual(p.stdout.strip(), "", f"{what}: printed a commit id")
        self.assertTrue(p.stderr.strip(), f"{what}: no message on stderr")
        rep = verify(self.data)
        assert_clean(self, rep, what)
        after = {k: rep[k] for k in before}
        self.assertEqual(after, before, f"{what}: the store changed")
        self.assertEqual(xorb_files(self.data), xorbs_before, f"{what}: xorb files appeared")
        return p

    def test_bad_repo_ids(self):
        for repo in ("../x", "a/b/c", "", "-x", "/x", "x/", "a//b", "ns/na me", "ns/..", "./x", "ns/x\n"):
            with self.subTest(repo=repo):
                self.check_rejected(["import", "--data", self.data, self.fresh, repo], f"repo id {repo!r}")

    def test_bad_sources_and_options(self):
        cases = [
            (["import", "--data", self.data, os.path.join(self.tmp, "missing"), "acme/x"], "missing source dir"),
            (["import", "--data", self.data, self.afile, "acme/x"], "source is a file"),
            (["import", "--data", self.data, "--type", "modelz", self.fresh, "acme/x"], "unknown --type"),
            (["import", "--data", self.data, "--type", "", self.fresh, "acme/x"], "empty --type"),
            (["import", self.fresh, "acme/x"], "missing --data"),
            (["import", "--data"], "--data without a value"),
            (["import", "--data", self.data, self.fresh], "missing repo id"),
            (["import", "--data", self.data, self.fresh, "acme/x", "extra"], "extra argument"),
            (["import", "--data", self.data, "--bogus", self.fresh, "acme/x"], "unknown option"),
            (["import", "--data", self.data, "--date", "yesterday", self.fresh, "acme/x"], "bad --date"),
            (["import", "--data", self.data, "--date", "0", self.fresh, "acme/x"], "zero --date"),
            (["import", "--data", self.data, "--revision", "../main", self.fresh, "acme/x"], "bad --revision"),
            (["import", "--data", self.data, "--revision", "", self.fresh, "acme/x"], "empty --revision"),
            (["import", "--data", self.data, "--tag", "v 1", self.fresh, "acme/x"], "tag with a space"),
            (["import", "--data", self.data, "--author", "nobody", self.fresh, "acme/x"], "author without email"),
            (["import", "--data", self.data, "--author", "A <a@b> <c@d>", self.fresh, "acme/x"], "author with two emails"),
            (["verify"], "verify without --data"),
            (["verify", "--data", self.data, "extra"], "verify with an extra argument"),
        ]
        for args, what in cases:
            with self.subTest(what=what):
                self.check_rejected(args, what)
        self.assertEqual(branch_head(self.data, "acme/good"), self.commit)
        self.assertIsNone(branch_head(self.data, "acme/x"))

    def test_invalid_repo_id_creates_no_store(self):
        """Argument errors are found before anything is created: a bad repo id with a new --data
        directory must not create that directory (index, secret, xorbs/)."""
        data = os.path.join(self.tmp, "never-created")
        p = harness.run("import", "--data", data, self.src, "../evil", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(data),
                         "a rejected import created %s in --data" % (os.listdir(data) if os.path.isdir(data) else data))

    def test_private_on_unchanged_reimport(self):
        """--private on a re-import of an unchanged snapshot must still mark the repo private."""
        data = os.path.join(self.tmp, "private")
        do_import(data, self.src, "acme/later-private")
        with Server(data) as s:
            status, body, _, _, _ = http_get(s.port, "/api/models/acme/later-private/revision/main")
        self.assertEqual(status, 200)
        self.assertIs(json.loads(body)["private"], False)
        r = do_import(data, self.src, "acme/later-private", "--private")
        self.assertTrue(r.stats["unchanged"])
        # A private repo is hidden from anonymous clients exactly like a missing one (401).
        with Server(data) as s:
            status, body, _, _, _ = http_get(s.port, "/api/models/acme/later-private/revision/main")
        self.assertEqual(status, 401, "--private was ignored because nothing else changed")
        self.assertIn(b"Invalid username or password", body)


if __name__ == "__main__":
    unittest.main()
