// emovox web page: upload or record, POST /v1/predict?stream=true (progress, then the answer),
// draw it. No libraries. Colours come from /palette.json, the timeline pictures' palette.
"use strict";

let COLOURS = {};
const DETAIL_SECONDS = 180; // longer recordings get the overview, as the pictures do
const ZOOM_SECONDS = 120; // the stretch the detail view shows of a long recording
const $ = (id) => document.getElementById(id);
let current = null; // {result, samples, from, to} of what is shown

fetch("/palette.json").then((r) => r.json()).then((p) => { COLOURS = p; }).catch(() => {});
const colour = (label) => COLOURS[label || "unsure"] || "#999999";

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function clock(seconds) {
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

async function send(blob, name) {
  status(`Analysing ${name}…`);
  $("progress").hidden = false;
  $("progress").removeAttribute("value");
  $("result").hidden = true;
  const form = new FormData();
  form.append("file", blob, name);
  const headers = {};
  const key = $("key").value || localStorage.getItem("emovox-key");
  if (key) headers["X-API-Key"] = key;
  try {
    const voices = $("speakers").value;
    const url = `/v1/predict?stream=true${voices === "1" ? "" : `&speakers=${voices}`}`;
    const response = await fetch(url, { method: "POST", body: form, headers });
    await answer(response, blob, name);
  } catch (err) {
    status(`The server did not answer (${err})`, true);
  } finally {
    $("progress").hidden = true;
  }
}

async function answer(response, blob, name) {
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) {
      $("keybox").hidden = false;
      $("keybox").open = true;
      status("This server needs an API key.", true);
    } else {
      status(body.detail || `Error ${response.status}`, true);
    }
    return;
  }
  if ($("key").value) localStorage.setItem("emovox-key", $("key").value);
  const reader = response.body.getReader(), text = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += text.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 1);
      if (line.progress != null) {
        $("progress").value = line.progress;
        status(`Analysing ${name}… ${Math.round(100 * line.progress)}%`);
      } else if (line.error) {
        status(line.error, true);
      } else if (line.result) {
        status("");
        show(line.result, blob);
      }
    }
    if (done) return;
  }
}

async function show(result, blob) {
  $("player").src = URL.createObjectURL(blob);
  $("result").hidden = false;
  // the headline is the overall answer: the top bar when there is one, else why not
  const words = { no_speech: "no speech", too_quiet: "too quiet", silent: "silence" };
  $("top-emotion").textContent = result.emotion || words[result.reason] || result.reason || "";
  $("top-emotion").dataset.emotion = result.emotion || "";
  $("top-emotion").dataset.answer = result.emotion || result.reason || "";  // what was said
  $("top-confidence").textContent = result.emotion ? `${Math.round(100 * result.confidence)}%` : "";
  // why there is no answer, what to know about the input, and what the model adapted to
  // what it could not adapt to is not news for a clip read alone (a recording warns instead)
  const said = result.adapted && !result.adapted.startsWith("not adapted");
  const adapted = said ? `adapted to ${result.adapted}` : "";
  $("reason").textContent = [result.detail, ...(result.warnings || []), adapted]
    .filter(Boolean).join(" · ");
  $("dimensions").textContent = result.arousal === null || result.arousal === undefined ? "" :
    `arousal ${word(result.arousal, "low", "high")} (${signed(result.arousal)}) · ` +
    `valence ${word(result.valence, "negative", "positive")} (${signed(result.valence)})`;
  drawBars(result.probabilities || {});
  const duration = result.duration || 0;
  current = { result, samples: null, from: 0, to: Math.min(duration, ZOOM_SECONDS) };
  if (duration <= DETAIL_SECONDS) current.to = duration;
  const segments = result.segments || [];
  $("timeline-box").hidden = segments.length < 2;
  $("overview-box").hidden = segments.length < 2 || duration <= DETAIL_SECONDS;
  if (segments.length < 2) return;
  drawLegend(Object.keys(result.probabilities), result.segments || []);
  const share = Object.entries(result.summary.share).filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${Math.round(100 * v)}%`).join(", ");
  $("summary").textContent = `Speech ${result.summary.speech_duration.toFixed(1)} s of ` +
    `${result.summary.duration.toFixed(1)} s: ${share}`;
  current.samples = await decode(blob);
  if (duration > DETAIL_SECONDS) drawOverview();
  drawTimeline();
}

function word(v, low, high) { return v > 0.25 ? high : v < -0.25 ? low : "neutral"; }
function signed(v) { return (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(2); }

function drawBars(probabilities) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const [label, p] of Object.entries(probabilities).sort((a, b) => b[1] - a[1])) {
    const row = document.createElement("div");
    row.className = "bar";
    row.dataset.label = label;
    row.innerHTML = `<span>${label}</span><div class="track"><div class="fill"></div></div>` +
      `<span>${(100 * p).toFixed(1)}%</span>`;
    const fill = row.querySelector(".fill");
    fill.style.width = `${100 * p}%`;
    fill.style.background = colour(label);
    bars.append(row);
  }
}

function drawLegend(labels, segments = []) {
  const items = [...labels, "unsure", "no speech"].map((k) =>
    `<span><i style="background:${colour(k)}" class="${k === "unsure" ? "hatch" : ""}"></i>${k}</span>`);
  items.push('<span><i class="dashed"></i>arousal (middle: 0, top: high)</span>');
  for (const who of [...new Set(segments.map((s) => s.speaker).filter(Boolean))].sort()) {
    items.push(`<span><i style="background:${colour(who)}"></i>speaker ${who}</span>`);
  }
  $("legend").innerHTML = items.join("");
}

async function decode(blob) {
  // the waveform, when this browser can decode the format (the server could in any case)
  try {
    const ctx = new (window.OfflineAudioContext || window.webkitOfflineAudioContext)(1, 1, 8000);
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    return { data: audio.getChannelData(0), rate: audio.sampleRate };
  } catch {
    return null;
  }
}

let hatchPattern = null; // made once: the timeline redraws with the playhead
function hatch(g) {
  if (hatchPattern) return hatchPattern;
  const tile = document.createElement("canvas");
  tile.width = tile.height = 8;
  const t = tile.getContext("2d");
  t.fillStyle = colour(null) + "88";
  t.fillRect(0, 0, 8, 8);
  t.strokeStyle = "#8a8a8a";
  t.beginPath(); t.moveTo(0, 8); t.lineTo(8, 0); t.stroke();
  hatchPattern = g.createPattern(tile, "repeat");
  return hatchPattern;
}

function axis(g, from, to, x, y, W) { // time ticks along y, every "nice" step
  const span = to - from, steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => span / s <= 10) || 7200;
  g.fillStyle = "#5b6475";
  g.font = "11px system-ui";
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) {
    g.fillRect(x(t), y, 1, 4);
    g.fillText(span < 30 ? `${t.toFixed(0)} s` : clock(t), Math.min(x(t) + 2, W - 36), y + 14);
  }
}

function drawOverview() { // share of each bin's time per emotion, unsure and no speech
  const canvas = $("overview"), g = canvas.getContext("2d");
  const { result } = current, duration = result.duration, W = canvas.width, H = canvas.height;
  const plotH = H - 22, width = Math.max(60, Math.ceil(duration / 120 / 60) * 60);
  const kinds = [...Object.keys(result.probabilities), "unsure", "no speech"];
  const x = (t) => (t / duration) * W;
  g.clearRect(0, 0, W, H);
  for (let start = 0; start < duration; start += width) {
    const end = Math.min(start + width, duration), held = Object.fromEntries(kinds.map((k) => [k, 0]));
    for (const s of result.segments) {
      const overlap = Math.min(s.end, end) - Math.max(s.start, start);
      if (overlap > 0) held[s.emotion || "unsure"] += overlap;
    }
    held["no speech"] = Math.max(0, end - start - kinds.reduce((a, k) => a + held[k], 0));
    let y = plotH;
    for (const k of kinds) {
      const h = (held[k] / (end - start)) * plotH;
      g.fillStyle = k === "unsure" ? hatch(g) : colour(k);
      g.fillRect(x(start), y - h, Math.max(1, x(end) - x(start)), h);
      y -= h;
    }
  }
  g.strokeStyle = "#000"; // the stretch shown below
  g.lineWidth = 2;
  g.strokeRect(x(current.from), 1, x(current.to) - x(current.from), plotH - 2);
  axis(g, 0, duration, x, plotH, W);
}

function drawTimeline() {
  const canvas = $("timeline"), g = canvas.getContext("2d");
  const { result, samples, from, to } = current;
  const W = canvas.width, H = canvas.height, left = 44, waveH = 90;
  const x = (t) => left + ((t - from) / (to - from)) * (W - left);
  g.clearRect(0, 0, W, H);
  const shown = result.segments.filter((s) => s.end > from && s.start < to);
  for (const s of shown) { // segments as coloured bands behind the waveform
    const a = Math.max(x(s.start), left), b = Math.min(x(s.end), W);
    g.fillStyle = s.emotion ? colour(s.emotion) + "44" : hatch(g);
    g.fillRect(a, 0, b - a, waveH);
    g.fillStyle = "#1d2433";
    g.font = "12px system-ui";
    const name = s.emotion || s.reason || "unsure";
    if (b - a > 7 * name.length) g.fillText(name, a + 3, 13);
    if (s.speaker) { // who speaks: a line along the top in the speaker's colour, and the name
      g.fillStyle = colour(s.speaker);
      g.fillRect(a, 0, b - a, 3);
      if (b - a > 24) { g.font = "bold 11px system-ui"; g.fillText(s.speaker, a + 3, 28); }
    }
  }
  if (samples) { // peak envelope per pixel of the shown stretch
    g.fillStyle = "#3a4256";
    const first = Math.floor(from * samples.rate), last = Math.floor(to * samples.rate);
    const per = Math.max(1, Math.floor((last - first) / (W - left)));
    for (let px = left; px < W; px++) {
      let peak = 0;
      const i0 = first + (px - left) * per;
      for (let i = i0; i < Math.min(i0 + per, samples.data.length); i++) {
        peak = Math.max(peak, Math.abs(samples.data[i]));
      }
      const h = Math.min(1, peak) * (waveH - 20);
      g.fillRect(px, 20 + (waveH - 20) / 2 - h / 2, 1, Math.max(1, h));
    }
  }
  const top = waveH + 10, plotH = H - top - 24; // each emotion's probability per segment
  g.strokeStyle = "#e1e5ee";
  g.lineWidth = 1;
  g.strokeRect(left, top, W - left, plotH);
  g.fillStyle = "#5b6475";
  g.font = "11px system-ui";
  for (const p of [0, 0.5, 1]) g.fillText(p.toFixed(1), left - 24, top + plotH * (1 - p) + 4);
  g.save();
  g.translate(10, top + plotH / 2 + 30);
  g.rotate(-Math.PI / 2);
  g.fillText("probability", 0, 0);
  g.restore();
  for (const label of Object.keys(result.probabilities)) {
    g.strokeStyle = colour(label);
    g.lineWidth = 2;
    for (const s of shown) {
      const y = top + plotH * (1 - s.probabilities[label]);
      g.beginPath();
      g.moveTo(Math.max(x(s.start), left), y);
      g.lineTo(Math.min(x(s.end), W), y);
      g.stroke();
    }
  }
  g.strokeStyle = "#1a1a1a"; // arousal, dashed: the plot's middle is 0, its top high
  g.lineWidth = 1.5;
  g.setLineDash([6, 4]);
  for (const s of shown) {
    if (s.arousal === null || s.arousal === undefined) continue;
    const y = top + plotH * (1 - (s.arousal + 1) / 2);
    g.beginPath();
    g.moveTo(Math.max(x(s.start), left), y);
    g.lineTo(Math.min(x(s.end), W), y);
    g.stroke();
  }
  g.setLineDash([]);
  const t = $("player").currentTime || 0; // playhead
  if (t >= from && t <= to) { g.fillStyle = "#000"; g.fillRect(x(t), 0, 2, H - 24); }
  axis(g, from, to, x, H - 20, W);
  canvas.dataset.segments = String(result.segments.length);
  canvas.dataset.speakers = String(new Set(result.segments.map((s) => s.speaker).filter(Boolean)).size);
  $("stretch").textContent = `${clock(from)}–${clock(to)} of ${clock(result.duration)}`;
}

function zoomTo(centre) {
  const d = current.result.duration, half = ZOOM_SECONDS / 2;
  current.from = Math.max(0, Math.min(centre - half, d - ZOOM_SECONDS));
  current.to = Math.min(d, current.from + ZOOM_SECONDS);
  drawOverview();
  drawTimeline();
}

$("file").addEventListener("change", (e) => {
  const f = e.target.files[0];
  if (f) send(f, f.name);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) send(f, f.name);
});
$("overview").addEventListener("click", (e) => {
  if (!current) return;
  const r = e.target.getBoundingClientRect();
  zoomTo(((e.clientX - r.left) / r.width) * current.result.duration);
});
$("timeline").addEventListener("click", (e) => {
  if (!current) return;
  const r = e.target.getBoundingClientRect(), left = (44 / e.target.width) * r.width;
  const f = Math.max(0, (e.clientX - r.left - left) / (r.width - left));
  $("player").currentTime = current.from + f * (current.to - current.from);
  $("player").play();
});
$("player").addEventListener("timeupdate", () => {
  if (!current || (current.result.segments || []).length < 2) return;
  const t = $("player").currentTime;
  if (current.result.duration > DETAIL_SECONDS && (t < current.from || t > current.to)) zoomTo(t);
  else drawTimeline();
});

async function microphone(possible, what) { // the microphone's stream, or null and why not
  if (!navigator.mediaDevices || !possible) {
    status(`This browser cannot ${what} here (it needs https or localhost).`, true);
    return null;
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    status(`The microphone was refused: ${err.message}`, true);
    return null;
  }
}

let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  const stream = await microphone(window.MediaRecorder, "record");
  if (!stream) return;
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    $("record").textContent = "● Record";
    $("record").classList.remove("recording");
    const type = recorder.mimeType || "audio/webm";
    recorder = null;
    send(new Blob(chunks, { type }), type.includes("ogg") ? "recording.ogg" : "recording.webm");
  };
  recorder.start();
  $("record").textContent = "■ Stop";
  $("record").classList.add("recording");
  status("Recording… press Stop when done.");
});
