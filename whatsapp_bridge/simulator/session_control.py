# ruff: noqa: E501  (the demo page below is one HTML string)
"""The demo's WhatsApp Web phone: a page and a control API that play the phone of the fake session driver.

The fake driver (``whatsapp_bridge.session.fake_driver``) runs in the session process and reads its
"phone" from Redis (``<p>wa:fake:<account>``); these routes push to it, so in demo mode an administrator
presses Start session in Odoo, sees the QR code, and "scans" it here.

    GET  /session                       the page: each session, its state, "Scan the QR code shown in Odoo"
    GET  /_sim/session/state            {account: {state, detail, connected_since, phone}}
    POST /_sim/session/pair             {"account"?}: scan (the account waiting for a scan when omitted)
    POST /_sim/session/{action}         {"account"?, ...}: phone_logout | ban | dead | stream_error |
                                        message ({"from", "name"?, "text"}) | receipt ({"id", "status"})
"""

from __future__ import annotations

import json

import redis
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from whatsapp_bridge.keys import Keys

ACTIONS = ("phone_logout", "ban", "dead", "stream_error", "message", "receipt", "history")


def routes(redis_url: str, prefix: str = "") -> list[Route]:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
    keys = Keys(prefix)

    def states() -> dict:
        out = {}
        for account, raw in client.hgetall(keys.session_state).items():
            try:
                out[account.decode()] = json.loads(raw)
            except ValueError:
                continue
        return out

    async def body(request: Request) -> dict:
        try:
            data = await request.json()
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def pick(data: dict, want: str | None) -> str | None:
        if data.get("account"):
            return str(data["account"])
        found = states()
        for account, state in found.items():
            if want is None or state.get("state") == want:
                return account
        return None

    async def state(request: Request):
        return JSONResponse(states())

    async def pair(request: Request):
        data = await body(request)
        account = pick(data, "pairing")
        if not account:
            return JSONResponse({"error": "no WhatsApp Web account is waiting for a scan: press Start session "
                                          "in Odoo first"}, status_code=409)
        client.rpush(keys.fake_phone(account), json.dumps({"action": "scan", **{k: v for k, v in data.items()
                                                                                 if k in ("phone", "contacts", "history")}}))
        return JSONResponse({"ok": True, "account": account})

    async def act(request: Request):
        action = request.path_params["action"]
        if action not in ACTIONS:
            return JSONResponse({"error": f"unknown action {action!r}; one of {', '.join(ACTIONS)}"}, status_code=404)
        data = await body(request)
        account = pick(data, None)
        if not account:
            return JSONResponse({"error": "no WhatsApp Web session"}, status_code=409)
        client.rpush(keys.fake_phone(account), json.dumps(dict(data, action=action)))
        return JSONResponse({"ok": True, "account": account})

    async def page(request: Request):
        return HTMLResponse(PAGE)

    return [
        Route("/session", page, methods=["GET"]),
        Route("/_sim/session/state", state, methods=["GET"]),
        Route("/_sim/session/pair", pair, methods=["POST"]),
        Route("/_sim/session/{action}", act, methods=["POST"]),
    ]


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>WhatsApp Web phone (demo)</title>
<style>body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#111}
.card{border:1px solid #ccc;border-radius:8px;padding:1em;margin:1em 0}.state{font-weight:bold}
button{margin:.2em;padding:.5em .9em;border-radius:6px;border:1px solid #888;background:#f4f4f4;cursor:pointer}
button.scan{background:#25d366;color:#fff;border-color:#1da851;font-size:1.1em}
.note{color:#666;font-size:.9em}</style></head><body>
<h1>WhatsApp Web phone (demo)</h1>
<p class="note">The scripted phone of the demo's fake WhatsApp Web driver. In Odoo open WhatsApp &gt; Configuration &gt;
Accounts, a WhatsApp Web account, press <b>Start session</b>: the QR code appears there. Then press
the green button of that account below: this phone scans it.</p>
<div id="sessions">loading...</div>
<script>
async function post(path, data) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                               body: JSON.stringify(data || {})});
  const j = await r.json(); if (!r.ok) alert(j.error || r.status); refresh();
}
function esc(s) { const d = document.createElement('div'); d.textContent = s == null ? '' : String(s); return d.innerHTML; }
let last = null;
async function refresh() {
  const states = await (await fetch('/_sim/session/state')).json();
  const seen = JSON.stringify(Object.entries(states).map(([a, s]) => [a, s.state, s.detail, s.phone]));
  if (seen === last) return; last = seen;
  const box = document.getElementById('sessions');
  const names = Object.keys(states);
  if (!names.length) { box.innerHTML = '<p>No session yet: press Start session on a WhatsApp Web account in Odoo.</p>'; return; }
  box.innerHTML = names.map(a => { const s = states[a]; const q = JSON.stringify(a);
    return `<div class="card"><div>Account <code>${esc(a)}</code>: <span class="state">${esc(s.state)}</span>
      ${s.phone ? ' &middot; +' + esc(s.phone) : ''}</div><div class="note">${esc(s.detail)}</div>
      ${s.state === 'pairing' ? `<button class="scan" onclick='post("/_sim/session/pair", {account: ${q}})'>Scan the QR code shown in Odoo</button>` : ''}
      ${s.state === 'connected' ? `<button onclick='post("/_sim/session/phone_logout", {account: ${q}})'>Log out from the phone</button>
        <button onclick='post("/_sim/session/ban", {account: ${q}})'>WhatsApp bans the number</button>
        <button onclick='post("/_sim/session/dead", {account: ${q}})'>Connection goes silent</button>
        <form onsubmit='event.preventDefault(); post("/_sim/session/message", {account: ${q}, from: this.from.value, name: this.name.value, text: this.text.value}); this.text.value=""'>
          <input name="from" value="5511987654321" size="14"> <input name="name" value="Maria Silva" size="12">
          <input name="text" placeholder="a customer writes..." size="24"> <button>Send to the business</button></form>` : ''}
    </div>`; }).join('');
}
refresh(); setInterval(refresh, 1500);
</script></body></html>"""
