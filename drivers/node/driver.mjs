// boxlite-e2e's Node SDK driver: the harness's cases, run through @boxlite-ai/boxlite.
//
// Why a long-lived process and not a script per call: the Python harness owns every box (names,
// bounded lifetimes, the ledger, the path check, removal), so the cases stay in Python and only
// the SDK calls cross over. One process per pytest worker keeps native handles (runtimes, boxes,
// executions) alive between calls, like a real Node program would.
//
// Protocol: JSON lines over stdio (documented in docs/architecture.md, "SDK drivers").
//   driver -> harness, first line: {"event":"ready","sdk":"node","package":...,"version":...,
//                                    "capabilities":{...}}
//   harness -> driver: {"id": <int>, "op": <string>, ...arguments}
//   driver -> harness: {"id", "ok": true, "result": {...}}
//                      {"id", "ok": false, "error": {"message", "name", "code"}}  (an SDK error)
//                      {"id", "ok": false, "protocol_error": "<one line>"}       (a bad request)
// Requests run concurrently; answers carry the request id. stdout carries protocol only; the
// driver's own log goes to stderr, one line per event (the harness keeps it per case).
// EOF on stdin = orderly exit (runtimes closed).

import { createInterface } from "node:readline";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { JsBoxlite, BoxliteRestOptions, ApiKeyCredential, getNativeModule } from "@boxlite-ai/boxlite";

const require = createRequire(import.meta.url);
const PKG = "@boxlite-ai/boxlite";
const VERSION = JSON.parse(
  readFileSync(require.resolve(`${PKG}/package.json`), "utf8"),
).version;

function log(event, fields = {}) {
  const parts = Object.entries(fields).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  process.stderr.write(`${new Date().toISOString()} driver=node event=${event} ${parts.join(" ")}\n`);
}

// ------------------------------------------------------------------ handles

const handles = new Map(); // handle id -> {kind, obj, ...}
let nextHandle = 1;

function keep(kind, obj, extra = {}) {
  const id = `${kind}${nextHandle++}`;
  handles.set(id, { kind, obj, ...extra });
  return id;
}

class ProtocolError extends Error {}

function handle(args, key, kind) {
  const id = args[key];
  if (typeof id !== "string") throw new ProtocolError(`'${key}' must be a ${kind} handle string`);
  const h = handles.get(id);
  if (!h || h.kind !== kind) throw new ProtocolError(`unknown ${kind} handle ${JSON.stringify(id)}`);
  return h;
}

function str(args, key, { optional = false } = {}) {
  const v = args[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new ProtocolError(`'${key}' is required`);
  }
  if (typeof v !== "string") throw new ProtocolError(`'${key}' must be a string`);
  return v;
}

function num(args, key) {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`'${key}' must be a number`);
  return v;
}

function bool(args, key) {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new ProtocolError(`'${key}' must be a boolean`);
  return v;
}

function strList(args, key) {
  const v = args[key] ?? [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new ProtocolError(`'${key}' must be a list of strings`);
  }
  return v;
}

function envPairs(args, key) {
  const v = args[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v) || !Object.values(v).every((s) => typeof s === "string")) {
    throw new ProtocolError(`'${key}' must be an object of strings`);
  }
  return Object.entries(v);
}

// ------------------------------------------------------------------ ops

async function readAll(stream) {
  const parts = [];
  for (;;) {
    const chunk = await stream.next();
    if (chunk === null) break;
    parts.push(chunk);
  }
  return parts;
}

function boxResult(box, runtimeId) {
  return { box: keep("box", box, { runtime: runtimeId }), box_id: box.id, name: box.name ?? null };
}

const OPS = {
  async connect(args) {
    const url = str(args, "url");
    const apiKey = str(args, "api_key");
    const prefix = str(args, "prefix", { optional: true });
    const options = new BoxliteRestOptions({
      url,
      credential: new ApiKeyCredential(apiKey),
      ...(prefix ? { pathPrefix: prefix } : {}),
    });
    return { runtime: keep("runtime", JsBoxlite.rest(options)) };
  },

  async close_runtime(args) {
    const h = handle(args, "runtime", "runtime");
    h.obj.close();
    handles.delete(args.runtime);
    return {};
  },

  async create(args) {
    const h = handle(args, "runtime", "runtime");
    const o = args.options ?? {};
    if (typeof o !== "object" || Array.isArray(o)) throw new ProtocolError("'options' must be an object");
    const options = { image: str(o, "image") };
    const map = { cpus: "cpus", memory_mib: "memoryMib", disk_size_gb: "diskSizeGb",
      auto_stop: "autoStop", auto_delete: "autoDelete" };
    for (const [wire, js] of Object.entries(map)) {
      const v = num(o, wire);
      if (v !== undefined) options[js] = v;
    }
    const resume = bool(o, "auto_resume");
    if (resume !== undefined) options.autoResume = resume;
    const wd = str(o, "working_dir", { optional: true });
    if (wd !== undefined) options.workingDir = wd;
    const env = envPairs(o, "env");
    if (env) options.env = env.map(([key, value]) => ({ key, value }));
    const box = await h.obj.create(options, str(args, "name", { optional: true }) ?? null);
    return boxResult(box, args.runtime);
  },

  async get(args) {
    const h = handle(args, "runtime", "runtime");
    const box = await h.obj.get(str(args, "id_or_name"));
    return box ? boxResult(box, args.runtime) : { box: null };
  },

  async get_info(args) {
    const h = handle(args, "runtime", "runtime");
    const info = await h.obj.getInfo(str(args, "id_or_name"));
    return { info: info ? { id: info.id, name: info.name ?? null, status: info.state?.status ?? null } : null };
  },

  async list_info(args) {
    const h = handle(args, "runtime", "runtime");
    const infos = await h.obj.listInfo();
    return { boxes: infos.map((i) => ({ id: i.id, name: i.name ?? null, status: i.state?.status ?? null })) };
  },

  async remove(args) {
    const h = handle(args, "runtime", "runtime");
    await h.obj.remove(str(args, "id_or_name"), Boolean(args.force));
    return {};
  },

  async box_stop(args) {
    await handle(args, "box", "box").obj.stop();
    return {};
  },

  async box_start(args) {
    await handle(args, "box", "box").obj.start();
    return {};
  },

  async exec(args) {
    const box = handle(args, "box", "box").obj;
    const tty = args.tty ?? false;
    if (typeof tty !== "boolean") throw new ProtocolError("'tty' must be a boolean");
    const execution = await box.exec(
      str(args, "command"),
      strList(args, "args"),
      envPairs(args, "env") ?? null,
      tty,
      str(args, "user", { optional: true }) ?? null,
      num(args, "timeout_s") ?? null,
      str(args, "working_dir", { optional: true }) ?? null,
    );
    return { execution: keep("execution", execution), execution_id: await execution.id() };
  },

  // Everything the execution delivers: stdout and stderr read concurrently (reading one to
  // its end first deadlocks once the other fills its buffer), then wait(). The harness bounds
  // the whole call; the driver reports what arrived, chunk count included.
  async drain(args) {
    const ex = handle(args, "execution", "execution").obj;
    const [out, err] = await Promise.all([
      ex.stdout().then(readAll),
      ex.stderr().then(readAll),
    ]);
    const result = await ex.wait();
    return {
      stdout: out.join(""),
      stderr: err.join(""),
      stdout_chunks: out.length,
      exit_code: result.exitCode,
      error_message: result.errorMessage ?? null,
    };
  },

  async stdin_write(args) {
    const ex = handle(args, "execution", "execution").obj;
    await (await ex.stdin()).writeString(str(args, "data"));
    return {};
  },

  async stdin_close(args) {
    const ex = handle(args, "execution", "execution").obj;
    await (await ex.stdin()).close();
    return {};
  },

  async kill(args) {
    await handle(args, "execution", "execution").obj.kill();
    return {};
  },

  // Re-attach to an execution by id (the attach WebSocket a client reconnects with). Only where the binding has it.
  async attach(args) {
    const box = handle(args, "box", "box").obj;
    if (typeof box.attach !== "function") {
      throw new ProtocolError(`${PKG} ${VERSION} has no Box.attach(executionId)`);
    }
    const execution = await box.attach(str(args, "execution_id"));
    return { execution: keep("execution", execution), execution_id: await execution.id() };
  },

  async release(args) {
    for (const id of strList(args, "handles")) handles.delete(id);
    return {};
  },
};

// What this SDK build can do that the protocol exposes; the harness reports cases needing a
// missing capability as not applicable, with this as the reason's source.
const CAPABILITIES = {
  attach: typeof getNativeModule().JsBox?.prototype?.attach === "function", // Box.attach(executionId)
  exec_env: true, // exec(command, args, env, tty, user, timeoutSecs, workingDir)
  box_lifetimes: true, // JsBoxOptions autoStop, autoDelete, autoResume
};

// ------------------------------------------------------------------ loop

function send(doc) {
  process.stdout.write(JSON.stringify(doc) + "\n");
}

function oneLine(text) {
  return String(text).replace(/\s+/g, " ").trim();
}

async function serve(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    log("protocol_error", { reason: "not JSON" });
    send({ id: null, ok: false, protocol_error: `request is not JSON: ${oneLine(e.message)}` });
    return;
  }
  if (req === null || typeof req !== "object" || Array.isArray(req)) {
    send({ id: null, ok: false, protocol_error: "request must be a JSON object" });
    return;
  }
  const id = req.id;
  if (!Number.isInteger(id)) {
    send({ id: null, ok: false, protocol_error: "request 'id' must be an integer" });
    return;
  }
  const op = OPS[req.op];
  if (typeof req.op !== "string" || !Object.hasOwn(OPS, req.op)) {
    log("protocol_error", { id, op: req.op });
    send({ id, ok: false, protocol_error: `unknown op ${JSON.stringify(req.op)}; known: ${Object.keys(OPS).join(", ")}` });
    return;
  }
  const started = Date.now();
  try {
    const result = await op(req);
    log("op", { id, op: req.op, ok: true, ms: Date.now() - started, ...summary(req.op, result) });
    send({ id, ok: true, result });
  } catch (e) {
    if (e instanceof ProtocolError) {
      log("protocol_error", { id, op: req.op, reason: e.message });
      send({ id, ok: false, protocol_error: `${req.op}: ${e.message}` });
      return;
    }
    const error = { message: String(e?.message ?? e), name: e?.name ?? null, code: e?.code ?? null };
    log("op", { id, op: req.op, ok: false, ms: Date.now() - started, error: error.message });
    send({ id, ok: false, error });
  }
}

function summary(op, result) {
  if (op === "create" || op === "get") return { box_id: result.box_id ?? null };
  if (op === "exec") return { execution_id: result.execution_id };
  if (op === "drain") {
    return { exit_code: result.exit_code, stdout_bytes: result.stdout.length, stderr_bytes: result.stderr.length };
  }
  return {};
}

const pending = new Set();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const p = serve(line).finally(() => pending.delete(p));
  pending.add(p);
});
rl.on("close", async () => {
  await Promise.allSettled([...pending]);
  for (const h of handles.values()) if (h.kind === "runtime") h.obj.close();
  log("exit", { reason: "stdin closed" });
  process.exit(0);
});

log("ready", { version: VERSION, pid: process.pid });
send({ event: "ready", sdk: "node", package: PKG, version: VERSION, node: process.version, capabilities: CAPABILITIES });
