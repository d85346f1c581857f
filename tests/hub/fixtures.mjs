// Fixtures and process helpers for tests/hub/client.test.mjs.
//
// Everything is deterministic: file bytes come from a seeded xorshift128 PRNG, commit
// dates and authors are fixed, so a failing case can be reproduced byte for byte.

import { spawn, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const HUBGATE = process.env.HUBGATE || path.resolve(HERE, "../../build/hubgate");

export const MiB = 1 << 20;

// ---------------------------------------------------------------------------
// Deterministic bytes
// ---------------------------------------------------------------------------

/** xorshift128 PRNG seeded with splitmix32 (32-bit words). */
export function prng(seed) {
	let s = seed >>> 0;
	const sm = () => {
		s = (s + 0x9e3779b9) >>> 0;
		let z = s;
		z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
		z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
		return (z ^ (z >>> 16)) >>> 0;
	};
	let a = sm() || 1, b = sm(), c = sm(), d = sm();
	return () => {
		const t = a ^ (a << 11);
		a = b;
		b = c;
		c = d;
		d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
		return d;
	};
}

/** `n` pseudo-random bytes. */
export function randomBytes(n, seed) {
	const next = prng(seed);
	const words = new Uint32Array(Math.ceil(n / 4));
	for (let i = 0; i < words.length; i++) words[i] = next();
	return Buffer.from(words.buffer, 0, n);
}

/**
 * `n` bytes alternating 1 MiB blocks of random bytes and of smooth float32 data (which
 * compresses, so the xorbs carry both stored and compressed chunks).
 */
export function mixedBytes(n, seed) {
	const out = Buffer.alloc(n);
	const next = prng(seed);
	for (let off = 0, blk = 0; off < n; off += MiB, blk++) {
		const len = Math.min(MiB, n - off);
		if (blk % 2 === 0) {
			for (let i = 0; i + 4 <= len; i += 4) out.writeUInt32LE(next(), off + i);
			for (let i = len - (len % 4); i < len; i++) out[off + i] = next() & 0xff;
		} else {
			const f = new Float32Array(Math.floor(len / 4));
			const phase = (next() % 1000) / 100;
			for (let i = 0; i < f.length; i++) f[i] = Math.sin(phase + i / 512) * 0.02;
			Buffer.from(f.buffer).copy(out, off);
		}
	}
	return out;
}

/** A minimal valid safetensors file of about `n` bytes (one U8 tensor of random bytes). */
export function safetensorsBytes(n, seed) {
	const mk = (len) =>
		JSON.stringify({ __metadata__: { format: "pt" }, weight: { dtype: "U8", shape: [len], data_offsets: [0, len] } });
	let header = mk(n);
	const len = n - 8 - header.length;
	header = mk(len).padEnd(header.length, " ");
	const hdr = Buffer.alloc(8);
	hdr.writeBigUInt64LE(BigInt(header.length));
	return Buffer.concat([hdr, Buffer.from(header), randomBytes(len, seed)]);
}

/** `n` bytes of log-like ASCII lines (compressible). */
export function logText(n, seed) {
	const next = prng(seed);
	const lines = [];
	let len = 0;
	for (let step = 0; len < n; step++) {
		const l = `step=${step} loss=${(next() % 100000) / 10000} lr=${(next() % 1000) / 1e6} tokens=${next() % 65536}\n`;
		lines.push(l);
		len += l.length;
	}
	return Buffer.from(lines.join("")).subarray(0, n);
}

export function tokenizerJson(seed) {
	const next = prng(seed);
	const vocab = {};
	const abc = "abcdefghijklmnopqrstuvwxyz";
	for (let i = 0; i < 3000; i++) {
		let w = "";
		const l = 2 + (next() % 8);
		for (let j = 0; j < l; j++) w += abc[next() % 26];
		vocab[`${w}${i}`] = i;
	}
	return JSON.stringify({ version: "1.0", model: { type: "BPE", vocab, merges: [] } }, null, 2) + "\n";
}

// ---------------------------------------------------------------------------
// Hashes
// ---------------------------------------------------------------------------

export const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
export const gitBlobSha1 = (buf) =>
	createHash("sha1").update(`blob ${buf.length}\0`).update(buf).digest("hex");
export const lfsPointer = (buf) =>
	`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(buf)}\nsize ${buf.length}\n`;

// ---------------------------------------------------------------------------
// Fixture trees
// ---------------------------------------------------------------------------

/** Writes `files` ({relpath: Buffer|string}) under a fresh directory; returns it. */
export function writeTree(root, files) {
	fs.rmSync(root, { recursive: true, force: true });
	fs.mkdirSync(root, { recursive: true });
	for (const [rel, content] of Object.entries(files)) {
		const p = path.join(root, rel);
		fs.mkdirSync(path.dirname(p), { recursive: true });
		fs.writeFileSync(p, content);
	}
	return root;
}

/** Every directory implied by a list of file paths ("a/b/c.txt" gives "a" and "a/b"). */
export function dirsOf(paths) {
	const dirs = new Set();
	for (const p of paths) {
		const parts = p.split("/");
		for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
	}
	return [...dirs].sort();
}

// ---------------------------------------------------------------------------
// hubgate processes
// ---------------------------------------------------------------------------

/** `hubgate import ...`; returns the 40-hex commit id. */
export function hubImport(data, src, repo, opts = {}) {
	const args = ["import", "--data", data];
	if (opts.type) args.push("--type", opts.type);
	if (opts.revision) args.push("--revision", opts.revision);
	if (opts.tag) args.push("--tag", opts.tag);
	if (opts.message) args.push("--message", opts.message);
	if (opts.author) args.push("--author", opts.author);
	if (opts.date !== undefined) args.push("--date", String(opts.date));
	if (opts.private) args.push("--private");
	args.push(src, repo);
	let out;
	try {
		out = execFileSync(HUBGATE, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
	} catch (e) {
		throw new Error(`hubgate ${args.join(" ")} failed: ${e.stderr || e.message}`);
	}
	const id = out.trim();
	if (!/^[0-9a-f]{40}$/.test(id)) throw new Error(`hubgate import printed ${JSON.stringify(out)}`);
	return id;
}

/** Starts `hubgate serve`; resolves to {proc, port, base, log, stop()}. */
let serverSeq = 0;

export function startServer(data, extra = []) {
	const logPath = path.join(os.tmpdir(), `hubgate-client-test-${process.pid}-${++serverSeq}.log`);
	const log = fs.openSync(logPath, "w");
	const upstream = extra.includes("--upstream") ? [] : ["--no-upstream"];
	// Synthetic fixtures (random bytes named .bin...) are what the scanner refuses; the client
	// suites are about the protocol (tests/py/test_scan_serving.py covers the scanner).
	if (!extra.includes("--scan")) upstream.push("--scan", "off");
	const proc = spawn(HUBGATE, ["serve", "--data", data, "--listen", "127.0.0.1:0", ...upstream, ...extra], {
		stdio: ["ignore", "pipe", log],
	});
	return new Promise((resolve, reject) => {
		let buf = "";
		const timer = setTimeout(() => {
			proc.kill("SIGKILL");
			reject(new Error(`hubgate serve did not start in 10 s; log ${logPath}`));
		}, 10_000);
		proc.on("error", (e) => {
			clearTimeout(timer);
			reject(e);
		});
		proc.on("exit", (code) => {
			clearTimeout(timer);
			reject(new Error(`hubgate serve exited early (${code}); log ${logPath}: ${fs.readFileSync(logPath, "utf8")}`));
		});
		proc.stdout.on("data", (d) => {
			buf += d;
			const m = /listening on port (\d+)/.exec(buf);
			if (!m) return;
			clearTimeout(timer);
			proc.removeAllListeners("exit");
			proc.stdout.resume();
			const port = Number(m[1]);
			resolve({
				proc,
				port,
				base: `http://127.0.0.1:${port}`,
				logPath,
				stop: () =>
					new Promise((res) => {
						if (proc.exitCode !== null || proc.signalCode !== null) return res(proc.exitCode);
						const k = setTimeout(() => proc.kill("SIGKILL"), 10_000);
						proc.once("exit", (code, sig) => {
							clearTimeout(k);
							fs.closeSync(log);
							res(code ?? sig);
						});
						proc.kill("SIGTERM");
					}),
			});
		});
	});
}

/** GET /metrics as {"hubgate_requests_total{route=\"x\"}": n, ...}. */
export async function metrics(base) {
	const r = await fetch(`${base}/metrics`);
	const text = await r.text();
	const out = {};
	for (const line of text.split("\n")) {
		if (!line || line.startsWith("#")) continue;
		const i = line.lastIndexOf(" ");
		out[line.slice(0, i)] = Number(line.slice(i + 1));
	}
	return out;
}

/** Requests per route between two metrics snapshots: {route: delta}. */
export function routeDelta(before, after) {
	const d = {};
	for (const [k, v] of Object.entries(after)) {
		const m = /^hubgate_requests_total\{route="([^"]+)"\}$/.exec(k);
		if (!m) continue;
		const diff = v - (before[k] ?? 0);
		if (diff) d[m[1]] = diff;
	}
	return d;
}

// ---------------------------------------------------------------------------
// The repositories used by client.test.mjs
// ---------------------------------------------------------------------------

export const MODEL = "hubgate-test/tiny-model";
export const DATASET = "hubgate-test/many-files";
export const SPACE = "hubgate-test/demo_space.v2";
export const LEGACY = "legacy-model"; // one-segment model id (like "gpt2")
export const AUTHOR = "Test Bot <bot@example.com>";
export const DATES = {
	A: 1700000000,
	B: 1700000600,
	PR: 1700001200,
	FX: 1700001800,
	DS: 1700002400,
	SP: 1700003000,
	LG: 1700003600,
	CV: 1700004200,
};

/** Path with a space and non-ASCII characters (URL-encoded by fetch, decoded by the server). */
export const ODD_PATH = "sub/dir/naïve file ü.txt";
/** Path with characters that are legal unencoded in a URL path ('+' must not become a space). */
export const PUNCT_PATH = "sub/a+b=c&d@e,f;g'h.txt";
/** A folder whose name needs percent-encoding and contains '+' (listed with listFiles({path})). */
export const ODD_DIR = "sub/dossier é +1";
/** Above this size every file is stored in LFS/Xet, whatever its extension. */
export const LFS_SIZE_THRESHOLD = 10 * MiB;
export const DATASET_FILES = 1100;
export const BIG_DATASET_FILE = 70 * MiB + 4321;

/**
 * Builds the fixture trees under `root` and imports them into the store `data`.
 * Returns {trees: {A, B, PR, FX, DS, SP}: {relpath: Buffer}, commits: {A, B, PR, FX, DS, SP}}.
 */
export function buildFixtures(root, data) {
	const [R1, R2, R3] = [31, 32, 33].map((seed) => randomBytes(2 * MiB, seed));
	const A = {
		"config.json": JSON.stringify({ architectures: ["TinyModel"], hidden_size: 64, revision: "A" }, null, 2) + "\n",
		"README.md": "---\nlicense: mit\n---\n# tiny-model\n\nFixture for hubgate client tests.\n",
		"tokenizer.json": tokenizerJson(7),
		"sub/dir/file.txt": "nested file\n",
		[ODD_PATH]: "space + unicode in the name\n",
		"sub/top.txt": "one level down\n",
		"empty.txt": "",
		"model.safetensors": safetensorsBytes(3 * MiB + 12345, 11),
		"weights/pytorch_model.bin": mixedBytes(24 * MiB + 777, 13),
		// Chunk-level dedup: shard-b reuses shard-a's chunks out of order and repeats some, so its
		// reconstruction references non-adjacent chunk ranges of one xorb (multi-range fetches).
		"weights/shard-a.bin": Buffer.concat([R1, R2, R3]),
		"weights/shard-b.bin": Buffer.concat([R3, R1, R3, randomBytes(300_000, 34)]),
		"empty.safetensors": "", // empty: git-lfs never makes a pointer for it
		"logs/train.log": logText(LFS_SIZE_THRESHOLD + 100, 41), // LFS by size, not by extension
		[PUNCT_PATH]: "punctuation in the name\n",
		[`${ODD_DIR}/x y.txt`]: "in an oddly named folder\n",
	};
	for (const k of Object.keys(A)) A[k] = Buffer.from(A[k]);

	const B = { ...A };
	B["config.json"] = Buffer.from(JSON.stringify({ architectures: ["TinyModel"], hidden_size: 128, revision: "B" }, null, 2) + "\n");
	B["added.txt"] = Buffer.from("added in commit B\n");
	// New in B but mostly made of chunks stored in A's xorb(s): its terms span several xorbs.
	B["weights/merged.bin"] = Buffer.concat([R2, randomBytes(MiB, 61), A["weights/pytorch_model.bin"].subarray(0, 3 * MiB)]);

	const PR = { ...B };
	PR["config.json"] = Buffer.from(JSON.stringify({ architectures: ["TinyModel"], hidden_size: 256, revision: "PR" }, null, 2) + "\n");
	PR["model.safetensors"] = safetensorsBytes(3 * MiB + 999, 17);

	const FX = { ...A };
	FX["feature.txt"] = Buffer.from("only on feature/x\n");
	FX["sub/dir/file.txt"] = Buffer.from("nested file, feature version\n");

	const DS = { "README.md": Buffer.from("---\nlicense: cc0-1.0\n---\n# many-files\n") };
	for (let i = 0; i < DATASET_FILES; i++) {
		const shard = String(Math.floor(i / 100)).padStart(2, "0");
		DS[`data/train/shard-${shard}/row-${String(i).padStart(4, "0")}.txt`] = Buffer.from(`row ${i}\n`);
	}
	DS["data/sample.parquet"] = randomBytes(40_000, 23);
	// More than one xorb's worth (64 MiB) in a single file.
	DS["data/big.parquet"] = mixedBytes(BIG_DATASET_FILE, 29);

	const SP = {
		"README.md": Buffer.from("---\ntitle: demo\nsdk: gradio\n---\n"),
		"app.py": Buffer.from("import gradio as gr\n\ngr.Interface(lambda x: x, 'text', 'text').launch()\n"),
		"requirements.txt": Buffer.from("gradio\n"),
		"assets/weights.bin": randomBytes(150_000, 71), // LFS/Xet in a space
	};
	// The dataset viewer's parquet conversion ref.
	const CV = {
		"default/train/0000.parquet": randomBytes(200_000, 81),
		"default/train/0001.parquet": randomBytes(123_456, 82),
		"default/test/0000.parquet": randomBytes(5_000, 83),
	};

	const LG = {
		"config.json": Buffer.from('{"model_type": "legacy"}\n'),
		"pytorch_model.bin": randomBytes(200_000, 51),
	};

	const imp = (tree, name, repo, opts) =>
		hubImport(data, writeTree(path.join(root, name), tree), repo, { author: AUTHOR, ...opts });
	const commits = {};
	commits.A = imp(A, "A", MODEL, { tag: "v1.0", message: "commit A", date: DATES.A });
	commits.B = imp(B, "B", MODEL, { message: "commit B: edit config, add file", date: DATES.B });
	commits.PR = imp(PR, "PR", MODEL, { revision: "refs/pr/1", message: "PR commit", date: DATES.PR });
	commits.FX = imp(FX, "FX", MODEL, { revision: "feature/x", tag: "exp/fx-1", message: "feature commit", date: DATES.FX });
	commits.DS = imp(DS, "DS", DATASET, { type: "dataset", message: "dataset", date: DATES.DS });
	commits.CV = imp(CV, "CV", DATASET, { type: "dataset", revision: "refs/convert/parquet", message: "parquet", date: DATES.CV });
	commits.SP = imp(SP, "SP", SPACE, { type: "space", message: "space", date: DATES.SP });
	commits.LG = imp(LG, "LG", LEGACY, { message: "legacy", date: DATES.LG });

	// The server also lists the default .gitattributes hubgate adds (client.test.mjs fetches it).
	return { trees: { A, B, PR, FX, DS, SP, LG, CV }, commits };
}
