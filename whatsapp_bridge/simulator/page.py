"""The demo chat page (``GET /``): plain HTML, CSS and vanilla JS polling the control API."""

PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WhatsApp simulator — customer</title>
<style>
  :root { --green:#075e54; --light:#dcf8c6; --bg:#ece5dd; --muted:#667781; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background:#d1d7db; }
  .app { max-width:760px; margin:0 auto; height:100vh; display:flex; flex-direction:column; background:var(--bg); }
  header { background:var(--green); color:#fff; padding:10px 14px; display:flex; gap:8px; align-items:center;
    flex-wrap:wrap; }
  header h1 { font-size:16px; margin:0 12px 0 0; font-weight:600; }
  header input, header select { padding:5px 8px; border-radius:6px; border:0; font-size:14px; }
  header button, footer button, label.btn { background:#25d366; color:#fff; border:0; border-radius:6px;
    padding:6px 12px; font-size:14px; cursor:pointer; }
  header small { opacity:.8; }
  #chat { flex:1; overflow-y:auto; padding:14px; display:flex; flex-direction:column; gap:6px; }
  .msg { max-width:78%; padding:6px 9px 4px; border-radius:8px; box-shadow:0 1px .5px rgba(0,0,0,.13);
    white-space:pre-wrap; word-wrap:break-word; }
  .in { align-self:flex-end; background:var(--light); }      /* the customer (you) */
  .out { align-self:flex-start; background:#fff; }            /* the business / attendant */
  .meta { font-size:11px; color:var(--muted); text-align:right; margin-top:2px; }
  .tick-read { color:#34b7f1; }
  .failed { color:#c00; }
  .msg img { max-width:260px; max-height:260px; display:block; border-radius:6px; }
  .buttons { display:flex; flex-direction:column; gap:4px; margin-top:6px; }
  .buttons button { background:#fff; border:1px solid #d0d7db; color:#027eb5; border-radius:6px; padding:6px;
    cursor:pointer; font-size:14px; }
  .buttons button.pressed { background:#e7f7ee; color:#075e54; font-weight:600; }
  .quote { border-left:3px solid #25d366; padding-left:6px; color:var(--muted); font-size:12px; margin-bottom:3px; }
  .system { align-self:center; background:#fff7d6; font-size:12px; }
  footer { display:flex; gap:6px; padding:8px; background:#f0f2f5; align-items:center; }
  footer textarea { flex:1; resize:none; height:40px; border-radius:8px; border:1px solid #ccc; padding:8px;
    font:inherit; }
  label.btn input { display:none; }
  #status { font-size:12px; color:var(--muted); padding:2px 14px; background:#f0f2f5; }
  .empty { color:var(--muted); text-align:center; margin-top:30vh; }
</style>
</head>
<body>
<div class="app">
  <header>
    <h1>WhatsApp simulator</h1>
    <select id="known" title="known customers"><option value="">— customers —</option></select>
    <input id="name" placeholder="Your name" size="12">
    <input id="phone" placeholder="Phone, e.g. 5511987654321" size="20">
    <button id="open">Open chat</button>
    <small id="biz"></small>
  </header>
  <div id="chat"><div class="empty">Enter a name and a phone number, then open the chat.</div></div>
  <div id="status"></div>
  <footer>
    <label class="btn" title="Send an image">🖼️<input id="image" type="file" accept="image/jpeg,image/png"></label>
    <label class="btn" title="Send a voice note (audio/ogg)">🎤<input id="voice" type="file" accept="audio/*"></label>
    <label class="btn" title="Send a document">📄<input id="doc" type="file"></label>
    <textarea id="text" placeholder="Type a message"></textarea>
    <button id="send">Send</button>
  </footer>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let current = null, lastJson = "", replyTo = null;

async function api(path, opts) {
  const r = await fetch("/_sim" + path, Object.assign({headers: {"Content-Type": "application/json"}}, opts || {}));
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}
function setStatus(t) { $("status").textContent = t || ""; }
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; }
function ticks(state) {
  if (state === "read") return el("span", "tick-read", " ✓✓");
  if (state === "delivered") return el("span", "", " ✓✓");
  if (state === "sent") return el("span", "", " ✓");
  if (state === "failed") return el("span", "failed", " ⚠ failed");
  return el("span", "", " 🕓");
}
function time(ts) { return new Date(ts * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}); }
function mediaUrl(obj) { return obj.id ? "/_sim/media/" + encodeURIComponent(obj.id) : obj.link; }

function renderOut(m, box) {
  const c = m.content, t = m.type;
  if (c.context && c.context.message_id)
    box.appendChild(el("div", "quote", "↩ " + (byId[c.context.message_id] || "reply")));
  if (t === "text") box.appendChild(el("div", "", c.text.body));
  else if (t === "image" || t === "sticker") {
    const img = el("img"); img.src = mediaUrl(c[t]); box.appendChild(img);
    if (c[t].caption) box.appendChild(el("div", "", c[t].caption));
  } else if (t === "audio") {
    const a = el("audio"); a.controls = true; a.src = mediaUrl(c.audio); box.appendChild(a);
  } else if (t === "video") {
    const v = el("video"); v.controls = true; v.width = 260; v.src = mediaUrl(c.video); box.appendChild(v);
  } else if (t === "document") {
    const a = el("a", "", "📄 " + (c.document.filename || "document")); a.href = mediaUrl(c.document);
    a.download = c.document.filename || ""; box.appendChild(a);
    if (c.document.caption) box.appendChild(el("div", "", c.document.caption));
  } else if (t === "interactive") {
    const i = c.interactive;
    if (i.header && i.header.text) box.appendChild(el("b", "", i.header.text));
    box.appendChild(el("div", "", i.body ? i.body.text : ""));
    if (i.footer) box.appendChild(el("div", "meta", i.footer.text));
    const bs = el("div", "buttons");
    const items = i.type === "button" ? (i.action.buttons || []).map((b) => [b.reply.id, b.reply.title])
      : (i.action.sections || []).flatMap((s) => (s.rows || []).map((r) => [r.id, r.title]));
    for (const [id, title] of items) {
      const b = el("button", m.pressed === id ? "pressed" : "", title);
      b.onclick = () => press(m.id, id, i.type);
      bs.appendChild(b);
    }
    box.appendChild(bs);
  } else if (t === "reaction") box.appendChild(el("div", "", "reacted " + (c.reaction.emoji || "(removed)")));
  else if (t === "template") {
    const r = m.rendered || {body: "[template " + c.template.name + "]", buttons: []};
    if (r.header) box.appendChild(el("b", "", r.header));
    box.appendChild(el("div", "template-body", r.body));
    if (r.footer) box.appendChild(el("div", "meta", r.footer));
    const bs = el("div", "buttons");
    for (const b of r.buttons || []) {
      const button = el("button", m.pressed === b.payload ? "pressed" : "", b.text);
      button.onclick = () => press(m.id, b.payload, "button");
      bs.appendChild(button);
    }
    if ((r.buttons || []).length) box.appendChild(bs);
  }
  else box.appendChild(el("div", "", "[" + t + "]"));
}
function renderIn(m, box) {
  const c = m.content, t = m.type;
  if (t === "text") box.appendChild(el("div", "", c.text.body));
  else if (["image", "sticker"].includes(t)) {
    const img = el("img"); img.src = "/_sim/media/" + c[t].id; box.appendChild(img);
    if (c[t].caption) box.appendChild(el("div", "", c[t].caption));
  } else if (t === "audio") {
    const a = el("audio"); a.controls = true; a.src = "/_sim/media/" + c.audio.id; box.appendChild(a);
  }
  else if (t === "document" || t === "video") { const a = el("a", "", "📎 " + (c[t].filename || t));
    a.href = "/_sim/media/" + c[t].id; box.appendChild(a); }
  else if (t === "interactive") { const r = c.interactive.button_reply || c.interactive.list_reply;
    box.appendChild(el("div", "", "▶ " + r.title)); }
  else box.appendChild(el("div", "", "[" + t + "]"));
}
let byId = {};
function summary(m) {
  const c = m.content, t = m.type;
  if (t === "text") return c.text.body.slice(0, 60);
  const media = c[t] || {};
  return "[" + t + "] " + (media.caption || media.filename || "");
}
function render(data) {
  const chat = $("chat"), atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
  byId = Object.fromEntries(data.messages.map((m) => [m.id, summary(m)]));
  chat.innerHTML = "";
  if (!data.messages.length) chat.appendChild(el("div", "empty", "No messages yet. Say hello!"));
  for (const m of data.messages) {
    const box = el("div", "msg " + (m.type === "system" ? "system" : m.direction));
    if (m.direction === "out") renderOut(m, box); else renderIn(m, box);
    const meta = el("div", "meta", time(m.timestamp));
    if (m.direction === "out") meta.appendChild(ticks(m.state));
    if (m.errors && m.errors.length)
      meta.appendChild(el("span", "failed", " " + m.errors[0].code + " " + m.errors[0].title));
    box.appendChild(meta);
    chat.appendChild(box);
  }
  if (atBottom) chat.scrollTop = chat.scrollHeight;
}
async function poll() {
  if (!current) return;
  try {
    const data = await api("/customers/" + encodeURIComponent(current) + "/messages?direction=all");
    const json = JSON.stringify(data.messages);
    if (json !== lastJson) { lastJson = json; render(data); }
    const unread = data.messages.some((m) => m.direction === "out" && m.state === "delivered");
    if (document.visibilityState === "visible" && unread)
      await api("/customers/" + encodeURIComponent(current) + "/read", {method: "POST"});
    setStatus(data.customer.window_open ? "24 h window open"
      : "24 h window closed — the business can only send templates");
  } catch (e) { setStatus(e.message); }
}
async function loadCustomers() {
  try {
    const cfg = await api("/config");
    $("biz").textContent = "business +" + cfg.display_phone_number + " → " + (cfg.webhook_url || "no webhook");
    const data = await api("/customers"), sel = $("known");
    sel.length = 1;
    for (const c of data.customers) {
      const o = el("option", "", c.name + " (" + (c.wa_id || c.user_id) + ")");
      o.value = c.key; o.dataset.name = c.name; o.dataset.phone = c.wa_id || ""; sel.appendChild(o);
    }
  } catch (e) { setStatus(e.message); }
}
async function openChat() {
  const phone = $("phone").value.replace(/\D/g, ""), name = $("name").value.trim();
  if (!phone) { setStatus("Enter a phone number (digits with country code)"); return; }
  try {
    const c = await api("/customers", {method: "POST", body: JSON.stringify({wa_id: phone, name: name || undefined})});
    current = c.key; lastJson = ""; localStorage.setItem("sim.customer", JSON.stringify({phone, name}));
    await poll(); loadCustomers();
  } catch (e) { setStatus(e.message); }
}
async function sendSpec(spec) {
  if (!current) { await openChat(); if (!current) return; }
  spec.name = $("name").value.trim() || undefined;
  try {
    await api("/customers/" + encodeURIComponent(current) + "/send", {method: "POST", body: JSON.stringify(spec)});
    await poll();
  } catch (e) { setStatus(e.message); }
}
async function press(messageId, id, kind) {
  try {
    const body = kind === "list" ? {message_id: messageId, row_id: id} : {message_id: messageId, button_id: id};
    await api("/customers/" + encodeURIComponent(current) + "/press", {method: "POST", body: JSON.stringify(body)});
    await poll();
  } catch (e) { setStatus(e.message); }
}
function fileSpec(input, type) {
  input.onchange = () => {
    const f = input.files[0]; if (!f) return;
    const reader = new FileReader();
    reader.onload = () => {
      const data = reader.result.split(",")[1];
      const mime = f.type || (type === "audio" ? "audio/ogg" : "application/octet-stream");
      const spec = {type, data, mime_type: mime, filename: f.name};
      if (type === "audio") spec.voice = true;
      if (type !== "audio" && $("text").value.trim()) { spec.caption = $("text").value.trim(); $("text").value = ""; }
      sendSpec(spec);
      input.value = "";
    };
    reader.readAsDataURL(f);
  };
}
$("open").onclick = openChat;
$("known").onchange = (e) => { const o = e.target.selectedOptions[0]; if (!o.value) return;
  $("name").value = o.dataset.name; $("phone").value = o.dataset.phone; current = o.value; lastJson = ""; poll(); };
$("send").onclick = () => {
  const t = $("text").value.trim(); if (!t) return;
  $("text").value = ""; sendSpec({type: "text", text: t});
};
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("send").click(); }
});
fileSpec($("image"), "image"); fileSpec($("voice"), "audio"); fileSpec($("doc"), "document");
// ?phone=5511987654321&name=Maria opens that chat directly (handy for demo links)
const params = new URLSearchParams(location.search);
const saved = params.get("phone") ? {phone: params.get("phone"), name: params.get("name") || ""}
  : JSON.parse(localStorage.getItem("sim.customer") || "null");
if (saved) { $("name").value = saved.name || ""; $("phone").value = saved.phone || ""; if (saved.phone) openChat(); }
loadCustomers();
setInterval(poll, 1000);
</script>
</body>
</html>
"""
