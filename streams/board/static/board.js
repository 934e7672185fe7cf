// The alert board: a snapshot, then changes pushed by the server (server-sent events).
// Filters and the grid tree work on what the page holds; actions are POSTed and come back as
// notices from the worker, like everyone else's.
"use strict";

const TIERS = ["red", "orange", "yellow", "blue"];
const TIER_TEXT = { red: "红色 I", orange: "橙色 II", yellow: "黄色 III", blue: "蓝色 IV" };
const STATUS_TEXT = {
  firing: "firing", escalated: "escalated", acknowledged: "acknowledged", resolved: "resolved",
};
const alerts = new Map();
let config = { zone: "Asia/Shanghai", agencies: {}, login_required: false };
let area = [];  // grid path prefix chosen in the tree
let timeFormat;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function when(iso) {
  return iso ? timeFormat.format(new Date(iso)) : "";
}

function token() {
  return sessionStorage.getItem("riskstream-board-token");
}

async function start() {
  config = await (await fetch("/api/config")).json();
  timeFormat = new Intl.DateTimeFormat("zh-CN", {
    timeZone: config.zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false,
  });
  $("zone").textContent = `times in ${config.zone}`;
  for (const [id, name] of Object.entries(config.agencies)) {
    $("f-agency").append(el("option", { value: id, textContent: `${name} (${id})` }));
  }
  $("login").hidden = !config.login_required;
  $("login").onclick = () => $("signin").showModal();
  $("signin-form").onsubmit = () => {
    sessionStorage.setItem("riskstream-board-token", $("signin-token").value);
    $("login").textContent = "signed in";
  };
  for (const id of ["f-agency", "f-tier", "f-risk", "f-status"]) $(id).onchange = draw;
  listen();
}

function listen() {
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => {
    $("connection").className = "online";
    $("connection").textContent = "live";
  });
  source.addEventListener("error", () => {
    $("connection").className = "offline";
    $("connection").textContent = "reconnecting…";
  });
  source.addEventListener("snapshot", (e) => {
    alerts.clear();
    for (const a of JSON.parse(e.data).alerts) alerts.set(a.alert_id, a);
    draw();
  });
  source.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    alerts.set(a.alert_id, a);
    draw();
  });
  source.addEventListener("gone", (e) => {
    for (const id of JSON.parse(e.data)) alerts.delete(id);
    draw();
  });
}

function shown(a) {
  const agency = $("f-agency").value, tier = $("f-tier").value, risk = $("f-risk").value;
  if ($("f-status").value === "open" && a.status === "resolved") return false;
  if (agency && !a.agencies.includes(agency)) return false;
  if (tier && a.tier !== tier) return false;
  if (risk && a.risk !== risk) return false;
  return area.every((step, i) => a.grid_path[i] === step);
}

function draw() {
  const open = [...alerts.values()].filter((a) => a.status !== "resolved");
  for (const tier of TIERS) {
    document.querySelector(`#counts [data-tier=${tier}] b`).textContent =
      open.filter((a) => a.tier === tier).length;
  }
  const list = [...alerts.values()].filter(shown).sort((a, b) =>
    (a.status === "resolved") - (b.status === "resolved") ||
    TIERS.indexOf(a.tier) - TIERS.indexOf(b.tier) || b.last_seen.localeCompare(a.last_seen));
  $("alerts").replaceChildren(...(list.length ? list.map(card) : [el("p", { class: "empty", textContent: "no alerts" })]));
  drawTree();
}

function drawTree() {
  const root = { children: new Map(), count: 0 };
  for (const a of alerts.values()) {
    if (a.status === "resolved") continue;
    let node = root;
    root.count++;
    for (const step of a.grid_path) {
      if (!node.children.has(step)) node.children.set(step, { children: new Map(), count: 0 });
      node = node.children.get(step);
      node.count++;
    }
  }
  const branch = (node, path) => el("ul", {}, ...[...node.children].map(([name, child]) => {
    const here = [...path, name];
    const chosen = here.length === area.length && here.every((s, i) => s === area[i]);
    const link = el("button", { type: "button", class: chosen ? "chosen" : "", textContent: `${name} (${child.count})` });
    link.onclick = () => { area = chosen ? [] : here; $("f-area").textContent = area.join(" / "); draw(); };
    return el("li", {}, link, child.children.size ? branch(child, here) : null);
  }));
  const all = el("button", { type: "button", class: area.length ? "" : "chosen", textContent: `all places (${root.count})` });
  all.onclick = () => { area = []; $("f-area").textContent = ""; draw(); };
  $("tree").replaceChildren(all, branch(root, []));
}

function card(a) {
  const place = [a.grid_path.join(" / "), a.location.name].filter(Boolean).join(" · ");
  const coords = a.location.lat != null ? ` (${a.location.lat.toFixed(5)}, ${a.location.lon.toFixed(5)})` : "";
  const acted = [];
  if (a.acknowledged_by) {
    acted.push(`acknowledged by ${a.acknowledged_by} at ${when(a.acknowledged_at)}${a.ack_note ? ": " + a.ack_note : ""}`);
  }
  if (a.resolved_by) {
    acted.push(`resolved by ${a.resolved_by} at ${when(a.resolved_at)}${a.resolve_note ? ": " + a.resolve_note : ""}`);
  }
  const agencies = el("ul", { class: "agencies" }, ...a.agencies.map((id) =>
    el("li", {}, el("b", { textContent: config.agencies[id] || id }), ` — ${a.routed_because[id] || ""}`)));
  const buttons = el("div", { class: "buttons" });
  if (a.status !== "resolved") {
    if (a.status !== "acknowledged") buttons.append(button(a, "ack", "acknowledge"));
    buttons.append(button(a, "resolve", "resolve"), button(a, "silence", "silence"));
  }
  return el("article", { class: `alert tier-${a.tier} status-${a.status}`, "data-alert-id": a.alert_id, "data-status": a.status },
    el("div", { class: "head" },
      el("span", { class: `badge tier-${a.tier}`, textContent: TIER_TEXT[a.tier] }),
      el("span", { class: "status", textContent: STATUS_TEXT[a.status] || a.status }),
      el("h3", { textContent: a.title }),
      el("span", { class: "summary", textContent: a.summary })),
    el("p", { class: "where", textContent: place + coords }),
    el("p", { class: "dim", textContent:
      `since ${when(a.first_seen)}, last ${when(a.last_seen)}, ${a.count}× · ${a.risk.replace("_", " ")} · ` +
      `rule ${a.rule_id} v${a.rule_version}${a.escalation ? ` · escalated ${a.escalation}×` : ""}` +
      `${a.withheld_by ? ` · withheld: ${a.withheld_by}` : ""} · ${a.alert_id}` }),
    a.action ? el("p", { class: "todo", textContent: `→ ${a.action}` }) : null,
    acted.length ? el("p", { class: "acted", textContent: acted.join(" · ") }) : null,
    agencies, buttons);
}

function button(a, act, text) {
  const b = el("button", { type: "button", textContent: text, "data-act": act });
  b.onclick = () => ask(a, act);
  return b;
}

function ask(a, act) {
  const form = $("action-form");
  $("act-title").textContent = { ack: "acknowledge", resolve: "resolve", silence: "silence" }[act];
  $("act-alert").textContent = `${TIER_TEXT[a.tier]} ${a.title} · ${a.grid_path.join(" / ")}`;
  $("act-note-label").hidden = act === "silence";
  $("act-duration-label").hidden = act !== "silence";
  $("act-reason-label").hidden = act !== "silence";
  $("act-reason").required = act === "silence";
  $("act-error").textContent = "";
  form.onsubmit = async (e) => {
    if (e.submitter && e.submitter.value === "cancel") return;
    e.preventDefault();
    const by = $("act-by").value.trim();
    const body = act === "silence"
      ? { by, reason: $("act-reason").value, duration: $("act-duration").value, matchers: a.silence_matchers }
      : { by, note: $("act-note").value };
    const url = act === "silence" ? "/api/silences" : `/api/alerts/${a.alert_id}/${act}`;
    const headers = { "Content-Type": "application/json" };
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
    if (response.status === 401) {
      $("act-error").textContent = "sign in first (the board's token)";
      $("signin").showModal();
      return;
    }
    if (!response.ok) {
      $("act-error").textContent = (await response.json()).error;
      return;
    }
    $("act-note").value = "";
    $("action").close();
  };
  $("action").showModal();
}

start();
