// emovox web page: upload or record, POST /v1/predict, draw the answer. No libraries.
"use strict";

const COLOURS = {
  angry: "#d62728", calm: "#17becf", disgust: "#8c564b", fear: "#9467bd", happy: "#ff7f0e",
  neutral: "#7f7f7f", sad: "#1f77b4", surprise: "#e377c2",
};
const $ = (id) => document.getElementById(id);
let current = null; // {result, samples, duration} of what is shown

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function send(blob, name) {
  status(`Analysing ${name}…`);
  $("result").hidden = true;
  const form = new FormData();
  form.append("file", blob, name);
  const headers = {};
  const key = $("key").value || localStorage.getItem("emovox-key");
  if (key) headers["X-API-Key"] = key;
  let response;
  try {
    response = await fetch("/v1/predict", { method: "POST", body: form, headers });
  } catch (err) {
    status(`The server did not answer (${err})`, true);
    return;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    $("keybox").hidden = false;
    $("keybox").open = true;
    status("This server needs an API key.", true);
    return;
  }
  if (!response.ok) {
    status(body.detail || `Error ${response.status}`, true);
    return;
  }
  if ($("key").value) localStorage.setItem("emovox-key", $("key").value);
  status("");
  show(body, blob);
}

async function show(result, blob) {
  const player = $("player");
  player.src = URL.createObjectURL(blob);
  $("result").hidden = false;
  $("top-emotion").textContent = result.emotion || (result.speech ? "unsure" : "no speech");
  $("top-emotion").dataset.emotion = result.emotion || "";
  $("top-confidence").textContent = result.confidence != null ? `${Math.round(100 * result.confidence)}%` : "";
  $("reason").textContent = result.reason || "";
  drawBars(result.probabilities || {});
  current = { result, samples: null, duration: result.duration };
  const segments = result.segments || [];
  $("timeline-box").hidden = segments.length === 0;
  if (segments.length) {
    current.samples = await decode(blob);
    drawTimeline();
    const share = Object.entries(result.summary.share).filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${Math.round(100 * v)}%`).join(", ");
    $("summary").textContent = `Speech ${result.summary.speech_duration.toFixed(1)} s of ` +
      `${result.summary.duration.toFixed(1)} s: ${share}`;
  }
}

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
    fill.style.background = COLOURS[label] || "#2f6fde";
    bars.append(row);
  }
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

function drawTimeline() {
  const canvas = $("timeline");
  const g = canvas.getContext("2d");
  const { result, samples } = current;
  const W = canvas.width, H = canvas.height, duration = result.summary.duration;
  const x = (t) => (t / duration) * W;
  g.clearRect(0, 0, W, H);
  const waveH = 90;
  for (const s of result.segments) { // segments as coloured bands behind the waveform
    g.fillStyle = (COLOURS[s.emotion] || "#999999") + "33";
    g.fillRect(x(s.start), 0, x(s.end) - x(s.start), waveH);
    g.fillStyle = COLOURS[s.emotion] || "#666";
    g.font = "12px system-ui";
    if (x(s.end) - x(s.start) > 40) g.fillText(s.emotion || "unsure", x(s.start) + 3, 13);
  }
  if (samples) { // peak envelope per pixel
    g.fillStyle = "#3a4256";
    const per = Math.max(1, Math.floor(samples.data.length / W));
    for (let px = 0; px < W; px++) {
      let peak = 0;
      for (let i = px * per; i < Math.min((px + 1) * per, samples.data.length); i++) {
        peak = Math.max(peak, Math.abs(samples.data[i]));
      }
      const h = peak * (waveH - 20);
      g.fillRect(px, 20 + (waveH - 20) / 2 - h / 2, 1, Math.max(1, h));
    }
  }
  const top = waveH + 10, plotH = H - top - 20; // each emotion's probability per segment
  g.strokeStyle = "#e1e5ee";
  g.strokeRect(0, top, W, plotH);
  for (const label of Object.keys(result.probabilities)) {
    g.strokeStyle = COLOURS[label] || "#2f6fde";
    g.lineWidth = 2;
    for (const s of result.segments) {
      const y = top + plotH * (1 - s.probabilities[label]);
      g.beginPath();
      g.moveTo(x(s.start), y);
      g.lineTo(x(s.end), y);
      g.stroke();
    }
  }
  const t = $("player").currentTime || 0; // playhead
  g.fillStyle = "#000";
  g.fillRect(x(t), 0, 2, H - 20);
  g.fillStyle = "#5b6475";
  g.fillText("0 s", 2, H - 5);
  g.fillText(`${duration.toFixed(0)} s`, W - 40, H - 5);
  canvas.dataset.segments = String(result.segments.length);
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
$("timeline").addEventListener("click", (e) => {
  if (!current) return;
  const r = e.target.getBoundingClientRect();
  $("player").currentTime = ((e.clientX - r.left) / r.width) * current.result.summary.duration;
  $("player").play();
});
$("player").addEventListener("timeupdate", () => current && current.result.segments && drawTimeline());

let recorder = null;
$("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    status("This browser cannot record here (recording needs https or localhost).", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    status(`No microphone: ${err.message}`, true);
    return;
  }
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
