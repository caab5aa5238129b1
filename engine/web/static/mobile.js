/* The mobile scan pages (templates/mobile/scan.html): a keyboard-wedge scanner types a code and Enter into the
   scan box; each scan fills the next line, the same code again adds to its quantity. Submitting queues one
   operation (offline-queue.js) and sends the queue through POST /api/batch: every request of an operation has
   its own idempotency key made from the operation's client id, so a request whose answer was lost is answered
   from the server's record when it is sent again, and nothing is applied twice. Refusals (the record changed, a
   quantity beyond the order) stay in the list with their reason. */
(function () {
  "use strict";
  const root = document.getElementById("mobile-page");
  if (!root) return;
  const config = JSON.parse(document.getElementById("mobile-config").textContent);
  const T = config.texts;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const queue = window.jxcOfflineQueue;
  const CATALOGUE = "jxc-mobile-items";
  const $ = (id) => document.getElementById(id);
  const scanBox = $("scan");
  const message = $("message");
  const linesBox = $("lines");
  const warehouse = $("warehouse");
  const source = $("source");
  const lines = [];

  class Offline extends Error {}

  function say(text, kind) {
    message.textContent = text;
    message.dataset.kind = kind || "info";
  }

  function isJson(answer) {
    return (answer.headers.get("content-type") || "").includes("json");
  }

  // --- quantities: exact decimals (3 places), never binary floats -----------------------------------------------
  function scaled(text) {
    const match = /^(\d*)(?:\.(\d{0,3}))?$/.exec(String(text).trim());
    if (!match || (!match[1] && !match[2])) return null;
    return BigInt(match[1] || "0") * 1000n + BigInt((match[2] || "").padEnd(3, "0"));
  }
  function plain(value) {
    const whole = value / 1000n;
    const part = (value % 1000n).toString().padStart(3, "0").replace(/0+$/, "");
    return part ? `${whole}.${part}` : `${whole}`;
  }

  // --- scanning -----------------------------------------------------------------------------------------------
  async function refreshCatalogue() {
    try {
      const answer = await fetch("/m/items", { credentials: "same-origin" });
      if (answer.ok && isJson(answer)) localStorage.setItem(CATALOGUE, JSON.stringify((await answer.json()).items));
    } catch (error) { /* offline: the list saved last time stays */ }
  }

  function offlineLookup(code) {
    const items = JSON.parse(localStorage.getItem(CATALOGUE) || "[]");
    const item = items.find((candidate) => candidate.code === code.trim());
    if (!item) throw new Error(`${code}: ${T.offline_unknown}`);
    return { code, item };
  }

  async function lookup(code) {
    let answer;
    try {
      answer = await fetch("/m/scan?code=" + encodeURIComponent(code), { credentials: "same-origin" });
    } catch (error) {
      return offlineLookup(code);
    }
    if (!isJson(answer)) throw new Error(T.login_again);
    const found = await answer.json();
    if (!answer.ok) throw new Error(found.detail || answer.statusText);
    return found;
  }

  function add(found) {
    const step = Number.isInteger(found.quantity) && found.quantity > 0 ? BigInt(found.quantity) * 1000n : 1000n;
    const codeBatch = found.batch || "";
    let line = lines.find((candidate) => candidate.item === found.item.id && candidate.codeBatch === codeBatch);
    if (line) {
      line.qty = plain((scaled(line.qty) ?? 0n) + step);
    } else {
      line = { item: found.item.id, title: found.item.title, tracked: found.item.batch, codeBatch, qty: plain(step),
               batch: found.batch || "", production: found.produced || "", expiry: found.expiry || "" };
      lines.push(line);
    }
    render();
    say(`${T.added}: ${line.title} × ${line.qty}`, "ok");
  }

  async function onScan(code) {
    if (!code.trim()) return;
    try {
      add(await lookup(code));
    } catch (error) {
      say(error.message, "error");
    }
  }

  // --- the lines ------------------------------------------------------------------------------------------------
  function field(line, key, name, type) {
    const label = document.createElement("label");
    label.textContent = config.fields[name] || name;
    const input = document.createElement("input");
    input.type = type;
    input.value = line[key];
    input.dataset.field = key;
    if (type === "text" && key === "qty") input.inputMode = "decimal";
    input.addEventListener("input", () => { line[key] = input.value; });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); scanBox.focus(); }
    });
    label.append(input);
    return label;
  }

  function render() {
    linesBox.replaceChildren(...lines.map((line, index) => {
      const box = document.createElement("div");
      box.className = "line";
      box.dataset.line = String(index);
      const head = document.createElement("div");
      head.className = "line-head";
      const title = document.createElement("span");
      title.textContent = `${index + 1}. ${line.title}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = T.remove;
      remove.addEventListener("click", () => { lines.splice(index, 1); render(); scanBox.focus(); });
      head.append(title, remove);
      const fields = document.createElement("div");
      fields.className = "line-fields";
      fields.append(field(line, "qty", config.qty, "text"));
      if (line.tracked && config.batch) fields.append(field(line, "batch", config.batch, "text"));
      if (line.tracked && config.production) fields.append(field(line, "production", config.production, "date"));
      if (line.tracked && config.expiry) fields.append(field(line, "expiry", config.expiry, "date"));
      box.append(head, fields);
      return box;
    }));
  }

  // --- submitting: one queued operation -------------------------------------------------------------------------
  function clientId() {
    let device = localStorage.getItem("jxc-device");
    if (!device) {
      device = (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`).slice(0, 36);
      localStorage.setItem("jxc-device", device);
    }
    return `m:${device}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 10)}`;
  }

  function plan() {
    const header = {};
    if (config.warehouse) header[config.warehouse] = Number(warehouse.value);
    const rows = lines.map((line) => {
      const row = { [config.item]: line.item, [config.qty]: line.qty.trim() };
      if (config.batch && line.batch) row[config.batch] = line.batch.trim();
      if (config.production && line.production) row[config.production] = line.production;
      if (config.expiry && line.expiry) row[config.expiry] = line.expiry;
      return row;
    });
    const from = source && source.value ? Number(source.value) : null;
    return { target: config.target, table: config.table, item: config.item, source: config.source, from,
             header, rows, submit: config.submit };
  }

  async function submit() {
    if (!lines.length) return say(T.nothing, "error");
    if (config.warehouse && !warehouse.value) { warehouse.focus(); return say(T.choose_warehouse, "error"); }
    const what = [source && source.value ? source.selectedOptions[0].textContent : config.target_label,
                  `${lines.length} ${T.lines}`].join(" · ");
    await queue.add({ id: clientId(), user: config.user, created: new Date().toISOString(), what, plan: plan(),
                      state: "pending" });
    lines.length = 0;
    render();
    say(navigator.onLine ? T.sending : T.queued, "info");
    await showQueue();
    flush();
    scanBox.focus();
  }

  // --- sending the queue ----------------------------------------------------------------------------------------
  async function send(op, name, method, path, body) {
    const key = `${op.id}:${name}`;
    let answer;
    try {
      answer = await fetch("/api/batch", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ operations: [body == null ? { key, method, path } : { key, method, path, body }] }),
      });
    } catch (error) {
      throw new Offline();
    }
    if (answer.status === 401 || answer.status === 403) {  // logged out, or a page older than the session
      say(T.login_again, "error");
      throw new Offline();
    }
    if (answer.status >= 500 || !isJson(answer)) throw new Offline();  // try again later
    const data = await answer.json();
    const result = answer.status === 200 && data.results ? data.results[0] : { status: answer.status, body: data };
    if (result.status >= 500) throw new Offline();
    if (result.status >= 200 && result.status < 300) return result.body;
    op.state = "refused";
    op.problem = describe(result.body);
    await queue.put(op);
    say(`${T.refused}: ${op.problem}`, "error");
    return null;
  }

  function describe(problem) {
    if (!problem) return T.refused;
    const errors = (problem.errors || []).map((error) => (error.field ? `${error.field}: ` : "") + error.message);
    return errors.length ? errors.join("; ") : problem.detail || problem.title || T.refused;
  }

  function positioned(order, rows, p) {
    // the order's open lines come over in order (engine: make_from); each takes the first scanned line of its
    // item, an open line nothing was scanned for is left out (null), scanned lines of other items are new lines
    const spec = config.source_lines;
    const free = [...rows];
    const open = (order[spec.table] || []).filter((line) => !spec.fulfilled || !spec.ordered ||
      (scaled(line[spec.ordered]) ?? 0n) > (scaled(line[spec.fulfilled] || "0") ?? 0n));
    const given = open.map((line) => {
      const index = free.findIndex((row) => row[p.item] === line[spec.item]);
      return index < 0 ? null : free.splice(index, 1)[0];
    });
    return [...given, ...free];
  }

  async function perform(op) {
    const p = op.plan;
    let record;
    if (p.from == null) {
      record = await send(op, "create", "POST", `/api/${p.target}${p.submit ? "?submit=true" : ""}`,
                          { ...p.header, [p.table]: p.rows });
    } else {
      if (!op.make) {  // worked out once and kept: a request sent again must be the very same request
        const order = await send(op, "read", "GET", `/api/${p.source}/${p.from}`, null);
        if (!order) return;
        op.make = { values: { ...p.header, [p.table]: positioned(order, p.rows, p) } };
        await queue.put(op);
      }
      record = await send(op, "make", "POST", `/api/${p.source}/${p.from}/make/${p.target}`, op.make);
      if (record && p.submit) {
        record = await send(op, "submit", "POST", `/api/${p.target}/${record.id}/submit`, { version: record.version });
      }
    }
    if (!record) return;
    await queue.remove(op.id);
    say(`${T.synced}: ${record.doc_no || "#" + record.id}`, "ok");
  }

  let flushing = null;
  function flush() {
    if (!flushing) {
      flushing = (async () => {
        try {
          for (const op of await mine()) {
            if (op.state === "pending") await perform(op);
          }
        } catch (error) {
          if (!(error instanceof Offline)) say(String(error.message || error), "error");
        } finally {
          flushing = null;
          await showQueue();
        }
      })();
    }
    return flushing;
  }

  async function mine() {
    return (await queue.all()).filter((op) => op.user === config.user);
  }

  async function showQueue() {
    const ops = await mine();
    const waiting = ops.filter((op) => op.state === "pending").length;
    const pending = $("pending");
    pending.textContent = `${T.pending} ${waiting}`;
    pending.dataset.count = String(waiting);
    $("queue").replaceChildren(...ops.map((op) => {
      const item = document.createElement("li");
      item.dataset.state = op.state;
      item.dataset.id = op.id;
      item.textContent = op.state === "refused" ? `${op.what} — ${T.refused}: ${op.problem} ` : `${op.what} `;
      if (op.state === "refused") {
        const discard = document.createElement("button");
        discard.type = "button";
        discard.textContent = T.discard;
        discard.addEventListener("click", async () => { await queue.remove(op.id); await showQueue(); });
        item.append(discard);
      }
      return item;
    }));
  }

  function showOnline() {
    const online = $("online");
    online.dataset.online = String(navigator.onLine);
    online.textContent = navigator.onLine ? T.online : T.offline;
  }

  // --- wiring ---------------------------------------------------------------------------------------------------
  scanBox.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const code = scanBox.value;
    scanBox.value = "";
    onScan(code);
  });
  $("submit").addEventListener("click", submit);
  $("clear").addEventListener("click", () => { lines.length = 0; render(); say(""); scanBox.focus(); });
  window.addEventListener("online", () => { showOnline(); refreshCatalogue(); flush(); });
  window.addEventListener("offline", showOnline);
  setInterval(() => { if (navigator.onLine) flush(); }, 15000);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);  // plain HTTP: no offline pages
  }
  window.jxcMobile = { flush, lines };  // for the browser tests and the curious
  showOnline();
  showQueue().then(flush);
  refreshCatalogue();
  scanBox.focus();
})();
