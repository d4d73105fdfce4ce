// anynet playground: the page. The model lives on the server; this file only
// sends settings and commands (JSON) and draws what the event stream sends.
"use strict";

const COLORS = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [214, 39, 40], [148, 103, 189]];
const LRS = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3];
const L2S = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const NUMBERS = ["classes", "points", "noise", "test", "seed", "lr", "batch", "l2"];
const MAX_CURVE = 2000;

const $ = (id) => document.getElementById(id);
const state = {
  info: null, settings: null, sid: null, es: null, meta: null, data: null, frame: null,
  curve: [], retry: null, ready: null, setReady: null,
};
// a click before the session exists waits for it instead of being lost
function expectSession() { state.ready = new Promise((resolve) => { state.setReady = resolve; }); }
expectSession();

// ------------------------------------------------------------------ server
async function api(path, body, method = "POST") {
  const res = await fetch(path, {
    method, headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const out = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(out.error || `HTTP ${res.status}`);
  return out;
}

function banner(text) {
  const b = $("banner");
  b.textContent = text || "";
  b.hidden = !text;
}

function setStatus(text) { $("status").textContent = text; }

async function command(action, body = {}) {
  const sid = state.sid || await state.ready;
  try {
    const out = await api(`/api/sessions/${sid}/${action}`, body);
    banner("");
    return out;
  } catch (err) {
    banner(err.message);
    return null;
  }
}

async function startSession() {
  clearTimeout(state.retry);
  if (state.es) { state.es.close(); state.es = null; }
  if (state.sid) { state.sid = null; expectSession(); }
  setStatus("connecting…");
  let out;
  try {
    out = await api("/api/sessions", state.settings);
  } catch (err) {
    if (/settings/.test(err.message) && JSON.stringify(state.settings) !== JSON.stringify(state.info.defaults)) {
      banner(`${err.message}. Using the default settings instead.`);
      state.settings = { ...state.info.defaults };
      writeControls();
      writeURL();
      return startSession();
    }
    banner(err.message);
    setStatus("no session");
    state.retry = setTimeout(startSession, 3000);
    return;
  }
  state.sid = out.id;
  state.setReady(out.id);
  state.curve = [];
  const es = new EventSource(out.events);
  state.es = es;
  es.addEventListener("meta", (e) => onMeta(JSON.parse(e.data)));
  es.addEventListener("data", (e) => { state.data = JSON.parse(e.data); drawPlane(); });
  es.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  es.onerror = () => {
    // the server ends a session whose stream broke; start a new one with the same settings
    if (es.readyState === EventSource.CLOSED && state.es === es) {
      setStatus("reconnecting…");
      state.retry = setTimeout(startSession, 1000);
    }
  };
}

// ------------------------------------------------------------------ settings <-> controls <-> URL
function fillSelect(id, values, label = (v) => String(v)) {
  const sel = $(id);
  sel.replaceChildren(...values.map((v) => {
    const o = document.createElement("option");
    o.value = String(v);
    o.textContent = label(v);
    return o;
  }));
}

function ensureOption(id, value) {
  const sel = $(id);
  if (![...sel.options].some((o) => o.value === String(value))) {
    const o = document.createElement("option");
    o.value = String(value);
    o.textContent = String(value);
    sel.append(o);
  }
}

function readURL(defaults) {
  const s = { ...defaults };
  const q = new URLSearchParams(location.search);
  for (const [k, v] of q) {
    if (!(k in defaults)) continue;
    if (k === "hidden") s.hidden = v.trim() === "" ? [] : v.split(",").map((x) => Number(x.trim()));
    else if (NUMBERS.includes(k)) s[k] = v.trim() === "" ? v : Number(v);
    else s[k] = v;
  }
  return s;
}

function writeURL() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.settings)) q.set(k, Array.isArray(v) ? v.join(",") : String(v));
  history.replaceState(null, "", `${location.pathname}?${q}`);
}

function pct(f) { return `${Math.round(f * 100)}%`; }

function writeControls() {
  const s = state.settings;
  for (const k of ["dataset", "activation", "optimizer", "backend"]) $(k).value = s[k];
  ensureOption("lr", s.lr);
  ensureOption("l2", s.l2);
  $("lr").value = String(s.lr);
  $("l2").value = String(s.l2);
  for (const k of ["classes", "points", "noise", "test", "seed", "batch"]) $(k).value = s[k];
  $("hidden").value = s.hidden.join(",");
  $("hidden").classList.remove("invalid");
  $("classes-row").hidden = !state.info.multiclass.includes(s.dataset);
  showOutputs();
}

function showOutputs() {
  $("points-out").textContent = $("points").value;
  $("noise-out").textContent = Number($("noise").value).toFixed(2);
  const test = Number($("test").value);
  $("test-out").textContent = `${pct(1 - test)} / ${pct(test)}`;
}

function readControl(id) {
  const el = $(id);
  if (id === "hidden") {
    const text = el.value.trim();
    if (text === "") return [];
    const sizes = text.split(/[\s,]+/).filter(Boolean).map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) return null;
    return sizes;
  }
  return NUMBERS.includes(id) ? Number(el.value) : el.value;
}

async function onControl(id) {
  const value = readControl(id);
  if (value === null) { $(id).classList.add("invalid"); return; }
  $(id).classList.remove("invalid");
  const out = await command("settings", { [id]: value });
  if (out === null) { writeControls(); return; }  // refused: the banner says why
  state.settings = { ...state.settings, [id]: value };
  $("classes-row").hidden = !state.info.multiclass.includes(state.settings.dataset);
  writeURL();
}

// ------------------------------------------------------------------ events
function onMeta(meta) {
  state.meta = meta;
  state.settings = meta.settings;
  writeControls();
  writeURL();
  fillSelect("click-class", [...Array(meta.classes).keys()]);
  $("model-info").textContent =
    `${[2, ...meta.layers, meta.classes].join(" → ")}: ${meta.parameters.toLocaleString()} parameters on ` +
    `${meta.settings.backend} (${meta.device})`;
  buildUnits(meta.layers);
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "–";
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2);
  return v.toFixed(digits);
}

function onFrame(f) {
  const last = state.curve[state.curve.length - 1];
  if (last && f.step < last.step) state.curve = [];
  if (!last || f.step !== last.step) state.curve.push({ step: f.step, train: f.train_loss, test: f.test_loss });
  if (state.curve.length > MAX_CURVE) state.curve = state.curve.filter((_, i) => i % 2 === 0);
  state.frame = f;
  $("step-count").textContent = f.step.toLocaleString();
  $("sps").textContent = f.running && f.sps !== null ? Math.round(f.sps).toLocaleString() : "–";
  $("train-loss").textContent = fmt(f.train_loss);
  $("test-loss").textContent = fmt(f.test_loss);
  $("train-acc").textContent = f.train_acc === null ? "–" : pct(f.train_acc);
  $("test-acc").textContent = f.test_acc === null ? "–" : pct(f.test_acc);
  $("n-train").textContent = f.n_train;
  $("n-test").textContent = f.n_test;
  const diverged = f.train_loss === null;
  setStatus(diverged ? "diverged (loss is not finite): lower the learning rate and reset"
    : `${f.running ? "training" : "paused"} on ${state.settings.backend}`);
  $("play").innerHTML = f.running ? "&#10074;&#10074; Pause" : "&#9654; Play";
  $("play").dataset.running = f.running ? "1" : "";
  drawPlane();
  drawLosses();
  drawUnits();
}

// ------------------------------------------------------------------ drawing
function mix(probs, k, i) {
  // the classes' colours weighted by probability, faded to white where the net is unsure
  let r = 0, g = 0, b = 0, top = 0;
  for (let c = 0; c < k; c++) {
    const p = probs[i * k + c] / 255;
    r += p * COLORS[c][0]; g += p * COLORS[c][1]; b += p * COLORS[c][2];
    top = Math.max(top, p);
  }
  const a = 0.15 + 0.5 * Math.max(0, (top - 1 / k) / (1 - 1 / k));
  return [255 - a * (255 - r), 255 - a * (255 - g), 255 - a * (255 - b)];
}

function gridImage(n, pixel) {
  const off = document.createElement("canvas");
  off.width = n; off.height = n;
  const ctx = off.getContext("2d");
  const img = ctx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const [r, g, b] = pixel(i);
    img.data[4 * i] = r; img.data[4 * i + 1] = g; img.data[4 * i + 2] = b; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function diverging(q) {
  // q in [-127, 127]: orange below zero, white at zero, blue above
  const t = Math.min(1, Math.abs(q) / 127);
  const c = q < 0 ? COLORS[0] : COLORS[1];
  return [255 - t * (255 - c[0]), 255 - t * (255 - c[1]), 255 - t * (255 - c[2])];
}

function toPixel(canvas, x, y) {
  const e = state.data.extent;
  return [(x / e + 1) / 2 * canvas.width, (1 - y / e) / 2 * canvas.height];
}

function drawPoints(ctx, canvas, radius, faint) {
  if (!state.data) return;
  const sets = [[state.data.train, false], [state.data.test, true]];
  for (const [pts, test] of sets) {
    for (const [x, y, c] of pts) {
      const [px, py] = toPixel(canvas, x, y);
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, 2 * Math.PI);
      const col = COLORS[c % COLORS.length];
      ctx.fillStyle = `rgba(${col[0]},${col[1]},${col[2]},${faint ? 0.55 : 1})`;
      ctx.fill();
      ctx.lineWidth = test ? 1.6 : 1;
      ctx.strokeStyle = test ? "#111" : (faint ? "rgba(255,255,255,0.6)" : "#fff");
      ctx.stroke();
    }
  }
}

function drawPlane() {
  const canvas = $("plane");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const f = state.frame;
  if (f && f.grid) {
    const { n, k, p } = f.grid;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(gridImage(n, (i) => mix(p, k, i)), 0, 0, canvas.width, canvas.height);
  }
  if (!state.data) return;
  // axes through the origin and a tick every unit
  const e = state.data.extent;
  ctx.strokeStyle = "rgba(0,0,0,0.12)";
  ctx.lineWidth = 1;
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "rgba(0,0,0,0.45)";
  for (let v = -Math.floor(e); v <= e; v++) {
    const [px] = toPixel(canvas, v, 0);
    const [, py] = toPixel(canvas, 0, v);
    ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, canvas.height); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, py); ctx.lineTo(canvas.width, py); ctx.stroke();
    if (v !== 0 && Math.abs(v) < e - 0.25) { ctx.fillText(String(v), px + 3, canvas.height - 5); ctx.fillText(String(v), 4, py - 3); }
  }
  drawPoints(ctx, canvas, 4, false);
}

function drawLosses() {
  // log-scaled loss: the first fall and the late details (a test loss that turns up) both show
  const canvas = $("losses");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 34;
  ctx.clearRect(0, 0, W, H);
  const pts = state.curve.filter((c) => c.train !== null && c.test !== null);
  if (pts.length < 1) return;
  const vals = pts.flatMap((c) => [c.train, c.test]).filter((v) => v > 0);
  const hi = Math.ceil(Math.log10(Math.max(...vals, 1e-6)));
  const lo = Math.min(hi - 1, Math.floor(Math.log10(Math.max(Math.min(...vals), 1e-6))));
  const s0 = pts[0].step, s1 = Math.max(pts[pts.length - 1].step, s0 + 1);
  const X = (s) => pad + (s - s0) / (s1 - s0) * (W - pad - 8);
  const Y = (v) => 6 + (hi - Math.log10(Math.max(v, 1e-6))) / (hi - lo) * (H - 24);
  ctx.strokeStyle = "#e3e6eb"; ctx.lineWidth = 1;
  ctx.fillStyle = "#6b7280"; ctx.font = "10px system-ui, sans-serif";
  const every = Math.ceil((hi - lo) / 4);
  for (let d = lo; d <= hi; d += every) {
    const v = 10 ** d;
    ctx.beginPath(); ctx.moveTo(pad, Y(v)); ctx.lineTo(W - 8, Y(v)); ctx.stroke();
    ctx.fillText(d >= 0 ? String(v) : (d >= -3 ? v.toFixed(-d) : `1e${d}`), 2, Y(v) + 3);
  }
  ctx.fillText(`step ${s0.toLocaleString()}`, pad, H - 3);
  const end = `step ${s1.toLocaleString()}`;
  ctx.fillText(end, W - 8 - ctx.measureText(end).width, H - 3);
  for (const [key, color, width] of [["train", "#8a94a6", 1.5], ["test", "#111", 2]]) {
    ctx.strokeStyle = color; ctx.lineWidth = width;
    ctx.beginPath();
    pts.forEach((c, i) => (i ? ctx.lineTo(X(c.step), Y(c[key])) : ctx.moveTo(X(c.step), Y(c[key]))));
    ctx.stroke();
  }
}

function buildUnits(layers) {
  const box = $("units");
  box.replaceChildren();
  if (!layers.length) {
    const p = document.createElement("p");
    p.className = "hint";
    p.textContent = "No hidden layer: a linear classifier, the lecture's f(x) = Wx + b.";
    box.append(p);
    return;
  }
  layers.forEach((size, l) => {
    const col = document.createElement("div");
    col.className = "layer";
    const title = document.createElement("div");
    title.className = "layer-title";
    title.textContent = `layer ${l + 1}`;
    col.append(title);
    for (let u = 0; u < size; u++) {
      const tile = document.createElement("div");
      tile.className = "unit";
      tile.id = `unit-${l}-${u}`;
      tile.dataset.layer = l; tile.dataset.unit = u;
      const c = document.createElement("canvas");
      c.width = 16; c.height = 16;
      const bar = document.createElement("div");
      bar.className = "grad";
      bar.append(document.createElement("span"));
      tile.append(c, bar);
      tile.addEventListener("click", () => command("neuron", { layer: l, unit: u }));
      col.append(tile);
    }
    box.append(col);
  });
}

function drawUnits() {
  const f = state.frame;
  const has = f && f.units && state.meta && state.meta.layers.length === f.units.length;
  $("neuron-title").textContent = "Neuron";
  const map = $("neuron-map");
  const mctx = map.getContext("2d");
  mctx.clearRect(0, 0, map.width, map.height);
  if (!has) {
    for (const id of ["neuron-range", "neuron-grad-a", "neuron-grad-z"]) $(id).textContent = "–";
    return;
  }
  const maxGrad = Math.max(1e-12, ...f.units.flatMap((u) => u.grad_a.map((g) => g || 0)));
  f.units.forEach((layer, l) => {
    layer.maps.forEach((q, u) => {
      const tile = $(`unit-${l}-${u}`);
      if (!tile) return;
      const c = tile.querySelector("canvas");
      c.getContext("2d").drawImage(gridImage(16, (i) => diverging(q[i])), 0, 0);
      tile.querySelector(".grad span").style.width = `${Math.round(100 * (layer.grad_a[u] || 0) / maxGrad)}%`;
      tile.title = `layer ${l + 1}, unit ${u + 1}: mean |dl/da| = ${fmt(layer.grad_a[u])}`;
      tile.classList.toggle("chosen", f.neuron.layer === l && f.neuron.unit === u);
    });
  });
  const nv = f.neuron;
  const mctx2 = map.getContext("2d");
  mctx2.imageSmoothingEnabled = true;
  mctx2.drawImage(gridImage(f.grid.n, (i) => diverging(nv.map[i])), 0, 0, map.width, map.height);
  drawPoints(mctx2, map, 2.2, true);
  const layer = f.units[nv.layer];
  $("neuron-title").textContent = `Neuron: layer ${nv.layer + 1}, unit ${nv.unit + 1} (${state.settings.activation})`;
  let lo = 0, hi = 0;
  for (const q of nv.map) { lo = Math.min(lo, q); hi = Math.max(hi, q); }
  $("neuron-range").textContent = `${fmt(lo * nv.scale / 127, 3)} … ${fmt(hi * nv.scale / 127, 3)}`;
  $("neuron-grad-a").textContent = fmt(layer.grad_a[nv.unit]);
  $("neuron-grad-z").textContent = layer.grad_z ? fmt(layer.grad_z[nv.unit]) : "– (maxout)";
}

// ------------------------------------------------------------------ wiring
function onPlaneClick(ev) {
  if (!state.data) return;
  const canvas = $("plane");
  const rect = canvas.getBoundingClientRect();
  const px = (ev.clientX - rect.left) / rect.width, py = (ev.clientY - rect.top) / rect.height;
  const e = state.data.extent;
  const label = ev.shiftKey ? 1 : Number($("click-class").value || 0);
  command("point", { x: (2 * px - 1) * e, y: (1 - 2 * py) * e, label });
}

async function main() {
  // the buttons work from the start: their commands wait for the session
  $("play").addEventListener("click", () => command($("play").dataset.running ? "pause" : "play"));
  $("step").addEventListener("click", () => command("step", { n: 1 }));
  $("reset").addEventListener("click", () => command("reset"));
  $("plane").addEventListener("click", onPlaneClick);
  // a tab in the background stops training: it would keep a CPU core busy for nobody
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && $("play").dataset.running) command("pause");
  });
  try {
    state.info = await api("/api/info", undefined, "GET");
  } catch (err) {
    banner(`The playground server does not answer: ${err.message}`);
    return;
  }
  const info = state.info;
  fillSelect("dataset", info.datasets);
  fillSelect("activation", info.activations);
  fillSelect("optimizer", info.optimizers, (v) => (v === "sgd" ? "sgd (plain)" : v));
  fillSelect("lr", LRS);
  fillSelect("l2", L2S, (v) => (v === 0 ? "none" : String(v)));
  fillSelect("backend", Object.keys(info.backends));
  for (const o of $("backend").options) {
    const why = info.backends[o.value];
    if (why) { o.disabled = true; o.title = why; o.textContent += " (not here)"; }
  }
  state.settings = readURL(info.defaults);
  writeControls();
  for (const id of ["dataset", "classes", "points", "noise", "test", "seed", "hidden", "activation",
    "optimizer", "lr", "batch", "l2", "backend"]) {
    $(id).addEventListener("change", () => onControl(id));
  }
  for (const id of ["points", "noise", "test"]) $(id).addEventListener("input", showOutputs);
  drawPlane();
  startSession();
}

document.addEventListener("DOMContentLoaded", main);
