// emovox live: the microphone through an AudioWorklet to the /v1/stream WebSocket; segments
// drawn as they arrive, the current emotion large; Stop leaves the finished timeline as an
// upload would. Uses app.js's drawing (same page, no libraries).
"use strict";

let live = null; // {socket, context, source, node, stream, samples, rate, segments, done}

function liveKey() {
  const key = $("key").value || localStorage.getItem("emovox-key");
  return key ? `?api_key=${encodeURIComponent(key)}` : "";
}

async function startLive() {
  const stream = await microphone(window.AudioWorkletNode, "listen");
  if (!stream) return;
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/live-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "emovox-frames");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/stream${liveKey()}`);
  socket.binaryType = "arraybuffer";
  live = { socket, context, source, node, stream, samples: [], rate: context.sampleRate,
           segments: [], done: false, labels: [] };
  socket.onopen = () => {
    socket.send(JSON.stringify({ format: "f32le", sample_rate: context.sampleRate }));
    node.port.onmessage = (e) => {
      live.samples.push(e.data);
      if (socket.readyState === WebSocket.OPEN) socket.send(e.data.buffer);
    };
    source.connect(node);
  };
  socket.onmessage = (e) => onLiveEvent(JSON.parse(e.data));
  socket.onclose = (e) => {
    if (live && !live.done) {
      status(e.code === 4401 ? "This server needs an API key." :
        `The connection dropped (${e.code}${e.reason ? ": " + e.reason : ""}).`, true);
      if (e.code === 4401) { $("keybox").hidden = false; $("keybox").open = true; }
      stopCapture();
      $("live").textContent = "◉ Live";
      live = null;
    }
  };
  $("live").textContent = "■ Stop";
  $("live").classList.add("recording");
  $("live-box").hidden = false;
  $("result").hidden = true;
  status("Listening… press Stop when done.");
}

function onLiveEvent(event) {
  if (event.type === "ready") { live.labels = event.labels; return; }
  if (event.type === "segment") {
    live.segments.push(event.segment);
    const s = event.segment;
    $("live-emotion").textContent = s.emotion || s.reason || "unsure";
    $("live-emotion").dataset.emotion = s.emotion || "";
    $("live-dims").textContent = `arousal ${signed(s.arousal)} · valence ${signed(s.valence)}`;
    $("live-box").dataset.segments = String(live.segments.length);
    drawLive(event.time);
  } else if (event.type === "answer") {
    const a = event.answer;
    $("live-answer").textContent = `so far: ${a.emotion || a.reason || "unsure"}`;
  } else if (event.type === "adapted") {
    $("live-answer").title = `adapted to ${event.detail}`;
  } else if (event.type === "result") {
    live.done = true;
    const blob = wav(live.samples, live.rate);
    live.socket.close();
    live = null;
    $("live-box").hidden = true;
    status("");
    show(event.result, blob);
  }
}

function drawLive(now) { // the last minute, scrolling, in the page's own timeline
  const labels = live.labels.length ? live.labels : Object.keys(live.segments[0].probabilities);
  const result = {
    segments: live.segments, duration: now,
    probabilities: Object.fromEntries(labels.map((k) => [k, 0])),
  };
  current = { result, samples: null, from: Math.max(0, now - 60), to: Math.max(now, 1) };
  $("result").hidden = false;
  $("timeline-box").hidden = false;
  $("overview-box").hidden = true;
  drawLegend(labels, live.segments);
  drawTimeline();
}

function stopCapture() {
  if (!live) return;
  live.stream.getTracks().forEach((t) => t.stop());
  live.source.disconnect();
  live.context.close();
}

function stopLive() {
  stopCapture();
  $("live").textContent = "◉ Live";
  $("live").classList.remove("recording");
  status("Finishing…");
  if (live.socket.readyState === WebSocket.OPEN) live.socket.send(JSON.stringify({ type: "close" }));
}

function wav(parts, rate) { // 16-bit PCM WAV of what was heard, for the player and waveform
  const n = parts.reduce((a, p) => a + p.length, 0), buffer = new ArrayBuffer(44 + 2 * n);
  const v = new DataView(buffer), text = (at, s) => [...s].forEach((c, i) => v.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt ");
  v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, rate, true); v.setUint32(28, 2 * rate, true); v.setUint16(32, 2, true);
  v.setUint16(34, 16, true); text(36, "data"); v.setUint32(40, 2 * n, true);
  let at = 44;
  for (const p of parts) for (const x of p) { v.setInt16(at, Math.max(-1, Math.min(1, x)) * 32767, true); at += 2; }
  return new Blob([buffer], { type: "audio/wav" });
}

$("live").addEventListener("click", () => (live ? stopLive() : startLive()));
