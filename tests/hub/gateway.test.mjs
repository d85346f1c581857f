// The real JavaScript client @huggingface/hub 2.17.5 through hubgate's pull-through gateway, in
// front of a fake huggingface.co (tests/py/fakehub.py run by tests/py/fakehub_serve.py: Hub API,
// LFS files behind a signed CDN redirect, Xet files behind a CAS with signed xorb ranges, gated
// and private repos, request and byte counters, fault switches).
//
// Run:   HUBGATE=build/hubgate node --test tests/hub/gateway.test.mjs     (CTest sets HUBGATE)
//
// Every byte the client returns is compared (sha256) with what the fake holds.  The fake's
// counters show what the gateway asked upstream; the gateway's /metrics show which path the
// client took (Xet: xet_token, reconstruction_v2, xorb; plain: resolve).  Tests run in order
// and share one gateway: the first downloads are cold, later ones warm.

import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { HUBGATE, startServer, metrics, routeDelta, sha256 } from "./fixtures.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const req = createRequire(new URL("../node/package.json", import.meta.url));
const hubMain = req.resolve("@huggingface/hub");
const hub = await import(pathToFileURL(path.resolve(path.dirname(hubMain), "index.mjs")).href);
const {
	modelInfo,
	datasetInfo,
	listFiles,
	pathsInfo,
	fileDownloadInfo,
	downloadFile,
	downloadFileToCacheDir,
	snapshotDownload,
} = hub;
console.debug = () => {}; // downloadFileToCacheDir logs every file

let fake; // {proc, spec, cmd(line) -> Promise<object>}
let gw; // the gateway: {base, stop, ...}
let tmp;
let cacheSeq = 0;

const PLAIN = { type: "model", name: "org/plain" };
const XET = { type: "model", name: "org/xet" };
const DS = { type: "dataset", name: "org/ds" };
const GATED = { type: "model", name: "org/gated" };
const PRIVATE = { type: "model", name: "org/private" };

/** Starts fakehub_serve.py; resolves with its spec line and a command channel. */
function startFake() {
	const proc = spawn("python3", [path.resolve(HERE, "../py/fakehub_serve.py")], {
		cwd: path.resolve(HERE, "../py"),
		env: { ...process.env, HUBGATE },
		stdio: ["pipe", "pipe", "inherit"],
	});
	const lines = createInterface({ input: proc.stdout });
	const waiting = [];
	lines.on("line", (l) => waiting.shift()?.(JSON.parse(l)));
	const next = () => new Promise((res) => waiting.push(res));
	const cmd = (line) => {
		const p = next();
		proc.stdin.write(line + "\n");
		return p;
	};
	return next().then((spec) => ({ proc, spec, cmd }));
}

const files = (repo) => fake.spec.repos[`${repo.type}/${repo.name}`].files;
const commitsOf = (repo) => fake.spec.repos[`${repo.type}/${repo.name}`].commits;
const counters = () => fake.cmd("counters");
const upstreamBodyBytes = (c) => (c.cdn_bytes ?? 0) + (c.xorb_bytes ?? 0) + (c.resolve_bytes ?? 0);
const bufOf = async (blob) => Buffer.from(await blob.arrayBuffer());
const newCacheDir = () => fs.mkdtempSync(path.join(tmp, `cache${++cacheSeq}-`));

function assertSame(buf, file, where) {
	assert.ok(buf, `${where}: no bytes`);
	assert.equal(buf.length, file.size, `${where}: size`);
	assert.equal(sha256(buf), file.sha256, `${where}: sha256`);
}

/** Runs fn, returning its result with the gateway's route deltas and the fake's counters. */
async function observed(fn) {
	await fake.cmd("reset");
	const m0 = await metrics(gw.base);
	const result = await fn();
	const delta = routeDelta(m0, await metrics(gw.base));
	delete delta.metrics; // the snapshot itself
	return { result, delta, up: await counters() };
}

function walk(dir, rel = "", out = {}) {
	for (const name of fs.readdirSync(dir)) {
		const p = path.join(dir, name);
		const r = rel ? `${rel}/${name}` : name;
		if (fs.statSync(p).isDirectory()) walk(p, r, out);
		else out[r] = fs.readFileSync(p);
	}
	return out;
}

function checkSnapshot(folder, repo, where) {
	const got = walk(folder);
	const want = files(repo);
	assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${where}: files`);
	for (const [p, f] of Object.entries(want)) assertSame(got[p], f, `${where}: ${p}`);
}

before(async () => {
	delete process.env.HF_TOKEN; // the gateway would take it as its own upstream identity
	tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hubgate-gwjs-"));
	fake = await startFake();
	gw = await startServer(path.join(tmp, "data"), ["--upstream", fake.spec.url]);
});

after(async () => {
	if (gw) {
		const code = await gw.stop();
		assert.equal(code, 0, `the gateway did not stop cleanly; log ${gw.logPath}`);
	}
	if (fake) {
		fake.proc.stdin.end("quit\n");
		await new Promise((res) => fake.proc.once("exit", res));
	}
	if (tmp && !process.env.HUBGATE_TEST_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("metadata through the gateway", () => {
	test("modelInfo and datasetInfo equal the upstream's", async () => {
		for (const [fn, repo] of [
			[modelInfo, PLAIN],
			[modelInfo, XET],
			[datasetInfo, DS],
		]) {
			const viaGw = await fn({ name: repo.name, hubUrl: gw.base, additionalFields: ["sha", "siblings"] });
			const direct = await fn({ name: repo.name, hubUrl: fake.spec.url, additionalFields: ["sha", "siblings"] });
			assert.equal(viaGw.sha, commitsOf(repo).at(-1), `${repo.name}: sha is the head commit`);
			assert.deepEqual(viaGw, direct, `${repo.name}: same info through the gateway`);
		}
		const old = await modelInfo({ name: PLAIN.name, hubUrl: gw.base, revision: "v1.0", additionalFields: ["sha"] });
		assert.equal(old.sha, commitsOf(PLAIN)[0], "a tag resolves to its commit");
	});

	test("listFiles recursive, paginated upstream (3 per page), at branch, tag and commit", async () => {
		for (const repo of [PLAIN, XET, DS]) {
			for (const revision of ["main", commitsOf(repo).at(-1)]) {
				const got = [];
				for await (const e of listFiles({ repo, hubUrl: gw.base, recursive: true, revision })) got.push(e);
				const gotFiles = got.filter((e) => e.type === "file");
				assert.deepEqual(gotFiles.map((e) => e.path).sort(), Object.keys(files(repo)).sort(), `${repo.name}@${revision}`);
				for (const e of gotFiles) {
					const f = files(repo)[e.path];
					assert.equal(e.size, f.size, e.path);
					if (f.lfs) assert.equal(e.lfs?.oid, f.sha256, `${e.path}: lfs oid`);
					else assert.equal(e.oid, f.blob, `${e.path}: blob oid`);
				}
			}
		}
		const v1 = [];
		for await (const e of listFiles({ repo: PLAIN, hubUrl: gw.base, recursive: true, revision: "v1.0" })) v1.push(e.path);
		assert.ok(!v1.includes("added.txt"), "added.txt is not in v1.0");
	});

	test("pathsInfo and fileDownloadInfo", async () => {
		const infos = await pathsInfo({ repo: PLAIN, hubUrl: gw.base, paths: ["config.json", "model.safetensors", "missing"], expand: true });
		assert.deepEqual(infos.map((i) => i.path).sort(), ["config.json", "model.safetensors"]);
		const st = infos.find((i) => i.path === "model.safetensors");
		assert.equal(st.lfs.oid, files(PLAIN)["model.safetensors"].sha256);
		const reg = await fileDownloadInfo({ repo: PLAIN, hubUrl: gw.base, path: "config.json" });
		assert.equal(reg.size, files(PLAIN)["config.json"].size);
		assert.equal(reg.etag, `"${files(PLAIN)["config.json"].blob}"`);
		const lfs = await fileDownloadInfo({ repo: PLAIN, hubUrl: gw.base, path: "weights/pytorch_model.bin" });
		assert.equal(lfs.size, files(PLAIN)["weights/pytorch_model.bin"].size);
		assert.equal(lfs.etag, `"${files(PLAIN)["weights/pytorch_model.bin"].sha256}"`);
		assert.ok(!lfs.url.includes(fake.spec.cdn_url) && !lfs.url.includes(fake.spec.cas_url), `no upstream URL: ${lfs.url}`);
		if (lfs.xet) assert.equal(lfs.xet.refreshUrl.origin, gw.base, "Xet through the gateway only");
	});
});

describe("downloads through the gateway", () => {
	test("regular files: byte-identical, cold then warm without upstream bodies", async () => {
		for (const repo of [PLAIN, XET, DS]) {
			for (const [p, f] of Object.entries(files(repo)).filter(([, f]) => !f.lfs)) {
				const blob = await downloadFile({ repo, hubUrl: gw.base, path: p });
				assertSame(await bufOf(blob), f, `${repo.name} ${p} (cold)`);
				const { result, up } = await observed(async () => bufOf(await downloadFile({ repo, hubUrl: gw.base, path: p })));
				assertSame(result, f, `${repo.name} ${p} (warm)`);
				assert.equal(up.resolve_bytes ?? 0, 0, `${p}: a warm download fetched the body again`);
			}
		}
	});

	test("16 concurrent cold clients of an LFS file: one upstream body", async () => {
		const p = "model.safetensors";
		const { result, up } = await observed(() =>
			Promise.all(Array.from({ length: 16 }, () => downloadFile({ repo: PLAIN, hubUrl: gw.base, path: p }).then(bufOf))),
		);
		for (const [i, b] of result.entries()) assertSame(b, files(PLAIN)[p], `client ${i}`);
		assert.equal(up.cdn_get, 1, `one CDN transfer: ${JSON.stringify(up)}`);
		assert.ok(up.cdn_bytes <= files(PLAIN)[p].size * 1.02, `upstream bytes ${up.cdn_bytes}`);
	});

	test("LFS files: cold through plain resolve, warm through the gateway's own Xet CAS", async () => {
		for (const repo of [PLAIN, XET, DS]) {
			for (const [p, f] of Object.entries(files(repo)).filter(([, f]) => f.lfs)) {
				const cold = await downloadFile({ repo, hubUrl: gw.base, path: p });
				assertSame(await bufOf(cold), f, `${repo.name} ${p} (first)`);
				// The body is stored once the transfer verified; wait until the gateway offers Xet.
				let info;
				for (let i = 0; i < 200 && !info?.xet; i++) {
					info = await fileDownloadInfo({ repo, hubUrl: gw.base, path: p });
					if (!info.xet) await new Promise((r) => setTimeout(r, 50));
				}
				assert.ok(info.xet, `${repo.name} ${p}: Xet offered once stored`);
				assert.equal(info.xet.refreshUrl.origin, gw.base);
				if (f.xet_hash) assert.equal(info.xet.hash, f.xet_hash, "the same Xet file hash as upstream");
				const { result, delta, up } = await observed(async () =>
					bufOf(await downloadFile({ repo, hubUrl: gw.base, path: p, accessToken: `hf_warm${++cacheSeq}` })),
				);
				assertSame(result, f, `${repo.name} ${p} (warm, Xet)`);
				assert.ok(delta.reconstruction_v2 >= 1 && delta.xorb >= 1, `Xet path taken: ${JSON.stringify(delta)}`);
				assert.equal((up.cas_requests ?? 0) + (up.cdn_requests ?? 0), 0, `upstream CAS/CDN touched: ${JSON.stringify(up)}`);
				assert.equal(upstreamBodyBytes(up), 0, `upstream bodies: ${JSON.stringify(up)}`);
			}
		}
	});

	test("raw: true returns the LFS pointer; xet: false the bytes through resolve", async () => {
		const f = files(XET)["model.safetensors"];
		const ptr = await (await downloadFile({ repo: XET, hubUrl: gw.base, path: "model.safetensors", raw: true })).text();
		assert.equal(ptr, `version https://git-lfs.github.com/spec/v1\noid sha256:${f.sha256}\nsize ${f.size}\n`);
		const { result, delta } = await observed(async () =>
			bufOf(await downloadFile({ repo: XET, hubUrl: gw.base, path: "model.safetensors", xet: false })),
		);
		assertSame(result, f, "xet: false");
		assert.deepEqual(delta, { resolve: 2 }, JSON.stringify(delta));
	});

	test("snapshotDownload at branch, tag and commit; a second snapshot costs no upstream body", async () => {
		const cacheDir = newCacheDir();
		for (const repo of [PLAIN, XET, DS]) {
			const folder = await snapshotDownload({ repo, hubUrl: gw.base, cacheDir });
			assert.ok(folder.endsWith(path.join("snapshots", commitsOf(repo).at(-1))), folder);
			checkSnapshot(folder, repo, `${repo.name} snapshot`);
		}
		const { result: folder, up } = await observed(() =>
			snapshotDownload({ repo: PLAIN, hubUrl: gw.base, revision: commitsOf(PLAIN).at(-1), cacheDir: newCacheDir() }),
		);
		checkSnapshot(folder, PLAIN, "second snapshot");
		assert.equal(upstreamBodyBytes(up), 0, `a warm snapshot fetched bodies: ${JSON.stringify(up)}`);
		const v1 = await snapshotDownload({ repo: PLAIN, hubUrl: gw.base, revision: "v1.0", cacheDir: newCacheDir() });
		assert.ok(v1.endsWith(commitsOf(PLAIN)[0]), v1);
		assert.ok(!fs.existsSync(path.join(v1, "added.txt")), "v1.0 has no added.txt");
	});

	test("downloadFileToCacheDir at a commit; again needs no request", async () => {
		const cacheDir = newCacheDir();
		const commit = commitsOf(XET).at(-1);
		for (const p of ["config.json", "shard-00001.bin"]) {
			const out = await downloadFileToCacheDir({ repo: XET, hubUrl: gw.base, path: p, revision: commit, cacheDir });
			assertSame(fs.readFileSync(out), files(XET)[p], p);
			const { result, delta } = await observed(() =>
				downloadFileToCacheDir({ repo: XET, hubUrl: gw.base, path: p, revision: commit, cacheDir }),
			);
			assert.equal(result, out);
			assert.deepEqual(delta, {}, `${p}: no request the second time`);
		}
	});
});

describe("gated and private upstream repos", () => {
	test("the granted token downloads; no token and a wrong token do not, also once warm", async () => {
		const good = fake.spec.good_token;
		for (const [repo, p] of [
			[GATED, "weights.safetensors"],
			[PRIVATE, "w.bin"],
		]) {
			const info = await modelInfo({ name: repo.name, hubUrl: gw.base, accessToken: good });
			assert.equal(info.name, repo.name);
			const b = await downloadFile({ repo, hubUrl: gw.base, path: p, accessToken: good });
			assertSame(await bufOf(b), files(repo)[p], `${repo.name} ${p} with the granted token`);
			for (const accessToken of [undefined, "hf_wrong"]) {
				await assert.rejects(
					modelInfo({ name: repo.name, hubUrl: gw.base, accessToken }),
					(e) => [401, 403, 404].includes(e.statusCode),
					`${repo.name} info with ${accessToken}`,
				);
				await assert.rejects(
					(async () => {
						const r = await downloadFile({ repo, hubUrl: gw.base, path: p, accessToken });
						if (r === null) throw Object.assign(new Error("null"), { statusCode: 404 });
						return r;
					})(),
					(e) => [401, 403, 404].includes(e.statusCode),
					`${repo.name} ${p} with ${accessToken}`,
				);
			}
		}
	});
});

describe("upstream down", () => {
	test("a cached snapshot is served; an uncached file fails fast", async () => {
		const cacheDir = newCacheDir();
		await snapshotDownload({ repo: XET, hubUrl: gw.base, cacheDir });
		await fake.cmd(`faults ${JSON.stringify({ down: true })}`);
		try {
			const folder = await snapshotDownload({ repo: XET, hubUrl: gw.base, cacheDir: newCacheDir() });
			checkSnapshot(folder, XET, "offline snapshot");
			const t0 = Date.now();
			await assert.rejects(
				modelInfo({ name: "org/never-seen", hubUrl: gw.base }),
				(e) => e.statusCode >= 500,
				"an uncached repo fails with 5xx",
			);
			assert.ok(Date.now() - t0 < 15_000, "fails fast");
		} finally {
			await fake.cmd("faults {}");
		}
	});
});
