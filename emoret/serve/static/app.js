// The emoret search page: every text from the index goes into the page as text (textContent,
// attributes set one by one), never as HTML, so a caption or a file name cannot add markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { q: "", top: "10", per_video: "1", emotion: "", emotion_weight: "0" };
const DEFAULTS = { ...state };
let health = { emotions: [], video_emotions: false, emotion_threshold: 0.3 };
let searchNumber = 0;
let inFlight = null;
let moment = null;

function readUrl() {
  const params = new URLSearchParams(location.search);
  for (const key of Object.keys(DEFAULTS)) state[key] = params.get(key) ?? DEFAULTS[key];
  $("q").value = state.q;
  for (const key of ["top", "per_video", "emotion_weight"]) $(key).value = state[key];
  $("weight-shown").value = state.emotion_weight;
  showChips();
}

function writeUrl(push) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) if (value && value !== DEFAULTS[key]) params.set(key, value);
  const url = params.toString() ? `?${params}` : location.pathname;
  if (url !== location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function search() {
  const number = ++searchNumber;
  if (inFlight) inFlight.abort();
  if (!state.q.trim()) { render([], ""); say(""); return; }
  inFlight = new AbortController();
  const params = new URLSearchParams({ q: state.q, top: state.top, per_video: state.per_video });
  if (state.emotion) params.set("emotion", state.emotion);
  if (Number(state.emotion_weight) > 0) params.set("emotion_weight", state.emotion_weight);
  const began = performance.now();
  let response, text;
  try {
    response = await fetch(`api/search?${params}`, { signal: inFlight.signal, credentials: "same-origin" });
    text = await response.text();
  } catch (err) {
    if (err.name !== "AbortError") say(`cannot reach the server: ${err.message}`, true);
    return;
  }
  if (number !== searchNumber) return;
  if (!response.ok) {
    let reason = text;
    try { reason = JSON.parse(text).error; } catch (_) { /* plain text */ }
    say(reason, true);
    return;
  }
  const hits = text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
  render(hits, response.headers.get("emoret-query-emotions") || "");
  const took = Math.round(performance.now() - began);
  const read = response.headers.get("emoret-query-emotions");
  say(`${hits.length} hit${hits.length === 1 ? "" : "s"} · ${took} ms · query emotions: ${read ? read.split(",").join(", ") : "none"}`);
}

function videoKey(hit) { return String(hit.path || hit.video || hit.video_id || hit.source || ""); }
function videoName(hit) { return String(hit.video || hit.video_id || hit.path || ""); }

function render(hits) {
  const results = $("results");
  results.replaceChildren();
  document.body.dataset.hits = String(hits.length);
  if (state.per_video === "1") {
    for (const hit of hits) results.append(card(hit));
    return;
  }
  const groups = new Map();
  for (const hit of hits) {
    if (!groups.has(videoKey(hit))) groups.set(videoKey(hit), []);
    groups.get(videoKey(hit)).push(hit);
  }
  for (const group of groups.values()) {
    const section = element("section", "group");
    const title = element("h2", "", videoName(group[0]));
    const cards = element("div", "cards");
    for (const hit of group) cards.append(card(hit));
    section.append(title, cards);
    results.append(section);
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function isTime(value) { return typeof value === "number" && Number.isFinite(value); }

function clock(seconds) {
  const whole = Math.floor(seconds);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const tenths = Math.floor((seconds - whole) * 10);
  const mm = h ? `${h}:${String(m).padStart(2, "0")}` : String(m);
  return `${mm}:${String(s).padStart(2, "0")}${tenths ? `.${tenths}` : ""}`;
}

function card(hit) {
  const node = element("article", "card");
  node.tabIndex = 0;
  node.dataset.rank = String(hit.rank);
  node.dataset.videoId = String(hit.video_id ?? "");
  const start = isTime(hit.start) ? hit.start : 0;
  const end = isTime(hit.end) ? hit.end : null;
  node.dataset.start = String(start);
  const picture = element("img");
  picture.alt = "";
  picture.loading = "lazy";
  if (hit.path) {
    const at = end !== null ? (start + end) / 2 : start;
    picture.src = `media/thumbnail?${new URLSearchParams({ path: hit.path, at: at.toFixed(2) })}`;
  }
  const body = element("div", "body");
  body.append(element("div", "name", videoName(hit)));
  const facts = [`#${hit.rank}`, `score ${Number(hit.score).toFixed(3)}`];
  if (isTime(hit.start) && end !== null) facts.push(`${clock(start)}–${clock(end)}`);
  body.append(element("div", "facts", facts.join(" · ")));
  body.append(emotionChips(hit.video_emotions, node));
  node.append(picture, body);
  node.addEventListener("click", () => play(hit, node));
  node.addEventListener("keydown", (event) => { if (event.key === "Enter") play(hit, node); });
  return node;
}

function emotionChips(emotions, node) {
  const chips = element("div", "emotions");
  if (!emotions || typeof emotions !== "object") return chips;
  const scored = Object.entries(emotions).filter(([, v]) => typeof v === "number").sort((a, b) => b[1] - a[1]);
  const strong = scored.filter(([, v]) => v >= health.emotion_threshold).map(([k]) => k);
  node.dataset.emotions = strong.join(" ");
  // The three strongest, leaving out the traces (a score of 0.02 says nothing to a person).
  for (const [name, value] of scored.filter(([, v]) => v >= 0.05).slice(0, 3)) {
    chips.append(element("span", strong.includes(name) ? "strong" : "", `${name} ${value.toFixed(2)}`));
  }
  return chips;
}

function play(hit, node) {
  if (!hit.path) return;
  const player = $("player");
  const start = isTime(hit.start) ? hit.start : 0;
  moment = { start, end: isTime(hit.end) ? hit.end : null };
  const source = `media/video?${new URLSearchParams({ path: hit.path })}`;
  $("player-panel").hidden = false;
  document.querySelector("main").classList.add("playing");
  $("now-playing").textContent = `${videoName(hit)} — ${clock(start)}${moment.end !== null ? `–${clock(moment.end)}` : ""}`;
  for (const other of document.querySelectorAll(".card.playing")) other.classList.remove("playing");
  node.classList.add("playing");
  const begin = () => { player.currentTime = start; player.play().catch(() => {}); };
  if (player.dataset.source === source && player.readyState >= 1) { begin(); return; }
  player.dataset.source = source;
  player.src = `${source}#t=${start}`;
  player.addEventListener("loadedmetadata", begin, { once: true });
  player.load();
}

function stopAtMomentEnd() {
  const player = $("player");
  if (moment && moment.end !== null && player.currentTime >= moment.end) {
    player.pause();
    moment = { ...moment, end: null };
  }
}

function showChips() {
  const chips = $("chips");
  chips.hidden = !health.video_emotions;
  $("weight-control").hidden = !health.video_emotions;
  chips.replaceChildren();
  for (const name of health.emotions) {
    const button = element("button", "", name);
    button.type = "button";
    button.dataset.emotion = name;
    button.setAttribute("aria-pressed", String(state.emotion === name));
    button.addEventListener("click", () => {
      state.emotion = state.emotion === name ? "" : name;
      showChips();
      writeUrl(true);
      search();
    });
    chips.append(button);
  }
}

let typing = null;
function onInput() {
  clearTimeout(typing);
  typing = setTimeout(() => { state.q = $("q").value; writeUrl(false); search(); }, 200);
}

async function start() {
  try {
    const response = await fetch("api/health", { credentials: "same-origin" });
    if (response.ok) health = await response.json();
  } catch (_) { /* the search will say what is wrong */ }
  readUrl();
  $("q").addEventListener("input", onInput);
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(typing);
    state.q = $("q").value;
    writeUrl(true);
    search();
  });
  for (const key of ["top", "per_video", "emotion_weight"]) {
    $(key).addEventListener("change", () => { state[key] = $(key).value; writeUrl(true); search(); });
  }
  $("emotion_weight").addEventListener("input", () => { $("weight-shown").value = $("emotion_weight").value; });
  $("player").addEventListener("timeupdate", stopAtMomentEnd);
  window.addEventListener("popstate", () => { readUrl(); search(); });
  document.body.dataset.ready = "true";
  search();
}

start();
