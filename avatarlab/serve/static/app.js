// The avatarlab page: microphone up, the avatar's frames and audio down, played on the audio clock.
"use strict";

const RATE = 16000;
const JITTER_S = 0.12; // how far ahead of the audio clock the first tick is scheduled
const HEADER = 20; // u8 kind | 3 bytes padding | f64 t | i32 reply | u32 audio bytes

const $ = (id) => document.getElementById(id);
const stats = { frames: 0, audioChunks: 0, drawn: 0, latencies: [], reanchors: 0, state: "idle", closed: null };
window.avatarlab = stats;

let ctx = null;
let recordTo = null; // a MediaStream destination beside the speakers while the page records itself
let ws = null;
let stream = null;
let base = null; // audio-clock time of session time 0
let muted = false;
let imageType = "image/jpeg"; // of the frames, as the server's "ready" says
const pending = []; // decoded frames waiting for their time: {at, bitmap}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function setStatus(text) {
  $("status").textContent = text;
}

function schedule(t) {
  // the audio-clock time of session time t; re-anchored when a tick arrives too late to play in order
  const now = ctx.currentTime;
  if (base === null || base + t < now + 0.01) {
    if (base !== null) stats.reanchors += 1;
    base = now + JITTER_S - t;
  }
  return base + t;
}

async function onFrame(buffer) {
  const view = new DataView(buffer);
  const t = view.getFloat64(4, true);
  const n = view.getUint32(16, true);
  const at = schedule(t);
  const samples = new Int16Array(buffer, HEADER, n / 2);
  const audio = ctx.createBuffer(1, samples.length, RATE);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32767;
  const source = ctx.createBufferSource();
  source.buffer = audio;
  source.connect(ctx.destination);
  if (recordTo) source.connect(recordTo);
  source.start(at);
  stats.audioChunks += 1;
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(buffer, HEADER + n)], { type: imageType }));
  stats.frames += 1;
  pending.push({ at, bitmap });
}

function heardTime() {
  // the audio clock's time of the sound leaving the speakers now (currentTime runs ahead by the output latency)
  const stamp = ctx.getOutputTimestamp ? ctx.getOutputTimestamp() : null;
  if (stamp && stamp.contextTime > 0) {
    return stamp.contextTime + (performance.now() - stamp.performanceTime) / 1000;
  }
  return ctx.currentTime - (ctx.baseLatency || 0) - (ctx.outputLatency || 0);
}

function draw() {
  // the newest frame whose time has come on the audio clock, as heard
  if (ctx) {
    const now = heardTime();
    let due = null;
    while (pending.length && pending[0].at <= now) {
      if (due) due.bitmap.close();
      due = pending.shift();
    }
    if (due) {
      const canvas = $("video");
      canvas.getContext("2d").drawImage(due.bitmap, 0, 0, canvas.width, canvas.height);
      due.bitmap.close();
      stats.drawn += 1;
    }
  }
  requestAnimationFrame(draw);
}

function renderTranscript(items) {
  const list = $("transcript");
  list.textContent = "";
  for (const item of items) {
    const li = document.createElement("li");
    li.className = item.role;
    const who = document.createElement("strong");
    who.textContent = item.role === "user" ? "You: " : "Avatar: ";
    li.appendChild(who);
    if (item.role === "user") {
      li.appendChild(document.createTextNode(item.text));
    } else if (item.cut) {
      li.appendChild(document.createTextNode(item.heard.map((w) => w[0]).join(" ") + " "));
      const mark = document.createElement("span");
      mark.className = "cut";
      mark.textContent = "[cut here] ";
      mark.title = "you interrupted the avatar here";
      li.appendChild(mark);
      const rest = document.createElement("span");
      rest.className = "unheard";
      rest.textContent = item.unheard.map((w) => w[0]).join(" ");
      li.appendChild(rest);
    } else {
      li.appendChild(document.createTextNode(item.content || item.planned || ""));
    }
    list.appendChild(li);
  }
  $("hearing").textContent = "";
}

function onEvent(message) {
  if (message.type === "ready") {
    imageType = message.image;
    setStatus(`Connected to ${message.persona}. Say something.`);
  } else if (message.type === "state") {
    stats.state = message.state;
    const text = { listening: "Listening", hearing: "Hearing you", thinking: "Thinking", speaking: "Speaking" };
    setStatus(text[message.state] || message.state);
  } else if (message.type === "words") {
    $("hearing").textContent += (($("hearing").textContent ? " " : "") + message.text);
  } else if (message.type === "transcript") {
    renderTranscript(message.items);
  } else if (message.type === "latency") {
    stats.latencies.push(message.seconds);
    $("latency").textContent = `${Math.round(message.seconds * 1000)} ms`;
  } else if (message.type === "notice") {
    setStatus(message.message);
  } else if (message.type === "interrupted") {
    setStatus("Interrupted: listening");
  } else if (message.type === "error") {
    showError(`The server refused a message: ${message.message}`);
  }
}

async function start() {
  $("start").disabled = true;
  $("error").hidden = true;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (error) {
    showError("Microphone access was refused. Allow the microphone for this page in the browser's site settings, then reload.");
    $("start").disabled = false;
    return;
  }
  ctx = new AudioContext({ sampleRate: RATE });
  await ctx.audioWorklet.addModule("/static/mic-worklet.js");
  const mic = new AudioWorkletNode(ctx, "mic-chunker");
  ctx.createMediaStreamSource(stream).connect(mic);
  const token = new URLSearchParams(location.search).get("token");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", sample_rate: RATE, channels: 1 }));
  ws.onmessage = (event) => {
    if (typeof event.data === "string") onEvent(JSON.parse(event.data));
    else onFrame(event.data);
  };
  ws.onclose = (event) => {
    stats.closed = event.reason || `code ${event.code}`;
    stop();
    if (event.code !== 1000 || event.reason !== "the page ended the conversation") {
      showError(event.reason ? `The conversation ended: ${event.reason}.` : "The server is gone: the connection closed. Reload to try again.");
    }
  };
  mic.port.onmessage = (event) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(event.data);
  };
  $("mute").disabled = false;
  $("end").disabled = false;
  setStatus("Connecting...");
}

function stop() {
  $("mute").disabled = true;
  $("end").disabled = true;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  setStatus("Conversation ended.");
}

// Record what the page shows and plays (the canvas and the avatar's audio) for `seconds`: a WebM as base64.
// The sync benchmark (avatarlab.bench.sync) reads it.
stats.record = (seconds) =>
  new Promise((resolve, reject) => {
    if (!ctx) return reject(new Error("start the conversation first"));
    recordTo = ctx.createMediaStreamDestination();
    const stream = new MediaStream([...$("video").captureStream().getVideoTracks(), ...recordTo.stream.getAudioTracks()]);
    const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus", videoBitsPerSecond: 400000 });
    const parts = [];
    recorder.ondataavailable = (event) => parts.push(event.data);
    recorder.onstop = async () => {
      recordTo = null;
      const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
      let text = "";
      for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      resolve(btoa(text));
    };
    recorder.start(1000);
    setTimeout(() => recorder.stop(), seconds * 1000);
  });

$("start").onclick = start;
$("mute").onclick = () => {
  muted = !muted;
  ws.send(JSON.stringify({ type: "mute", muted }));
  $("mute").textContent = muted ? "Unmute" : "Mute";
};
$("end").onclick = () => {
  ws.send(JSON.stringify({ type: "end" }));
};
requestAnimationFrame(draw);
