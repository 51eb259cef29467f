// The console's one page: HTML, CSS and script inline (no CDN, no font, no image: it works offline),
// allowed by a per-response CSP nonce. The script builds every element with textContent, never
// innerHTML: event data and stream names are the store's users' input.

const css = `
:root { color-scheme: light dark; --bg: #f7f7f5; --fg: #1d1d1b; --muted: #6b6b66; --line: #d9d9d4; --accent: #2457c5; --bad: #b3261e; --warn: #8a5a00; --ok: #1e7b34; --card: #fff; }
@media (prefers-color-scheme: dark) { :root { --bg: #161615; --fg: #e8e8e3; --muted: #9a9a93; --line: #33332f; --accent: #7aa2ff; --bad: #ff8a80; --warn: #ffcc66; --ok: #7bd88f; --card: #1f1f1d; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 1.5rem; padding: .7rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--card); flex-wrap: wrap; }
header h1 { font-size: 1.05rem; margin: 0; }
header .store { color: var(--muted); font-family: ui-monospace, monospace; font-size: .85rem; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
nav a.active { font-weight: 600; text-decoration: underline; }
main { padding: 1rem 1.2rem; max-width: 1200px; }
h2 { font-size: 1.05rem; margin: .2rem 0 .8rem; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
pre { margin: .3rem 0; padding: .5rem .7rem; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; overflow: auto; max-height: 24rem; }
form.search { display: flex; gap: .5rem; margin-bottom: .8rem; flex-wrap: wrap; }
input, select, button { font: inherit; padding: .3rem .55rem; border: 1px solid var(--line); border-radius: 4px; background: var(--card); color: var(--fg); }
button { cursor: pointer; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.danger { background: var(--bad); color: #fff; border-color: var(--bad); }
.muted { color: var(--muted); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
.ok { color: var(--ok); }
.pill { display: inline-block; padding: 0 .45rem; border-radius: 999px; border: 1px solid currentColor; font-size: .8rem; }
.event { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; margin-bottom: .6rem; }
.event .head { display: flex; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
.event .type { font-weight: 600; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: .6rem; }
@media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
.confirm { margin-top: .4rem; padding: .5rem .7rem; border: 1px solid var(--warn); border-radius: 4px; background: var(--bg); }
.confirm p { margin: 0 0 .4rem; }
.message { margin: .6rem 0; padding: .5rem .7rem; border-radius: 4px; border: 1px solid var(--line); background: var(--card); }
.cards { display: flex; gap: .8rem; flex-wrap: wrap; margin-bottom: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
.card .value { font-size: 1.3rem; font-weight: 600; }
`

const script = `
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const main = document.querySelector("main");
const el = (tag, props, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};
const link = (hash, text) => el("a", { href: hash }, text);
const api = async (path, params) => {
  const query = new URLSearchParams(params || {});
  const response = await fetch("/api/" + path + (query.size ? "?" + query : ""), { headers: { "x-strata-console-token": token } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
};
const post = async (path, body) => {
  const response = await fetch("/api/" + path, {
    method: "POST",
    headers: { "x-strata-console-token": token, "content-type": "application/json" },
    body: JSON.stringify(body)
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
};
const pretty = (value) => JSON.stringify(value, null, 2);
// A binary event carries contentType and base64 bytes in place of data: say what it is.
const byteCount = (base64) => Math.floor(base64.length * 3 / 4) - (base64.endsWith("==") ? 2 : base64.endsWith("=") ? 1 : 0);
const dataText = (event) => {
  if (event.bytes === undefined) return pretty(event.data);
  const n = byteCount(event.bytes);
  return "<" + n.toLocaleString("en-US") + " byte" + (n === 1 ? "" : "s") + ", " + event.contentType + ">";
};
const when = (iso) => { try { return new Date(iso).toLocaleString(); } catch { return iso; } };
const message = (text, kind) => el("div", { class: "message " + (kind || ""), role: "status" }, text);
const table = (headers, rows) =>
  el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
const stateClass = (state) =>
  state === "failed" ? "bad" : state === "restarting" ? "warn" : state === "live" || state === "catching-up" ? "ok" : "muted";
const eventCard = (event, showStream) =>
  el("div", { class: "event", "data-position": event.position },
    el("div", { class: "head" },
      el("span", { class: "type" }, event.type),
      showStream ? link("#/stream/" + encodeURIComponent(event.stream), event.stream) : null,
      el("span", { class: "muted mono" }, "v" + event.version),
      el("span", { class: "muted mono" }, "@" + event.position),
      el("span", { class: "muted" }, when(event.createdAt)),
      el("span", { class: "muted mono" }, event.id)),
    el("div", { class: "grid" },
      el("div", {}, el("div", { class: "muted" }, "data"), el("pre", { class: "data" }, dataText(event))),
      el("div", {}, el("div", { class: "muted" }, "metadata"), el("pre", { class: "metadata" }, pretty(event.metadata)))));

let stopTail = () => {};
const views = {};

views.overview = async () => {
  const o = await api("overview");
  const stats = o.stats || {};
  const card = (label, value) => el("div", { class: "card" }, el("div", { class: "muted" }, label), el("div", { class: "value" }, value));
  return [
    el("h2", {}, "Overview"),
    el("div", { class: "cards" },
      card("status", el("span", { class: o.status === "up" ? "ok" : o.status === "down" ? "bad" : "warn" }, o.status)),
      card("backend", o.backend),
      card("events", stats.events === undefined ? "?" : stats.events),
      card("streams", stats.streams === undefined ? "?" : stats.streams),
      card("head", stats.head === undefined ? "-" : stats.head),
      card("migrations", o.migrations.status)),
    o.problems.length ? el("ul", { class: "warn" }, o.problems.map((p) => el("li", {}, p))) : el("p", { class: "ok" }, "No problems."),
    stats.error ? message("statistics: " + stats.error, "warn") : null,
    stats.byCategory ? el("div", { class: "grid" },
      el("div", {}, el("h2", {}, "Categories"), table(["category", "events"], stats.byCategory.map((c) =>
        el("tr", {}, el("td", {}, link("#/streams?category=" + encodeURIComponent(c.key), c.key)), el("td", { class: "num" }, c.count))))),
      el("div", {}, el("h2", {}, "Event types"), table(["type", "events"], stats.byType.map((c) =>
        el("tr", {}, el("td", {}, c.key), el("td", { class: "num" }, c.count)))))) : null
  ];
};

views.streams = async (params) => {
  const prefix = params.get("prefix") || "";
  const category = params.get("category") || "";
  const form = el("form", { class: "search", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    const data = new FormData(form);
    for (const key of ["prefix", "category"]) if (data.get(key)) q.set(key, data.get(key));
    location.hash = "#/streams" + (q.size ? "?" + q : "");
  } },
    el("input", { name: "prefix", placeholder: "stream name prefix", value: prefix, "aria-label": "prefix" }),
    el("input", { name: "category", placeholder: "category", value: category, "aria-label": "category" }),
    el("button", { class: "primary", type: "submit" }, "Search"),
    el("button", { type: "button", onclick: () => {
      const name = new FormData(form).get("prefix");
      if (name) location.hash = "#/stream/" + encodeURIComponent(name);
    } }, "Open stream"));
  const q = {};
  if (prefix) q.prefix = prefix;
  if (category) q.category = category;
  const found = await api("streams", q);
  return [
    el("h2", {}, "Streams"), form,
    table(["stream", "category", "last version", "last position", "last event", "written"], found.streams.map((s) =>
      el("tr", {}, el("td", {}, link("#/stream/" + encodeURIComponent(s.stream), s.stream)), el("td", {}, s.category),
        el("td", { class: "num" }, s.lastVersion), el("td", { class: "num" }, s.lastPosition), el("td", {}, s.lastType),
        el("td", {}, when(s.lastAt))))),
    el("p", { class: "muted" }, found.streams.length + " streams, newest first, from the last " + found.scanned +
      " matching events of the log" + (found.complete ? " (all of them)." : " (narrow the search to see older streams)."))
  ];
};

views.stream = async (params, name) => {
  const q = { name };
  if (params.get("from")) q.from = params.get("from");
  const s = await api("stream", q);
  return [
    el("h2", {}, "Stream ", el("span", { class: "mono" }, s.stream)),
    el("p", {}, el("span", { class: "pill " + (s.status === "active" ? "ok" : "warn") }, s.status),
      " last version ", el("span", { class: "mono" }, s.lastVersion === undefined ? "-" : s.lastVersion)),
    s.events.length ? s.events.map((e) => eventCard(e, false)) : el("p", { class: "muted" }, "No events to show."),
    s.next !== undefined ? link("#/stream/" + encodeURIComponent(name) + "?from=" + s.next, "Next events") : null
  ];
};

views.tail = async () => {
  const list = el("div", { id: "tail" });
  const status = el("p", { class: "muted" }, "Connecting...");
  const source = new EventSource("/api/tail?token=" + encodeURIComponent(token));
  let count = 0;
  source.addEventListener("open", () => { status.textContent = "Live: new events appear at the top."; });
  source.addEventListener("event", (e) => {
    const event = JSON.parse(e.data);
    list.prepend(eventCard(event, true));
    if (++count > 200) list.lastChild.remove();
  });
  source.addEventListener("failure", (e) => { status.textContent = "The tail stopped: " + JSON.parse(e.data).error; status.className = "bad"; source.close(); });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) status.textContent = "Disconnected."; };
  stopTail = () => source.close();
  return [el("h2", {}, "$all: live tail"), status, list];
};

views.consumers = async () => {
  const c = await api("consumers");
  return [
    el("h2", {}, "Consumers"),
    c.consumersError ? message("checkpoints: " + c.consumersError, "warn") : null,
    table(["consumer", "state", "position", "lag", "restarts", "parked", "last failure"], c.consumers.map((x) =>
      el("tr", { "data-consumer": x.name }, el("td", { class: "mono" }, x.name), el("td", { class: stateClass(x.state) }, x.state),
        el("td", { class: "num" }, x.position === undefined ? "-" : x.position),
        el("td", { class: "num" }, x.lag === undefined ? "-" : x.lag),
        el("td", { class: "num" }, x.restarts === undefined ? "-" : x.restarts),
        el("td", { class: "num" }, x.parked ? link("#/parked", x.parked) : 0),
        el("td", { class: "bad" }, x.failure || "")))),
    c.consumers.length ? null : el("p", { class: "muted" }, "No consumer runs here and no checkpoint is stored."),
    el("h2", {}, "Leases"),
    c.leases.length ? table(["lease", "holder", "token", "expires"], c.leases.map((l) =>
      el("tr", {}, el("td", { class: "mono" }, l.name), el("td", { class: "mono" }, l.holder), el("td", { class: "num" }, l.token), el("td", {}, when(l.expiresAt)))))
      : el("p", { class: "muted" }, "No lease is held.")
  ];
};

views.parked = async (params) => {
  const asked = params.get("consumer") || "";
  const p = await api("parked", asked ? { consumer: asked } : {});
  const form = el("form", { class: "search", onsubmit: (e) => {
    e.preventDefault();
    const name = new FormData(form).get("consumer");
    location.hash = "#/parked" + (name ? "?consumer=" + encodeURIComponent(name) : "");
  } },
    el("input", { name: "consumer", placeholder: "another consumer's name", value: asked, "aria-label": "consumer" }),
    el("button", { type: "submit" }, "Look up"));
  const out = el("div", {});
  const act = (entry, action, row) => {
    const box = el("div", { class: "confirm" },
      el("p", {}, (action === "replay" ? "Run consumer " : "Discard the event of consumer ") + entry.consumer +
        (action === "replay" ? "'s handler again on " : " at ") + entry.type + " (" + entry.stream + " v" + entry.version + ", position " + entry.position + ")" +
        (action === "replay" ? "?" : " without handling it? This cannot be undone.")),
      el("button", { class: action === "replay" ? "primary" : "danger", "data-confirm": action, onclick: async () => {
        box.replaceChildren(el("p", { class: "muted" }, "Working..."));
        try {
          await post("parked/" + action, { consumer: entry.consumer, position: entry.position });
          box.replaceWith(message(action === "replay" ? "Replayed: the handler handled the event." : "Discarded.", "ok"));
          setTimeout(route, 800);
        } catch (error) {
          box.replaceChildren(el("p", { class: "bad" }, error.message));
        }
      } }, action === "replay" ? "Yes, replay" : "Yes, discard"),
      " ", el("button", { onclick: () => box.remove() }, "Cancel"));
    row.querySelector(".confirm")?.remove();
    row.lastChild.append(box);
  };
  const rows = p.parked.map((entry) => {
    const row = el("tr", { "data-position": entry.position, "data-consumer": entry.consumer });
    row.append(el("td", { class: "mono" }, entry.consumer), el("td", { class: "num" }, entry.position),
      el("td", {}, link("#/stream/" + encodeURIComponent(entry.stream), entry.stream), " v" + entry.version),
      el("td", {}, entry.type), el("td", { class: "bad" }, entry.error), el("td", { class: "num" }, entry.attempts),
      el("td", {}, when(entry.parkedAt)),
      el("td", {},
        el("button", { class: "primary", "data-action": "replay", disabled: entry.replayable ? null : "disabled",
          title: entry.replayable ? "run the handler again" : "the consumer does not run in this process", onclick: () => act(entry, "replay", row) }, "Replay"),
        " ", el("button", { "data-action": "discard", onclick: () => act(entry, "discard", row) }, "Discard")));
    return row;
  });
  out.append(el("h2", {}, "Parked events"), form,
    el("p", { class: "muted" }, "Consumers looked at: " + (p.consumers.join(", ") || "none") +
      ". A consumer that neither runs here nor has a stored checkpoint is found by its name."),
    p.error ? message(p.error, "warn") : "",
    rows.length ? table(["consumer", "position", "stream", "type", "error", "attempts", "parked", ""], rows)
      : el("p", { class: "muted", id: "no-parked" }, "No parked events."));
  return out;
};

views.jobs = async () => {
  const j = await api("jobs");
  if (!j.available) return [el("h2", {}, "Job queues"), el("p", { class: "muted" }, "This store has no job queues in this process.")];
  return [el("h2", {}, "Job queues"), table(["queue", "pending", "due", "running", "dead", "oldest due"], j.queues.map((q) =>
    el("tr", {}, el("td", { class: "mono" }, q.name), el("td", { class: "num" }, q.pending), el("td", { class: "num" }, q.due),
      el("td", { class: "num" }, q.running), el("td", { class: q.dead ? "num bad" : "num" }, q.dead),
      el("td", {}, q.oldestDueAt === undefined ? "-" : when(new Date(q.oldestDueAt).toISOString())))))];
};

const route = async () => {
  stopTail();
  stopTail = () => {};
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#/" + (parts[0] || ""));
  const view = views[name];
  main.replaceChildren(el("p", { class: "muted" }, "Loading..."));
  try {
    const content = view ? await view(params, parts.slice(1).map(decodeURIComponent).join("/")) : [el("p", {}, "No such page.")];
    main.replaceChildren(...[content].flat(Infinity).filter(Boolean));
  } catch (error) {
    main.replaceChildren(message(error.message, "bad"));
  }
};
window.addEventListener("hashchange", route);
route();
`

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** The page, for a nonce and the store's label (already scrubbed of secrets). */
export const html = (nonce: string, storeLabel: string): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Strata console</title>
<style nonce="${nonce}">${css}</style>
</head>
<body>
<header>
<h1>Strata console</h1>
<span class="store">${escape(storeLabel)}</span>
<nav>
<a href="#/">Overview</a><a href="#/streams">Streams</a><a href="#/tail">$all tail</a><a href="#/consumers">Consumers</a><a href="#/parked">Parked</a><a href="#/jobs">Jobs</a>
</nav>
</header>
<main></main>
<script nonce="${nonce}">${script}</script>
</body>
</html>
`
