// End-to-end test of `hubgate serve` with the real JavaScript client @huggingface/hub 2.17.5.
//
// Run:   node --test tests/hub/client.test.mjs            (from /work/main)
//        HUBGATE=/path/to/hubgate node --test tests/hub/client.test.mjs   (CTest sets HUBGATE)
// Needs: `npm ci` in tests/node (the client lives in tests/node/node_modules).
//
// The before() hook builds deterministic fixtures (fixtures.mjs), imports them with
// `hubgate import` into a fresh store, and starts `hubgate serve` on an ephemeral port:
//
//   model   hubgate-test/tiny-model   commit A (tag v1.0) -> commit B (main)
//                                     refs/pr/1 (PR), feature/x (FX)
//           regular files, nested folders, a name with a space and non-ASCII characters,
//           an empty file, a ~3 MB safetensors (LFS/Xet) and a ~24 MB .bin (LFS/Xet,
//           several xorb chunks, half compressible)
//   dataset hubgate-test/many-files   1100 tiny files in 11 folders (tree pagination) + a parquet
//   space   hubgate-test/demo-space   three small files
//
// Every byte the client returns is compared (sha256) with the source files. The route
// counters of GET /metrics prove which path a download took (Xet: xet_token,
// reconstruction_v2, xorb; plain: resolve only). Tests run sequentially (metrics deltas).
//
// Environment knobs: HUBGATE (binary), HUBGATE_TEST_KEEP=1 (keep the temp dir).

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import {
	HUBGATE,
	MODEL,
	DATASET,
	SPACE,
	DATES,
	LEGACY,
	ODD_PATH,
	PUNCT_PATH,
	ODD_DIR,
	LFS_SIZE_THRESHOLD,
	DATASET_FILES,
	BIG_DATASET_FILE,
	buildFixtures,
	startServer,
	metrics,
	routeDelta,
	sha256,
	gitBlobSha1,
	lfsPointer,
	dirsOf,
} from "./fixtures.mjs";

// ---------------------------------------------------------------------------
// The client under test, loaded from tests/node/node_modules (not from the cwd)
// ---------------------------------------------------------------------------

const HUB_VERSION = "2.17.5";
const req = createRequire(new URL("../node/package.json", import.meta.url));
const hubMain = req.resolve("@huggingface/hub"); // .../dist/index.js
const hubPkg = JSON.parse(fs.readFileSync(path.resolve(path.dirname(hubMain), "../package.json"), "utf8"));
if (hubPkg.version !== HUB_VERSION) {
	throw new Error(`@huggingface/hub is ${hubPkg.version}, expected exactly ${HUB_VERSION} (run npm ci in tests/node)`);
}
const hub = await import(pathToFileURL(path.resolve(path.dirname(hubMain), "index.mjs")).href);
const {
	modelInfo,
	datasetInfo,
	spaceInfo,
	listFiles,
	pathsInfo,
	fileDownloadInfo,
	downloadFile,
	downloadFileToCacheDir,
	snapshotDownload,
	fileExists,
	repoExists,
	parseSafetensorsMetadata,
	listCommits,
	countCommits,
	HubApiError,
} = hub;

// downloadFileToCacheDir logs every file with console.debug.
console.debug = () => {};

// ---------------------------------------------------------------------------
// Shared state filled by before()
// ---------------------------------------------------------------------------

let tmp; // temp root: src/, data/, cache dirs
let server; // {base, port, stop, logPath}
let base;
let commits; // {A, B, PR, FX, DS, SP, LG}
let trees; // {A, B, PR, FX, DS, SP, LG}: {path: Buffer}
let cacheSeq = 0;

const TOKEN = "hf_hubgatetestTOKEN0000000000000000";
const LFS_RE = /\.(safetensors|bin|parquet)$/;
const HEX40 = /^[0-9a-f]{40}$/;
const HEX64 = /^[0-9a-f]{64}$/;
const JS_LINK_RE = /<(https?:[/][/][^>]+)>;\s+rel="([^"]+)"/g; // HFJS parseLinkHeader

const MODEL_REPO = { type: "model", name: MODEL };
const DATASET_REPO = { type: "dataset", name: DATASET };
const SPACE_REPO = { type: "space", name: SPACE };

/** Model revisions: the form passed to the client and the tree it must resolve to. */
const REVS = [
	{ name: "branch main", rev: () => "main", tree: "B" },
	{ name: "tag v1.0", rev: () => "v1.0", tree: "A" },
	{ name: "commit A (40-hex)", rev: () => commits.A, tree: "A" },
	{ name: "commit B (40-hex)", rev: () => commits.B, tree: "B" },
	{ name: "refs/pr/1", rev: () => "refs/pr/1", tree: "PR" },
	{ name: "branch feature/x", rev: () => "feature/x", tree: "FX" },
	{ name: "tag exp/fx-1", rev: () => "exp/fx-1", tree: "FX" },
	{ name: "HEAD (default branch)", rev: () => "HEAD", tree: "B" },
];
/** Forms for the routes where the client inserts the revision verbatim (listFiles). */
const RAW_REV_FORMS = [
	{ name: "refs%2Fpr%2F1 (percent-encoded)", rev: () => "refs%2Fpr%2F1", tree: "PR" },
	{ name: "feature%2Fx (percent-encoded)", rev: () => "feature%2Fx", tree: "FX" },
	{ name: "v1%2E0 (percent-encoded dot)", rev: () => "v1%2E0", tree: "A" },
	{ name: "exp%2Ffx-1 (percent-encoded tag)", rev: () => "exp%2Ffx-1", tree: "FX" },
];

/** LFS (hence Xet) by the default .gitattributes, or by size; empty files never are. */
const isLfs = (p, content) => content.length > 0 && (LFS_RE.test(p) || content.length > LFS_SIZE_THRESHOLD);
const commitOf = (tree) => commits[tree];
const newCacheDir = () => {
	const d = path.join(tmp, `cache-${++cacheSeq}`);
	fs.mkdirSync(d, { recursive: true });
	return d;
};
const bufOf = async (blob) => Buffer.from(await blob.arrayBuffer());
const fmtDelta = (d) => JSON.stringify(d);

function assertSameBytes(actual, expected, what) {
	assert.ok(Buffer.isBuffer(actual), `${what}: no data`);
	assert.equal(actual.length, expected.length, `${what}: size`);
	assert.equal(sha256(actual), sha256(expected), `${what}: sha256 of the bytes`);
}

/** Route deltas of /metrics around fn(); the metrics scrape itself is not counted. */
async function withMetrics(fn) {
	const m0 = await metrics(base);
	const result = await fn();
	const m1 = await metrics(base);
	const d = routeDelta(m0, m1);
	delete d.metrics;
	return { result, delta: d };
}

/** Expected tree entry of a file (tree and paths-info schema, hub-protocol 2.6). */
function expectedFileEntry(p, content) {
	if (isLfs(p, content)) {
		const ptr = Buffer.from(lfsPointer(content));
		return {
			type: "file",
			path: p,
			size: content.length,
			oid: gitBlobSha1(ptr),
			lfs: { oid: sha256(content), size: content.length, pointerSize: ptr.length },
		};
	}
	return { type: "file", path: p, size: content.length, oid: gitBlobSha1(content) };
}

function checkEntry(entry, tree, where) {
	const content = tree[entry.path];
	if (entry.type === "directory") {
		assert.ok(dirsOf(Object.keys(tree)).includes(entry.path), `${where}: unexpected directory ${entry.path}`);
		assert.match(entry.oid ?? "", HEX40, `${where}: directory ${entry.path} oid`);
		return;
	}
	assert.equal(entry.type, "file", `${where}: ${entry.path} type`);
	assert.ok(content !== undefined, `${where}: unexpected file ${JSON.stringify(entry.path)}`);
	const exp = expectedFileEntry(entry.path, content);
	assert.equal(entry.size, exp.size, `${where}: ${entry.path} size`);
	assert.equal(entry.oid, exp.oid, `${where}: ${entry.path} oid (git blob sha1${exp.lfs ? " of the LFS pointer" : ""})`);
	if (exp.lfs) {
		assert.deepEqual(entry.lfs, exp.lfs, `${where}: ${entry.path} lfs`);
		assert.match(entry.xetHash ?? "", HEX64, `${where}: ${entry.path} xetHash`);
	} else {
		assert.equal(entry.lfs, undefined, `${where}: ${entry.path} must not be LFS`);
		assert.equal(entry.xetHash, undefined, `${where}: ${entry.path} must not have a xetHash`);
	}
}

/** Expected set of tree paths (files and directories) under `prefix`. */
function expectedListing(tree, { recursive, prefix = "" }) {
	const files = Object.keys(tree);
	const all = [...files, ...dirsOf(files)];
	const under = prefix ? all.filter((p) => p.startsWith(prefix + "/")) : all;
	const depth = prefix ? prefix.split("/").length + 1 : 1;
	return (recursive ? under : under.filter((p) => p.split("/").length === depth)).sort();
}

async function collect(iter) {
	const out = [];
	for await (const x of iter) out.push(x);
	return out;
}

/** Every regular file below `dir`, following symlinks: {relpath: Buffer}; plus the directories. */
function walkSnapshot(dir) {
	const files = {};
	const dirs = [];
	const rec = (d, rel) => {
		for (const name of fs.readdirSync(d)) {
			const p = path.join(d, name);
			const r = rel ? `${rel}/${name}` : name;
			const st = fs.statSync(p);
			if (st.isDirectory()) {
				dirs.push(r);
				rec(p, r);
			} else files[r] = fs.readFileSync(p);
		}
	};
	rec(dir, "");
	return { files, dirs: dirs.sort() };
}

function checkSnapshot(folder, tree, where) {
	const { files, dirs } = walkSnapshot(folder);
	assert.deepEqual(Object.keys(files).sort(), Object.keys(tree).sort(), `${where}: files in the snapshot`);
	assert.deepEqual(dirs, dirsOf(Object.keys(tree)), `${where}: folders in the snapshot`);
	for (const [p, content] of Object.entries(tree)) assertSameBytes(files[p], content, `${where}: ${p}`);
}

/** A fetch that records every request (method, URL, Range) and its status / content type. */
function recordingFetch() {
	const calls = [];
	const f = async (input, init = {}) => {
		const url = typeof input === "string" ? input : input.href ?? input.url;
		const headers = new Headers(init.headers);
		const resp = await fetch(input, init);
		calls.push({
			method: init.method ?? "GET",
			url,
			range: headers.get("range"),
			status: resp.status,
			type: resp.headers.get("content-type"),
		});
		return resp;
	};
	return { fetch: f, calls };
}

async function expectApiError(promise, status, what) {
	await assert.rejects(
		promise,
		(e) => {
			assert.ok(e instanceof HubApiError, `${what}: expected a HubApiError, got ${e?.constructor?.name}: ${e?.message}`);
			assert.equal(e.statusCode, status, `${what}: status (${e.message})`);
			return true;
		},
		what,
	);
}

// ---------------------------------------------------------------------------
// Setup / teardown
// ---------------------------------------------------------------------------

before(async () => {
	assert.ok(fs.existsSync(HUBGATE), `hubgate binary not found at ${HUBGATE} (set HUBGATE)`);
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hubgate-client-"));
	({ trees, commits } = buildFixtures(path.join(tmp, "src"), path.join(tmp, "data")));
	server = await startServer(path.join(tmp, "data"), ["--threads", "4"]);
	base = server.base;

	// hubgate adds the Hub's default .gitattributes to every commit: take it from the server
	// (checked for consistency in the tree tests) so that listings and snapshots can be compared.
	for (const [key, repoPath] of [
		["A", MODEL],
		["DS", `datasets/${DATASET}`],
		["SP", `spaces/${SPACE}`],
		["LG", LEGACY],
	]) {
		const r = await fetch(`${base}/${repoPath}/resolve/${commits[key]}/.gitattributes`);
		assert.equal(r.status, 200, `.gitattributes of ${repoPath}`);
		const ga = Buffer.from(await r.arrayBuffer());
		assert.match(ga.toString(), /^\*\.safetensors filter=lfs diff=lfs merge=lfs -text$/m);
		assert.match(ga.toString(), /^\*\.parquet filter=lfs diff=lfs merge=lfs -text$/m);
		const targets = { A: ["A", "B", "PR", "FX"], DS: ["DS", "CV"] }[key] ?? [key];
		for (const t of targets) trees[t][".gitattributes"] = ga;
	}
});

after(async () => {
	if (server) await server.stop();
	if (tmp && process.env.HUBGATE_TEST_KEEP !== "1") fs.rmSync(tmp, { recursive: true, force: true });
	else if (tmp) console.log(`kept ${tmp}; server log ${server?.logPath}`);
	if (server?.logPath && process.env.HUBGATE_TEST_KEEP !== "1") fs.rmSync(server.logPath, { force: true });
});

// ---------------------------------------------------------------------------
// Repo info (R5)
// ---------------------------------------------------------------------------

describe("repo info", () => {
	for (const r of REVS) {
		test(`modelInfo at ${r.name}: sha and file list`, async () => {
			const info = await modelInfo({
				name: MODEL,
				hubUrl: base,
				revision: r.rev(),
				additionalFields: ["sha", "filePaths"],
			});
			assert.equal(info.name, MODEL);
			assert.equal(typeof info.id, "string", "id (_id)");
			assert.equal(info.sha, commitOf(r.tree), "sha = commit of the revision");
			assert.deepEqual([...info.filePaths].sort(), Object.keys(trees[r.tree]).sort(), "siblings = every file");
			assert.equal(info.private, false);
			assert.ok(info.updatedAt instanceof Date && !isNaN(info.updatedAt), `updatedAt ${info.updatedAt}`);
			assert.equal(info.updatedAt.getTime(), DATES[r.tree] * 1000, "lastModified = date of the revision's commit");
		});
	}

	test("modelInfo without revision (client sends HEAD) is the default branch", async () => {
		const info = await modelInfo({ name: MODEL, hubUrl: base, additionalFields: ["sha"] });
		assert.equal(info.sha, commits.B);
	});

	test("modelInfo with an hf_ token on a public repo", async () => {
		const info = await modelInfo({ name: MODEL, hubUrl: base, accessToken: TOKEN, additionalFields: ["sha"] });
		assert.equal(info.sha, commits.B);
	});

	test("datasetInfo: sha and siblings of 1100+ files", async () => {
		const info = await datasetInfo({ name: DATASET, hubUrl: base, revision: "main", additionalFields: ["sha", "siblings"] });
		assert.equal(info.name, DATASET);
		assert.equal(info.sha, commits.DS);
		const names = info.siblings.map((s) => s.rfilename).sort();
		assert.equal(names.length, DATASET_FILES + 4);
		assert.deepEqual(names, Object.keys(trees.DS).sort());
		assert.ok(!isNaN(info.updatedAt));
	});

	test("datasetInfo default revision and by commit", async () => {
		const a = await datasetInfo({ name: DATASET, hubUrl: base, additionalFields: ["sha"] });
		assert.equal(a.sha, commits.DS);
		const b = await datasetInfo({ name: DATASET, hubUrl: base, revision: commits.DS, additionalFields: ["sha"] });
		assert.equal(b.sha, commits.DS);
	});

	test("datasetInfo at refs/convert/parquet", async () => {
		const info = await datasetInfo({
			name: DATASET,
			hubUrl: base,
			revision: "refs/convert/parquet",
			additionalFields: ["sha", "siblings"],
		});
		assert.equal(info.sha, commits.CV);
		assert.deepEqual(info.siblings.map((s) => s.rfilename).sort(), Object.keys(trees.CV).sort());
	});

	test("short commit-id prefix resolves to the full commit (hub-protocol Q4)", async () => {
		const short = commits.A.slice(0, 7);
		const info = await modelInfo({ name: MODEL, hubUrl: base, revision: short, additionalFields: ["sha"] });
		assert.equal(info.sha, commits.A);
		const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "config.json", revision: commits.A.slice(0, 12) });
		assertSameBytes(await bufOf(blob), trees.A["config.json"], "config.json at a short id");
		const cacheDir = newCacheDir();
		const folder = await snapshotDownload({ repo: LEGACY, hubUrl: base, revision: commits.LG.slice(0, 8), cacheDir });
		assert.equal(folder, path.join(cacheDir, "models--legacy-model", "snapshots", commits.LG), "snapshot folder named by the full id");
		checkSnapshot(folder, trees.LG, "snapshot at a short id");
	});

	test("spaceInfo: sha and siblings", async () => {
		const info = await spaceInfo({ name: SPACE, hubUrl: base, additionalFields: ["sha", "siblings"] });
		assert.equal(info.name, SPACE);
		assert.equal(info.sha, commits.SP);
		assert.deepEqual(info.siblings.map((s) => s.rfilename).sort(), Object.keys(trees.SP).sort());
		assert.ok(!isNaN(info.updatedAt));
	});

	test("repoExists for each type, and for missing repos", async () => {
		assert.equal(await repoExists({ repo: MODEL_REPO, hubUrl: base }), true);
		assert.equal(await repoExists({ repo: DATASET_REPO, hubUrl: base }), true);
		assert.equal(await repoExists({ repo: SPACE_REPO, hubUrl: base }), true);
		assert.equal(await repoExists({ repo: { type: "model", name: "hubgate-test/missing" }, hubUrl: base }), false);
		// same name, wrong type
		assert.equal(await repoExists({ repo: { type: "dataset", name: MODEL }, hubUrl: base }), false);
	});
});

// ---------------------------------------------------------------------------
// Tree listing (R6)
// ---------------------------------------------------------------------------

describe("listFiles", () => {
	for (const r of [...REVS, ...RAW_REV_FORMS]) {
		test(`recursive at ${r.name}: every file and folder, with oid/size/lfs/xetHash`, async () => {
			const tree = trees[r.tree];
			const entries = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, revision: r.rev(), recursive: true }));
			const paths = entries.map((e) => e.path);
			assert.equal(new Set(paths).size, paths.length, "no duplicates");
			assert.deepEqual([...paths].sort(), expectedListing(tree, { recursive: true }));
			for (const e of entries) checkEntry(e, tree, `tree ${r.name}`);
		});
	}

	test("non-recursive root, folder and nested folder", async () => {
		const tree = trees.B;
		const root = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base }));
		assert.deepEqual(root.map((e) => e.path).sort(), expectedListing(tree, { recursive: false }));
		for (const e of root) checkEntry(e, tree, "root");
		assert.equal(root.find((e) => e.path === "sub").type, "directory");

		const sub = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: "sub" }));
		assert.deepEqual(sub.map((e) => e.path).sort(), expectedListing(tree, { recursive: false, prefix: "sub" }));
		assert.ok(sub.some((e) => e.path === PUNCT_PATH));

		const nested = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: "sub/dir" }));
		assert.deepEqual(nested.map((e) => e.path).sort(), ["sub/dir/file.txt", ODD_PATH].sort());
		for (const e of nested) checkEntry(e, tree, "sub/dir");
	});

	test("folder whose name has a space, non-ASCII and '+'", async () => {
		for (const r of [{ rev: "main", tree: "B" }, { rev: "feature/x", tree: "FX" }]) {
			const entries = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: ODD_DIR, revision: r.rev }));
			assert.deepEqual(entries.map((e) => e.path), [`${ODD_DIR}/x y.txt`], r.rev);
			for (const e of entries) checkEntry(e, trees[r.tree], ODD_DIR);
		}
	});

	test("recursive with a path, and Python-style %2F-encoded folder path", async () => {
		const rec = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: "sub", recursive: true }));
		assert.deepEqual(rec.map((e) => e.path).sort(), expectedListing(trees.B, { recursive: true, prefix: "sub" }));
		const enc = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: "sub%2Fdir" }));
		assert.deepEqual(enc.map((e) => e.path).sort(), ["sub/dir/file.txt", ODD_PATH].sort());
	});

	test("folder path under a revision with '/' sent unencoded (feature/x + sub/dir)", async () => {
		const entries = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, revision: "feature/x", path: "sub/dir" }));
		assert.deepEqual(entries.map((e) => e.path).sort(), ["sub/dir/file.txt", ODD_PATH].sort());
		for (const e of entries) checkEntry(e, trees.FX, "feature/x sub/dir");
		const pr = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, revision: "refs/pr/1", path: "sub" }));
		assert.deepEqual(pr.map((e) => e.path).sort(), expectedListing(trees.PR, { recursive: false, prefix: "sub" }));
	});

	test("expand=true: lastCommit on every entry (last commit touching the path)", async () => {
		const entries = await collect(listFiles({ repo: MODEL_REPO, hubUrl: base, recursive: true, expand: true }));
		assert.deepEqual(entries.map((e) => e.path).sort(), expectedListing(trees.B, { recursive: true }));
		const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
		for (const e of entries) {
			assert.ok(e.lastCommit, `${e.path}: lastCommit`);
			assert.match(e.lastCommit.id, HEX40, `${e.path}: lastCommit.id`);
			assert.match(e.lastCommit.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, `${e.path}: lastCommit.date`);
			assert.equal(typeof e.lastCommit.title, "string");
		}
		assert.equal(byPath["config.json"].lastCommit.id, commits.B, "config.json changed in B");
		assert.equal(byPath["added.txt"].lastCommit.id, commits.B, "added.txt added in B");
		assert.equal(byPath["README.md"].lastCommit.id, commits.A, "README.md unchanged since A");
		assert.equal(byPath["model.safetensors"].lastCommit.id, commits.A);
		assert.equal(byPath["README.md"].lastCommit.title, "commit A");
		assert.equal(new Date(byPath["README.md"].lastCommit.date).getTime(), DATES.A * 1000);
	});

	test("dataset: 1100+ entries over several pages, no duplicates", async () => {
		const entries = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, recursive: true }));
		const paths = entries.map((e) => e.path);
		assert.equal(new Set(paths).size, paths.length, "no duplicates across pages");
		const expected = expectedListing(trees.DS, { recursive: true });
		assert.ok(expected.length > 1000);
		assert.equal(paths.length, expected.length, "entry count");
		assert.deepEqual([...paths].sort(), expected);
		for (const e of entries) checkEntry(e, trees.DS, "dataset tree");
	});

	test("dataset: first page is 1000 entries with an absolute Link rel=next the client can parse", async () => {
		const url = `${base}/api/datasets/${DATASET}/tree/main?recursive=true&expand=false`;
		const r1 = await fetch(url, { headers: { accept: "application/json" } });
		assert.equal(r1.status, 200);
		const page1 = await r1.json();
		assert.equal(page1.length, 1000, "default page size");
		const link = r1.headers.get("link");
		assert.ok(link, "Link header on the first page");
		const rels = Object.fromEntries([...link.matchAll(JS_LINK_RE)].map((m) => [m[2], m[1]]));
		assert.ok(rels.next, `rel="next" parseable by the JS regex: ${link}`);
		const next = new URL(rels.next);
		assert.equal(next.origin, base, "next URL points at the server");
		assert.equal(next.searchParams.get("recursive"), "true", "next URL keeps recursive=true");
		const r2 = await fetch(rels.next, { headers: { accept: "application/json" } });
		assert.equal(r2.status, 200);
		const page2 = await r2.json();
		assert.equal(page1.length + page2.length, expectedListing(trees.DS, { recursive: true }).length);
		assert.ok(!/rel="next"/.test(r2.headers.get("link") ?? ""), "last page has no next");
		const seen = new Set(page1.map((e) => e.path));
		for (const e of page2) assert.ok(!seen.has(e.path), `duplicate across pages: ${e.path}`);
	});

	test("dataset: non-recursive folder listings", async () => {
		const root = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base }));
		assert.deepEqual(root.map((e) => e.path).sort(), [".gitattributes", "README.md", "data"]);
		const train = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, path: "data/train" }));
		assert.equal(train.length, 11);
		assert.ok(train.every((e) => e.type === "directory"));
		const shard = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, path: "data/train/shard-03", expand: true }));
		assert.equal(shard.length, 100);
		for (const e of shard) {
			checkEntry(e, trees.DS, "shard-03");
			assert.equal(e.lastCommit?.id, commits.DS, `${e.path}: lastCommit`);
		}
	});

	test("dataset: recursive expand=true over many pages keeps expand on every page", async () => {
		const entries = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, path: "data", recursive: true, expand: true }));
		const expected = expectedListing(trees.DS, { recursive: true, prefix: "data" });
		const paths = entries.map((e) => e.path);
		assert.equal(new Set(paths).size, paths.length, "no duplicates");
		assert.deepEqual([...paths].sort(), expected);
		const missing = entries.filter((e) => !e.lastCommit).map((e) => e.path);
		assert.deepEqual(missing.slice(0, 5), [], `${missing.length} entries without lastCommit`);
	});

	test("dataset at refs/convert/parquet, unencoded and %2F-encoded, with a folder path", async () => {
		for (const rev of ["refs/convert/parquet", "refs%2Fconvert%2Fparquet"]) {
			const entries = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, revision: rev, recursive: true }));
			assert.deepEqual(entries.map((e) => e.path).sort(), expectedListing(trees.CV, { recursive: true }), rev);
			for (const e of entries) checkEntry(e, trees.CV, `tree ${rev}`);
			const train = await collect(listFiles({ repo: DATASET_REPO, hubUrl: base, revision: rev, path: "default/train" }));
			assert.deepEqual(train.map((e) => e.path).sort(), ["default/train/0000.parquet", "default/train/0001.parquet"], rev);
		}
	});

	test("space listing", async () => {
		const entries = await collect(listFiles({ repo: SPACE_REPO, hubUrl: base, recursive: true }));
		assert.deepEqual(entries.map((e) => e.path).sort(), expectedListing(trees.SP, { recursive: true }));
		for (const e of entries) checkEntry(e, trees.SP, "space tree");
	});
});

// ---------------------------------------------------------------------------
// Paths info (R7)
// ---------------------------------------------------------------------------

describe("pathsInfo", () => {
	for (const r of REVS) {
		test(`all paths at ${r.name}, without expand`, async () => {
			const tree = trees[r.tree];
			const paths = Object.keys(tree);
			const infos = await pathsInfo({ repo: MODEL_REPO, hubUrl: base, revision: r.rev(), paths });
			assert.deepEqual(infos.map((i) => i.path).sort(), [...paths].sort());
			for (const i of infos) {
				checkEntry(i, tree, `paths-info ${r.name}`);
				assert.equal(i.lastCommit, undefined, `${i.path}: no lastCommit without expand`);
			}
		});
	}

	test("expand: lastCommit present; missing paths omitted; folders typed directory", async () => {
		const infos = await pathsInfo({
			repo: MODEL_REPO,
			hubUrl: base,
			paths: ["config.json", "README.md", "model.safetensors", "sub/dir", ODD_PATH, "does/not/exist.txt"],
			expand: true,
		});
		const by = Object.fromEntries(infos.map((i) => [i.path, i]));
		assert.deepEqual(Object.keys(by).sort(), ["README.md", "config.json", "model.safetensors", ODD_PATH, "sub/dir"].sort());
		assert.equal(by["sub/dir"].type, "directory");
		for (const i of infos) {
			assert.ok(i.lastCommit, `${i.path}: lastCommit`);
			assert.match(i.lastCommit.id, HEX40);
			assert.ok(i.lastCommit.date instanceof Date && !isNaN(i.lastCommit.date), `${i.path}: lastCommit.date`);
			if (i.type === "file") checkEntry(i, trees.B, "paths-info expand");
		}
		assert.equal(by["config.json"].lastCommit.id, commits.B);
		assert.equal(by["config.json"].lastCommit.title, "commit B: edit config, add file");
		assert.equal(by["config.json"].lastCommit.date.getTime(), DATES.B * 1000);
		assert.equal(by["README.md"].lastCommit.id, commits.A);
		assert.equal(by["model.safetensors"].lastCommit.id, commits.A);
	});

	test("expand on refs/pr/1: modified LFS file's lastCommit is the PR commit", async () => {
		const [i] = await pathsInfo({ repo: MODEL_REPO, hubUrl: base, revision: "refs/pr/1", paths: ["model.safetensors"], expand: true });
		checkEntry(i, trees.PR, "refs/pr/1");
		assert.equal(i.lastCommit.id, commits.PR);
	});

	test("dataset: all 1100+ paths in one request", async () => {
		const paths = Object.keys(trees.DS);
		const infos = await pathsInfo({ repo: DATASET_REPO, hubUrl: base, paths });
		assert.deepEqual(infos.map((i) => i.path).sort(), [...paths].sort());
		for (const i of infos) checkEntry(i, trees.DS, "dataset paths-info");
	});

	test("dataset and space", async () => {
		const ds = await pathsInfo({
			repo: DATASET_REPO,
			hubUrl: base,
			paths: ["data/sample.parquet", "data/train/shard-10/row-1099.txt", "README.md"],
		});
		assert.equal(ds.length, 3);
		for (const i of ds) checkEntry(i, trees.DS, "dataset paths-info");
		const sp = await pathsInfo({ repo: SPACE_REPO, hubUrl: base, paths: ["app.py", "nope.py"], expand: true });
		assert.equal(sp.length, 1);
		checkEntry(sp[0], trees.SP, "space paths-info");
		assert.equal(sp[0].lastCommit.id, commits.SP);
	});
});

// ---------------------------------------------------------------------------
// fileDownloadInfo and downloadFile (R1-R3, R8-R10)
// ---------------------------------------------------------------------------

describe("fileDownloadInfo", () => {
	test("regular file: size and quoted git-sha1 etag, no xet", async () => {
		for (const p of ["config.json", "tokenizer.json", "sub/dir/file.txt", ODD_PATH, PUNCT_PATH, "empty.safetensors"]) {
			const info = await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: p });
			assert.ok(info, p);
			assert.equal(info.size, trees.B[p].length, `${p} size`);
			assert.equal(info.etag, `"${gitBlobSha1(trees.B[p])}"`, `${p} etag`);
			assert.equal(info.xet, undefined, `${p} xet`);
		}
	});

	test("noContentDisposition (extra query parameter) is ignored; downloadInfo reused by downloadFile", async () => {
		for (const p of ["config.json", "model.safetensors", "weights/shard-b.bin"]) {
			const info = await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: p, noContentDisposition: true });
			assert.ok(info, p);
			assert.equal(info.size, trees.B[p].length, p);
			for (const xet of [true, false]) {
				const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, downloadInfo: info, xet });
				assertSameBytes(await bufOf(blob), trees.B[p], `${p} xet=${xet}`);
			}
		}
	});

	test("a folder path is not a file (null)", async () => {
		assert.equal(await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: "sub/dir" }), null);
		assert.equal(await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "weights" }), null);
	});

	test("empty regular file: size 0", async () => {
		const info = await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: "empty.txt" });
		assert.ok(info);
		assert.equal(info.size, 0);
		assert.equal(info.etag, `"${gitBlobSha1(Buffer.alloc(0))}"`);
	});

	test("LFS file: xet info, etag = quoted sha256, size = LFS size", async () => {
		const [tree] = await pathsInfo({ repo: MODEL_REPO, hubUrl: base, paths: ["model.safetensors"] });
		for (const r of REVS) {
			const content = trees[r.tree]["model.safetensors"];
			const info = await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: "model.safetensors", revision: r.rev() });
			assert.ok(info, r.name);
			assert.equal(info.size, content.length, `${r.name} size`);
			assert.equal(info.etag, `"${sha256(content)}"`, `${r.name} etag`);
			assert.ok(info.xet, `${r.name}: xet info`);
			assert.match(info.xet.hash, HEX64);
			if (r.tree === "B") assert.equal(info.xet.hash, tree.xetHash, "X-Xet-Hash = paths-info xetHash");
			assert.equal(info.xet.refreshUrl.origin, base, "xet-auth on the server");
			assert.ok(
				info.xet.refreshUrl.pathname.endsWith(`/xet-read-token/${commitOf(r.tree)}`),
				`xet-auth names the resolved commit: ${info.xet.refreshUrl}`,
			);
			assert.ok(info.xet.reconstructionUrl.href.endsWith(`/reconstructions/${info.xet.hash}`), `${info.xet.reconstructionUrl}`);
		}
	});

	test("raw: true on an LFS file describes the pointer", async () => {
		const ptr = Buffer.from(lfsPointer(trees.B["model.safetensors"]));
		const info = await fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: "model.safetensors", raw: true });
		assert.equal(info.size, ptr.length);
		assert.equal(info.etag, `"${gitBlobSha1(ptr)}"`);
		assert.equal(info.xet, undefined);
	});

	test("dataset and space files", async () => {
		const pq = trees.DS["data/sample.parquet"];
		const i1 = await fileDownloadInfo({ repo: DATASET_REPO, hubUrl: base, path: "data/sample.parquet" });
		assert.equal(i1.size, pq.length);
		assert.equal(i1.etag, `"${sha256(pq)}"`);
		assert.ok(i1.xet);
		assert.ok(i1.xet.refreshUrl.pathname.startsWith(`/api/datasets/${DATASET}/xet-read-token/`), `${i1.xet.refreshUrl}`);
		const i2 = await fileDownloadInfo({ repo: SPACE_REPO, hubUrl: base, path: "app.py" });
		assert.equal(i2.size, trees.SP["app.py"].length);
		assert.equal(i2.etag, `"${gitBlobSha1(trees.SP["app.py"])}"`);
	});

	test("fileExists (HEAD on raw)", async () => {
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: "config.json" }), true);
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: ODD_PATH }), true);
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: PUNCT_PATH }), true);
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: "sub/a b=c&d@e,f;g'h.txt" }), false, "'+' is not a space");
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: "model.safetensors" }), true);
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: "added.txt", revision: "v1.0" }), false);
		assert.equal(await fileExists({ repo: MODEL_REPO, hubUrl: base, path: "feature.txt", revision: "feature/x" }), true);
		assert.equal(await fileExists({ repo: DATASET_REPO, hubUrl: base, path: "data/train/shard-00/row-0000.txt" }), true);
	});
});

describe("downloadFile", () => {
	let tokenSeq = 0;

	for (const r of REVS) {
		test(`regular files at ${r.name} (plain resolve path)`, async () => {
			const tree = trees[r.tree];
			for (const p of Object.keys(tree).filter((p) => !isLfs(p, tree[p]))) {
				const { result, delta } = await withMetrics(async () => {
					const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, revision: r.rev() });
					assert.ok(blob, `${p}: blob`);
					return bufOf(blob);
				});
				assertSameBytes(result, tree[p], `${r.name} ${p}`);
				assert.deepEqual(delta, { resolve: 2 }, `${p}: probe + GET on resolve only, got ${fmtDelta(delta)}`);
			}
		});

		test(`Xet-backed files at ${r.name}`, async () => {
			const tree = trees[r.tree];
			for (const p of Object.keys(tree).filter((p) => isLfs(p, tree[p]))) {
				// XetBlob caches read tokens per (refresh URL, hub token): a token of its own per
				// download makes the client fetch a fresh Xet read token every time.
				const accessToken = `hf_xet${++tokenSeq}`;
				const { result, delta } = await withMetrics(async () => {
					const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, revision: r.rev(), accessToken });
					assert.ok(blob, `${p}: blob`);
					return bufOf(blob);
				});
				assertSameBytes(result, tree[p], `${r.name} ${p}`);
				assert.equal(delta.resolve, 1, `${p}: only the probe on resolve (${fmtDelta(delta)})`);
				assert.ok(delta.reconstruction_v2 >= 1, `${p}: reconstruction_v2 (${fmtDelta(delta)})`);
				assert.ok(delta.xorb >= 1, `${p}: xorb fetches (${fmtDelta(delta)})`);
				assert.equal(delta.xet_token, 1, `${p}: one xet read token (${fmtDelta(delta)})`);
				assert.equal(delta.raw, undefined);
			}
		});
	}

	test("revision-specific content differs as imported", async () => {
		const get = async (p, rev) => {
			const b = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, revision: rev });
			return b && (await bufOf(b));
		};
		const cA = await get("config.json", commits.A);
		const cB = await get("config.json", "main");
		assert.notEqual(sha256(cA), sha256(cB));
		assert.equal(JSON.parse(cA).revision, "A");
		assert.equal(JSON.parse(cB).revision, "B");
		assert.equal(JSON.parse(await get("config.json", "v1.0")).revision, "A");
		assert.equal(JSON.parse(await get("config.json", "refs/pr/1")).revision, "PR");
		assert.equal(await get("added.txt", "v1.0"), null, "added.txt does not exist at A");
		assert.equal((await get("added.txt", commits.B)).toString(), "added in commit B\n");
		assert.equal((await get("feature.txt", "feature/x")).toString(), "only on feature/x\n");
		assert.equal(await get("feature.txt", "main"), null);
		assertSameBytes(await get("model.safetensors", "refs/pr/1"), trees.PR["model.safetensors"], "PR safetensors");
		assert.notEqual(sha256(trees.PR["model.safetensors"]), sha256(trees.B["model.safetensors"]));
	});

	test("raw: true on an LFS file returns the pointer text (raw route only)", async () => {
		for (const r of REVS) {
			const content = trees[r.tree]["model.safetensors"];
			const { result, delta } = await withMetrics(async () => {
				const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "model.safetensors", raw: true, revision: r.rev() });
				return (await blob.text());
			});
			assert.equal(result, `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`, r.name);
			assert.deepEqual(delta, { raw: 2 }, `${r.name}: ${fmtDelta(delta)}`);
		}
		const big = trees.B["weights/pytorch_model.bin"];
		const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "weights/pytorch_model.bin", raw: true });
		assert.equal(await blob.text(), lfsPointer(big));
	});

	test("raw: true on regular files returns the content", async () => {
		for (const p of ["config.json", ODD_PATH, "empty.txt", "tokenizer.json"]) {
			const { result, delta } = await withMetrics(async () =>
				bufOf(await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, raw: true })),
			);
			assertSameBytes(result, trees.B[p], `raw ${p}`);
			assert.deepEqual(delta, { raw: 2 }, `${p}: ${fmtDelta(delta)}`);
		}
	});

	test("xet: false on LFS files downloads through resolve only", async () => {
		for (const [p, rev, tree] of [
			["model.safetensors", "main", "B"],
			["weights/pytorch_model.bin", commits.A, "A"],
			["model.safetensors", "refs/pr/1", "PR"],
		]) {
			const { result, delta } = await withMetrics(async () =>
				bufOf(await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, revision: rev, xet: false })),
			);
			assertSameBytes(result, trees[tree][p], `xet:false ${p}@${rev}`);
			assert.deepEqual(delta, { resolve: 2 }, `${p}: probe + plain GET, got ${fmtDelta(delta)}`);
		}
	});

	test("slices of a Xet blob (ranged reconstruction) and of a plain blob", async () => {
		const content = trees.B["weights/pytorch_model.bin"];
		const n = content.length;
		const ranges = [
			[0, 1],
			[0, 100_000],
			[12345, 12345 + 65536],
			[(1 << 20) - 7, (1 << 20) + 9], // across the random / smooth block boundary
			[5 * (1 << 20) + 3, 9 * (1 << 20) + 11], // several chunks, several MiB
			[n - 1000, n],
			[n - 1, n],
		];
		const xblob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "weights/pytorch_model.bin" });
		const pblob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "weights/pytorch_model.bin", xet: false });
		assert.equal(xblob.size, n);
		assert.equal(pblob.size, n);
		for (const [s, e] of ranges) {
			const { result, delta } = await withMetrics(async () => bufOf(xblob.slice(s, e)));
			assertSameBytes(result, content.subarray(s, e), `xet slice ${s}-${e}`);
			assert.ok(delta.reconstruction_v2 >= 1 && delta.xorb >= 1, `xet slice ${s}-${e}: ${fmtDelta(delta)}`);
			assertSameBytes(await bufOf(pblob.slice(s, e)), content.subarray(s, e), `plain slice ${s}-${e}`);
		}
	});

	test("chunk-deduplicated Xet files: parallel and serial downloads, slices over non-adjacent chunks", async (t) => {
		for (const p of ["weights/shard-a.bin", "weights/shard-b.bin"]) {
			const content = trees.B[p];
			for (const parallelDownloads of [true, false]) {
				const rec = recordingFetch();
				const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, parallelDownloads, fetch: rec.fetch });
				assertSameBytes(await bufOf(blob), content, `${p} parallelDownloads=${parallelDownloads}`);
				// xorb fetches: the ranged requests after the probe and the reconstruction
				const xorbCalls = rec.calls.filter((c) => c.range && !/\/(resolve|v2\/reconstructions)\//.test(c.url));
				assert.ok(xorbCalls.length >= 1, `${p}: xorb fetches`);
				const multi = rec.calls.filter((c) => c.range?.includes(","));
				t.diagnostic(
					`${p} parallel=${parallelDownloads}: ${rec.calls.length} requests, ${multi.length} multi-range` +
						(multi.length ? ` (${multi.map((c) => `${c.status} ${c.type}`).join("; ")})` : ""),
				);
				for (const c of xorbCalls) {
					assert.equal(c.status, 206, `${c.url} ${c.range}`);
					if (c.range.includes(",")) assert.match(c.type ?? "", /^multipart\/byteranges; boundary=/, `${c.url} ${c.range}`);
				}
			}
			const MB2 = 2 * (1 << 20);
			const slices = [
				[MB2 - 5000, 2 * MB2 + 5000], // across both R1/R3 boundaries in shard-b
				[MB2 / 2, MB2 * 3 - 7],
				[1, content.length - 1],
				[content.length - 300_001, content.length],
			];
			const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p });
			for (const [s0, e0] of slices) {
				for (const parallelDownloads of [true, false]) {
					const b = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: p, parallelDownloads });
					assertSameBytes(await bufOf(b.slice(s0, e0)), content.subarray(s0, e0), `${p} slice ${s0}-${e0} parallel=${parallelDownloads}`);
				}
				assertSameBytes(await bufOf(blob.slice(s0, e0)), content.subarray(s0, e0), `${p} slice ${s0}-${e0}`);
			}
		}
	});

	test("concurrent downloads (plain and Xet, several revisions) are all byte-identical", async () => {
		const jobs = [];
		for (const r of REVS) {
			for (const p of Object.keys(trees[r.tree])) jobs.push({ rev: r.rev(), p, content: trees[r.tree][p], name: r.name });
		}
		// 24 at a time, every file of every revision
		for (let i = 0; i < jobs.length; i += 24) {
			await Promise.all(
				jobs.slice(i, i + 24).map(async (j) => {
					const blob = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: j.p, revision: j.rev });
					assert.ok(blob, `${j.p}@${j.name}`);
					assertSameBytes(await bufOf(blob), j.content, `concurrent ${j.p}@${j.name}`);
				}),
			);
		}
	});

	test("a file larger than one xorb (70 MiB dataset file): full, serial and sliced across xorbs", async (t) => {
		const content = trees.DS["data/big.parquet"];
		assert.equal(content.length, BIG_DATASET_FILE);
		const rec = recordingFetch();
		const { result, delta } = await withMetrics(async () =>
			bufOf(await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "data/big.parquet", fetch: rec.fetch })),
		);
		assertSameBytes(result, content, "big.parquet via Xet");
		assert.ok(delta.reconstruction_v2 >= 1 && delta.xorb >= 2, `several xorbs: ${fmtDelta(delta)}`);
		const recon = rec.calls.find((c) => c.url.includes("/v2/reconstructions/"));
		t.diagnostic(`big.parquet: ${rec.calls.length} requests, xorb requests ${delta.xorb}, recon ${recon?.url}`);
		const MiB64 = 64 * (1 << 20);
		const blob = await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "data/big.parquet", parallelDownloads: false });
		for (const [s0, e0] of [
			[MiB64 - 200_000, MiB64 + 200_000],
			[60 * (1 << 20) + 17, content.length - 3],
			[content.length - 5, content.length],
		]) {
			assertSameBytes(await bufOf(blob.slice(s0, e0)), content.subarray(s0, e0), `big.parquet slice ${s0}-${e0}`);
		}
		const plain = await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "data/big.parquet", xet: false });
		assertSameBytes(await bufOf(plain.slice(MiB64 - 10, MiB64 + 10)), content.subarray(MiB64 - 10, MiB64 + 10), "plain slice");
	});

	test("parseSafetensorsMetadata reads the header through ranged reads", async () => {
		for (const [rev, tree] of [["main", "B"], ["refs/pr/1", "PR"]]) {
			const content = trees[tree]["model.safetensors"];
			const hlen = Number(content.readBigUInt64LE(0));
			const header = JSON.parse(content.subarray(8, 8 + hlen).toString());
			const meta = await parseSafetensorsMetadata({ repo: MODEL_REPO, hubUrl: base, revision: rev, path: "model.safetensors" });
			assert.equal(meta.sharded, false);
			assert.deepEqual(meta.header.weight, header.weight, rev);
		}
	});

	test("with an hf_ token (public repo): regular and Xet downloads", async () => {
		const a = await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "config.json", accessToken: TOKEN });
		assertSameBytes(await bufOf(a), trees.B["config.json"], "config.json with token");
		const { result, delta } = await withMetrics(async () =>
			bufOf(await downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "model.safetensors", accessToken: TOKEN })),
		);
		assertSameBytes(result, trees.B["model.safetensors"], "model.safetensors with token");
		assert.ok(delta.xet_token >= 1 && delta.reconstruction_v2 >= 1 && delta.xorb >= 1, fmtDelta(delta));
	});

	test("dataset at refs/convert/parquet: pathsInfo, downloadFile, snapshotDownload", async () => {
		const rev = "refs/convert/parquet";
		const infos = await pathsInfo({ repo: DATASET_REPO, hubUrl: base, revision: rev, paths: Object.keys(trees.CV), expand: true });
		assert.equal(infos.length, Object.keys(trees.CV).length);
		for (const i of infos) {
			checkEntry(i, trees.CV, "paths-info refs/convert/parquet");
			assert.equal(i.lastCommit.id, commits.CV);
		}
		for (const p of Object.keys(trees.CV)) {
			const { result, delta } = await withMetrics(async () =>
				bufOf(await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: p, revision: rev })),
			);
			assertSameBytes(result, trees.CV[p], `${p}@${rev}`);
			if (isLfs(p, trees.CV[p])) assert.ok(delta.reconstruction_v2 >= 1, `${p}: ${fmtDelta(delta)}`);
			else assert.deepEqual(delta, { resolve: 2 }, `${p}: ${fmtDelta(delta)}`);
		}
		assert.equal(await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "README.md", revision: rev }), null);
		const cacheDir = newCacheDir();
		const folder = await snapshotDownload({ repo: DATASET_REPO, hubUrl: base, revision: rev, cacheDir });
		assert.equal(folder, path.join(cacheDir, "datasets--hubgate-test--many-files", "snapshots", commits.CV));
		checkSnapshot(folder, trees.CV, "snapshot refs/convert/parquet");
		const ref = path.join(cacheDir, "datasets--hubgate-test--many-files", "refs", "refs", "convert", "parquet");
		assert.equal(fs.readFileSync(ref, "utf8"), commits.CV);
	});

	test("dataset and space downloads (regular, nested, Xet)", async () => {
		for (const p of ["README.md", "data/train/shard-00/row-0000.txt", "data/train/shard-10/row-1099.txt"]) {
			assertSameBytes(await bufOf(await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: p })), trees.DS[p], `dataset ${p}`);
		}
		const { result, delta } = await withMetrics(async () =>
			bufOf(await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "data/sample.parquet", revision: commits.DS })),
		);
		assertSameBytes(result, trees.DS["data/sample.parquet"], "dataset parquet (xet)");
		assert.ok(delta.reconstruction_v2 >= 1 && delta.xorb >= 1, fmtDelta(delta));
		const plain = await downloadFile({ repo: DATASET_REPO, hubUrl: base, path: "data/sample.parquet", xet: false });
		assertSameBytes(await bufOf(plain), trees.DS["data/sample.parquet"], "dataset parquet (xet: false)");
		for (const p of Object.keys(trees.SP)) {
			assertSameBytes(await bufOf(await downloadFile({ repo: SPACE_REPO, hubUrl: base, path: p })), trees.SP[p], `space ${p}`);
		}
		const sinfo = await fileDownloadInfo({ repo: SPACE_REPO, hubUrl: base, path: "assets/weights.bin" });
		assert.ok(sinfo.xet, "space LFS file is Xet-backed");
		assert.ok(sinfo.xet.refreshUrl.pathname.startsWith(`/api/spaces/${SPACE}/xet-read-token/`), `${sinfo.xet.refreshUrl}`);
		const { result: sp, delta: sd } = await withMetrics(async () =>
			bufOf(await downloadFile({ repo: SPACE_REPO, hubUrl: base, path: "assets/weights.bin" })),
		);
		assertSameBytes(sp, trees.SP["assets/weights.bin"], "space Xet file");
		assert.ok(sd.reconstruction_v2 >= 1 && sd.xorb >= 1, fmtDelta(sd));
	});
});

// ---------------------------------------------------------------------------
// Cache-dir downloads (snapshotDownload, downloadFileToCacheDir)
// ---------------------------------------------------------------------------

describe("snapshotDownload and downloadFileToCacheDir", () => {
	const modelFolder = () => `models--${MODEL.replace("/", "--")}`;

	for (const r of REVS) {
		test(`snapshotDownload at ${r.name}: every file byte-identical`, async () => {
			const cacheDir = newCacheDir();
			const rev = r.rev();
			const { result: folder, delta } = await withMetrics(() =>
				snapshotDownload({ repo: MODEL_REPO, hubUrl: base, revision: rev, cacheDir }),
			);
			const commit = commitOf(r.tree);
			assert.equal(folder, path.join(cacheDir, modelFolder(), "snapshots", commit));
			checkSnapshot(folder, trees[r.tree], `snapshot ${r.name}`);
			if (rev !== commit) {
				assert.equal(fs.readFileSync(path.join(cacheDir, modelFolder(), "refs", rev), "utf8"), commit, "refs/<rev>");
			}
			assert.ok(delta.revision >= 1 && delta.tree >= 1 && delta.paths_info >= 1, fmtDelta(delta));
			assert.ok(delta.reconstruction_v2 >= 2 && delta.xorb >= 2, `both LFS files via Xet: ${fmtDelta(delta)}`);
		});
	}

	test("snapshotDownload of the dataset (1100+ files) and the space", async () => {
		const cacheDir = newCacheDir();
		const folder = await snapshotDownload({ repo: DATASET_REPO, hubUrl: base, cacheDir });
		assert.equal(folder, path.join(cacheDir, "datasets--hubgate-test--many-files", "snapshots", commits.DS));
		checkSnapshot(folder, trees.DS, "dataset snapshot");
		const sfolder = await snapshotDownload({ repo: SPACE_REPO, hubUrl: base, cacheDir });
		assert.equal(sfolder, path.join(cacheDir, `spaces--${SPACE.replace("/", "--")}`, "snapshots", commits.SP));
		checkSnapshot(sfolder, trees.SP, "space snapshot");
	});

	test("snapshotDownload into a shared cache reuses blobs across revisions", async () => {
		const cacheDir = newCacheDir();
		await snapshotDownload({ repo: MODEL_REPO, hubUrl: base, revision: "v1.0", cacheDir });
		const { result: folder, delta } = await withMetrics(() =>
			snapshotDownload({ repo: MODEL_REPO, hubUrl: base, revision: "main", cacheDir }),
		);
		checkSnapshot(folder, trees.B, "main after v1.0");
		// New blobs in B: config.json and added.txt (regular: probe + GET each) and weights/merged.bin
		// (Xet: probe + one reconstruction). LFS blobs unchanged since A are not fetched again.
		assert.equal(delta.reconstruction_v2, 1, `only merged.bin goes through Xet: ${fmtDelta(delta)}`);
		assert.equal(delta.resolve, 5, `${fmtDelta(delta)}`);
	});

	test("downloadFileToCacheDir on a branch: snapshot folder = file's last commit", async () => {
		const cacheDir = newCacheDir();
		const repoDir = path.join(cacheDir, modelFolder());
		const cases = [
			["config.json", "main", commits.B, trees.B],
			["README.md", "main", commits.A, trees.B],
			["model.safetensors", "main", commits.A, trees.B],
			["weights/pytorch_model.bin", "v1.0", commits.A, trees.A],
			[ODD_PATH, "main", commits.A, trees.B],
			["empty.txt", "main", commits.A, trees.B],
			["model.safetensors", "refs/pr/1", commits.PR, trees.PR],
			["feature.txt", "feature/x", commits.FX, trees.FX],
			["sub/dir/file.txt", "feature/x", commits.FX, trees.FX],
		];
		for (const [p, rev, folderCommit, tree] of cases) {
			const out = await downloadFileToCacheDir({ repo: MODEL_REPO, hubUrl: base, path: p, revision: rev, cacheDir });
			assert.equal(out, path.join(repoDir, "snapshots", folderCommit, p), `${p}@${rev}`);
			assertSameBytes(fs.readFileSync(out), tree[p], `${p}@${rev}`);
		}
	});

	test("downloadFileToCacheDir on a commit: second call needs no request", async () => {
		const cacheDir = newCacheDir();
		for (const [p, tree] of [["config.json", "A"], ["weights/pytorch_model.bin", "A"], ["sub/dir/file.txt", "A"]]) {
			const out = await downloadFileToCacheDir({ repo: MODEL_REPO, hubUrl: base, path: p, revision: commits.A, cacheDir });
			assert.equal(out, path.join(cacheDir, modelFolder(), "snapshots", commits.A, p));
			assertSameBytes(fs.readFileSync(out), trees[tree][p], p);
			const { result: again, delta } = await withMetrics(() =>
				downloadFileToCacheDir({ repo: MODEL_REPO, hubUrl: base, path: p, revision: commits.A, cacheDir }),
			);
			assert.equal(again, out);
			assert.deepEqual(delta, {}, `${p}: cached, no request (${fmtDelta(delta)})`);
		}
		const ds = await downloadFileToCacheDir({
			repo: DATASET_REPO,
			hubUrl: base,
			path: "data/sample.parquet",
			cacheDir,
		});
		assertSameBytes(fs.readFileSync(ds), trees.DS["data/sample.parquet"], "dataset parquet in cache");
	});
});

// ---------------------------------------------------------------------------
// Errors through the client (hub-protocol 4)
// ---------------------------------------------------------------------------

describe("errors", () => {
	const MISSING_REPO = { type: "model", name: "hubgate-test/does-not-exist" };

	test("missing file: fileDownloadInfo and downloadFile return null (404 EntryNotFound)", async () => {
		for (const [repo, p, rev] of [
			[MODEL_REPO, "nope.txt", undefined],
			[MODEL_REPO, "sub/dir/nope.bin", "v1.0"],
			[MODEL_REPO, "added.txt", commits.A],
			[MODEL_REPO, "feature.txt", "refs/pr/1"],
			[DATASET_REPO, "data/train/shard-99/row-9999.txt", undefined],
			[SPACE_REPO, "nope.py", undefined],
		]) {
			const what = `${repo.type} ${p}@${rev ?? "main"}`;
			assert.equal(await fileDownloadInfo({ repo, hubUrl: base, path: p, revision: rev }), null, what);
			assert.equal(await fileDownloadInfo({ repo, hubUrl: base, path: p, revision: rev, raw: true }), null, `raw ${what}`);
			assert.equal(await downloadFile({ repo, hubUrl: base, path: p, revision: rev }), null, what);
			assert.equal(await downloadFile({ repo, hubUrl: base, path: p, revision: rev, accessToken: TOKEN }), null, `token ${what}`);
		}
		// the raw response the client saw
		const r = await fetch(`${base}/${MODEL}/resolve/main/nope.txt`, { headers: { Range: "bytes=0-0" } });
		assert.equal(r.status, 404);
		assert.equal(r.headers.get("x-error-code"), "EntryNotFound");
		assert.equal(r.headers.get("x-repo-commit"), commits.B);
	});

	test("missing folder in listFiles, missing file in pathsInfo / downloadFileToCacheDir", async () => {
		await expectApiError(collect(listFiles({ repo: MODEL_REPO, hubUrl: base, path: "no/such/dir" })), 404, "listFiles missing folder");
		assert.deepEqual(await pathsInfo({ repo: MODEL_REPO, hubUrl: base, paths: ["nope.txt"] }), []);
		await assert.rejects(
			downloadFileToCacheDir({ repo: MODEL_REPO, hubUrl: base, path: "nope.txt", cacheDir: newCacheDir() }),
			/cannot get path info for nope\.txt/,
		);
	});

	test("missing repo: 401 without a token, 404 with an hf_ token", async () => {
		const calls = {
			modelInfo: (tok) => modelInfo({ name: MISSING_REPO.name, hubUrl: base, ...tok }),
			datasetInfo: (tok) => datasetInfo({ name: MISSING_REPO.name, hubUrl: base, ...tok }),
			spaceInfo: (tok) => spaceInfo({ name: MISSING_REPO.name, hubUrl: base, ...tok }),
			listFiles: (tok) => collect(listFiles({ repo: MISSING_REPO, hubUrl: base, ...tok })),
			pathsInfo: (tok) => pathsInfo({ repo: MISSING_REPO, hubUrl: base, paths: ["config.json"], ...tok }),
			fileDownloadInfo: (tok) => fileDownloadInfo({ repo: MISSING_REPO, hubUrl: base, path: "config.json", ...tok }),
			downloadFile: (tok) => downloadFile({ repo: MISSING_REPO, hubUrl: base, path: "config.json", ...tok }),
			"downloadFile raw": (tok) => downloadFile({ repo: MISSING_REPO, hubUrl: base, path: "config.json", raw: true, ...tok }),
			snapshotDownload: (tok) => snapshotDownload({ repo: MISSING_REPO, hubUrl: base, cacheDir: newCacheDir(), ...tok }),
			"model repo as dataset": (tok) =>
				fileDownloadInfo({ repo: { type: "dataset", name: MODEL }, hubUrl: base, path: "config.json", ...tok }),
		};
		for (const [name, call] of Object.entries(calls)) {
			await expectApiError(call({}), 401, `${name} without token`);
			await expectApiError(call({ accessToken: TOKEN }), 404, `${name} with token`);
		}
		// what the client received
		const r = await fetch(`${base}/api/models/${MISSING_REPO.name}/revision/main`);
		assert.equal(r.status, 401);
		assert.equal(r.headers.get("x-error-code"), "RepoNotFound");
		const r2 = await fetch(`${base}/api/models/${MISSING_REPO.name}/revision/main`, { headers: { Authorization: `Bearer ${TOKEN}` } });
		assert.equal(r2.status, 404);
		assert.equal(r2.headers.get("x-error-code"), "RepoNotFound");
		// repoExists maps both to false
		assert.equal(await repoExists({ repo: MISSING_REPO, hubUrl: base, accessToken: TOKEN }), false);
		// fileExists: HEAD 401 is not 404, so the client throws
		// fileExists: a HEAD 401 is not a 404, so the client throws (it then fails to parse the
		// empty HEAD body as JSON, which is client behaviour: any error is fine here).
		await assert.rejects(fileExists({ repo: MISSING_REPO, hubUrl: base, path: "config.json" }), "fileExists missing repo");
	});

	test("missing revision: 404 errors (not null)", async () => {
		for (const rev of ["no-such-branch", "v9.9", "refs/pr/99", "feature/y", "0123456789abcdef0123456789abcdef01234567"]) {
			await expectApiError(modelInfo({ name: MODEL, hubUrl: base, revision: rev }), 404, `modelInfo@${rev}`);
			await expectApiError(fileDownloadInfo({ repo: MODEL_REPO, hubUrl: base, path: "config.json", revision: rev }), 404, `fileDownloadInfo@${rev}`);
			await expectApiError(downloadFile({ repo: MODEL_REPO, hubUrl: base, path: "config.json", revision: rev }), 404, `downloadFile@${rev}`);
			await expectApiError(pathsInfo({ repo: MODEL_REPO, hubUrl: base, paths: ["config.json"], revision: rev }), 404, `pathsInfo@${rev}`);
			await expectApiError(collect(listFiles({ repo: MODEL_REPO, hubUrl: base, revision: rev })), 404, `listFiles@${rev}`);
			await expectApiError(
				snapshotDownload({ repo: MODEL_REPO, hubUrl: base, revision: rev, cacheDir: newCacheDir() }),
				404,
				`snapshotDownload@${rev}`,
			);
		}
		const r = await fetch(`${base}/${MODEL}/resolve/no-such-branch/config.json`, { headers: { Range: "bytes=0-0" } });
		assert.equal(r.status, 404);
		assert.equal(r.headers.get("x-error-code"), "RevisionNotFound");
	});

	test("the client rejects tokens not starting with hf_ before any request", async () => {
		const { delta } = await withMetrics(async () => {
			await assert.rejects(modelInfo({ name: MODEL, hubUrl: base, accessToken: "not-a-hub-token" }), TypeError);
		});
		assert.deepEqual(delta, {});
	});
});

// ---------------------------------------------------------------------------
// Commit history (R14, optional in the protocol but used by listCommits / countCommits)
// ---------------------------------------------------------------------------

describe("commits", () => {
	test("listCommits on main: B then A, with titles and dates; pagination with batchSize 1", async () => {
		for (const batchSize of [100, 1]) {
			const list = await collect(listCommits({ repo: MODEL_REPO, hubUrl: base, batchSize }));
			assert.deepEqual(
				list.map((c) => c.oid),
				[commits.B, commits.A],
				`batchSize ${batchSize}`,
			);
			assert.equal(list[0].title, "commit B: edit config, add file");
			assert.equal(list[1].date.getTime(), DATES.A * 1000);
		}
		const tag = await collect(listCommits({ repo: MODEL_REPO, hubUrl: base, revision: "v1.0" }));
		assert.deepEqual(tag.map((c) => c.oid), [commits.A]);
		const fx = await collect(listCommits({ repo: MODEL_REPO, hubUrl: base, revision: "feature/x" }));
		assert.equal(fx[0].oid, commits.FX);
		const pr = await collect(listCommits({ repo: MODEL_REPO, hubUrl: base, revision: "refs/pr/1" }));
		assert.equal(pr[0].oid, commits.PR);
	});

	test("countCommits reads X-Total-Count", async () => {
		// countCommits sends exactly this and returns parseInt(X-Total-Count ?? "0")
		const url = `${base}/api/models/${MODEL}/commits/main?limit=1`;
		const r = await fetch(url);
		assert.equal(r.status, 200);
		assert.equal(r.headers.get("x-total-count"), "2", `X-Total-Count on GET ${url}`);
		assert.equal(await countCommits({ repo: MODEL_REPO, hubUrl: base }), 2, "main has 2 commits");
		assert.equal(await countCommits({ repo: MODEL_REPO, hubUrl: base, revision: "v1.0" }), 1, "v1.0 has 1 commit");
	});
});

// ---------------------------------------------------------------------------
// Legacy one-segment model id (like "gpt2")
// ---------------------------------------------------------------------------

describe("legacy one-segment model id", () => {
	test("modelInfo, listFiles, pathsInfo", async () => {
		const info = await modelInfo({ name: LEGACY, hubUrl: base, additionalFields: ["sha", "filePaths"] });
		assert.equal(info.name, LEGACY);
		assert.equal(info.sha, commits.LG);
		assert.deepEqual([...info.filePaths].sort(), Object.keys(trees.LG).sort());
		const entries = await collect(listFiles({ repo: LEGACY, hubUrl: base, recursive: true }));
		assert.deepEqual(entries.map((e) => e.path).sort(), expectedListing(trees.LG, { recursive: true }));
		for (const e of entries) checkEntry(e, trees.LG, "legacy tree");
		const infos = await pathsInfo({ repo: LEGACY, hubUrl: base, paths: ["pytorch_model.bin"], expand: true });
		assert.equal(infos.length, 1);
		assert.equal(infos[0].lastCommit.id, commits.LG);
	});

	test("downloadFile (plain and Xet) and snapshotDownload", async () => {
		assertSameBytes(await bufOf(await downloadFile({ repo: LEGACY, hubUrl: base, path: "config.json" })), trees.LG["config.json"], "legacy config");
		const { result, delta } = await withMetrics(async () =>
			bufOf(await downloadFile({ repo: LEGACY, hubUrl: base, path: "pytorch_model.bin" })),
		);
		assertSameBytes(result, trees.LG["pytorch_model.bin"], "legacy xet");
		assert.ok(delta.reconstruction_v2 >= 1 && delta.xorb >= 1, fmtDelta(delta));
		const cacheDir = newCacheDir();
		const folder = await snapshotDownload({ repo: LEGACY, hubUrl: base, cacheDir });
		assert.equal(folder, path.join(cacheDir, "models--legacy-model", "snapshots", commits.LG));
		checkSnapshot(folder, trees.LG, "legacy snapshot");
		assert.equal(await fileDownloadInfo({ repo: LEGACY, hubUrl: base, path: "nope" }), null);
	});
});
