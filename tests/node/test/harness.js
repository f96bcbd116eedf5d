// Starts what the Node SDK tests run against, the way tests/sdk/conftest.py does for the Python
// suite: `layerr-mock` (the deterministic mock upstream, every wire format on one port) and
// `layerr serve` on a free port over a fresh SQLite store, with a random admin key and master
// key and no other LAYERR_* variable; then registers one provider per wire format (distinct
// model names, so a model routes to exactly one format) and a workspace whose key the tests use.
//
// The binaries are expected in target/debug (or $CARGO_TARGET_DIR/debug):
// `cargo build --bins -p layerr -p layerr-mock`.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

export const FORMATS = ["openai", "anthropic", "ollama", "gemini"];
export const CHAT_MODEL = {
  openai: "gpt-4o-mini",
  anthropic: "claude-sonnet-4",
  ollama: "llama3.1:8b",
  gemini: "gemini-2.5-flash",
};
// OpenAI-format models of their own for the failure tests, so an injected failure never trips
// the circuit breaker of (or sets aside) the providers the happy-path tests use.
export const CUT_MODEL = "cut-gpt";
export const LIMITED_MODEL = "limited-gpt";

function binary(name) {
  const configured = process.env.CARGO_TARGET_DIR;
  let base = configured ? configured : join(ROOT, "target");
  if (!isAbsolute(base)) base = join(ROOT, base);
  const path = join(base, "debug", name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: build it first with \`cargo build --bins -p layerr -p layerr-mock\``);
  }
  return path;
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function tail(path, lines = 40) {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Stops one process we started, by its own pid (never by name). */
async function stop(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function startMock(workdir) {
  const log = join(workdir, "mock.log");
  const proc = spawn(binary("layerr-mock"), ["--port", "0"], {
    stdio: ["ignore", "pipe", openSync(log, "w")],
  });
  const line = await new Promise((ok, fail) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`layerr-mock did not start:\n${tail(log)}`)), 20_000);
    proc.stdout.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\n")) {
        clearTimeout(timer);
        ok(buf.split("\n")[0].trim());
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`layerr-mock exited (${code}):\n${tail(log)}`));
    });
  });
  if (!line.startsWith("listening on ")) throw new Error(`layerr-mock said ${JSON.stringify(line)}`);
  const port = Number(line.split(":").pop());
  const base = `http://127.0.0.1:${port}`;
  const control = async (method, path, body) => {
    const r = await fetch(`${base}/_mock${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status !== 200) throw new Error(`mock control ${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  await control("GET", "/health");
  return { proc, base, log, control };
}

async function startGateway(workdir) {
  const adminKey = "lyr_node_admin_" + randomBytes(20).toString("hex");
  const dataDir = join(workdir, "data");
  const log = join(workdir, "layerr.log");
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("LAYERR_") || k.startsWith("LAYERR_TEST_")),
  );
  Object.assign(env, {
    LAYERR_ADMIN_KEY: adminKey,
    LAYERR_DATA_DIR: dataDir,
    LAYERR_MASTER_KEY: randomBytes(32).toString("hex"),
  });
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const out = openSync(log, "a");
    // The work dir holds no layerr.toml, so nothing but the environment configures it.
    const proc = spawn(binary("layerr"), ["serve", "--listen", `127.0.0.1:${port}`], {
      cwd: workdir,
      env,
      stdio: ["ignore", out, out],
    });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const r = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(2000) });
        if (r.status === 200) return { proc, base, adminKey, log };
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    await stop(proc);
  }
  throw new Error(`layerr serve did not become healthy:\n${tail(log)}`);
}

/**
 * Starts the mock and the gateway, registers the providers and a workspace, and returns
 * `{ base, key, mock, close }`; `base` is the gateway's origin (SDKs take `${base}/v1`).
 */
export async function startStack() {
  const workdir = mkdtempSync(join(tmpdir(), "layerr-node-"));
  const mock = await startMock(workdir);
  let gw;
  try {
    gw = await startGateway(workdir);
  } catch (e) {
    await stop(mock.proc);
    throw e;
  }
  const close = async () => {
    await stop(gw.proc);
    await stop(mock.proc);
    rmSync(workdir, { recursive: true, force: true });
  };
  const admin = async (method, path, body) => {
    const r = await fetch(`${gw.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${gw.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text).data;
  };
  try {
    const url = { openai: `${mock.base}/v1`, anthropic: mock.base, ollama: mock.base, gemini: mock.base };
    for (const fmt of FORMATS) {
      await admin("POST", "/api/providers", {
        id: `${fmt}-main`,
        name: `${fmt}-main`,
        type: fmt,
        baseUrl: url[fmt],
        models: [CHAT_MODEL[fmt]],
        apiKey: `sk-mock-${fmt}-${randomBytes(4).toString("hex")}`,
      });
    }
    for (const [id, model] of [["openai-cut", CUT_MODEL], ["openai-limited", LIMITED_MODEL]]) {
      await admin("POST", "/api/providers", {
        id,
        name: id,
        type: "openai",
        baseUrl: url.openai,
        models: [model],
        apiKey: `sk-mock-openai-${randomBytes(4).toString("hex")}`,
      });
    }
    const ws = await admin("POST", "/api/workspaces", { slug: "node", name: "node", tier: "enterprise" });
    const stack = {
      base: gw.base,
      key: ws.apiKey.key,
      mock,
      close,
      log: gw.log,
      /** The upstream calls the mock recorded (method, path, headers, body), oldest first. */
      requests: () => mock.control("GET", "/requests"),
      clearRequests: () => mock.control("DELETE", "/requests"),
      /** Queues mock behaviours (`/_mock/behavior`), e.g. `{ model, status: 503 }`. */
      push: (...behaviours) => mock.control("POST", "/behavior", behaviours),
      clearBehaviours: () => mock.control("DELETE", "/behavior"),
      logTail: () => tail(gw.log),
    };
    return stack;
  } catch (e) {
    console.error(`--- layerr log (tail) ---\n${tail(gw.log)}`);
    await close();
    throw e;
  }
}
