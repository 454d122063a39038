#!/usr/bin/env python3
"""Opens the dashboard in headless Chromium and checks it against the API.

Usage: dashboard-check.py CHROMIUM BASE_URL SCREENSHOT_PATH

Drives Chromium through the DevTools protocol over a pipe (--remote-debugging-pipe: no port,
no extra Python package). Fails (exit 1) unless:
- every chart rendered: a non-empty SVG with one bar per row of its table;
- every number shown equals the API's JSON (fetched here with urllib): money as the exact
  decimal strings, counts, shares; the top clients are the API's ten largest sales;
- the quarantine link of day1.csv shows that file's quarantined rows (the API's lines);
- no console error, no uncaught exception, no error logged (a blocked request under the
  Content-Security-Policy is one), and no request left the page's origin.
Saves a full-page screenshot to SCREENSHOT_PATH.
"""

import base64
import fcntl
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from decimal import Decimal

TIMEOUT_S = 30


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (messages out)."""

    def __init__(self, chromium, profile):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Out of the way of 3 and 4, so that the child's dup2 cannot clobber one with the other.
        to_r_hi = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
        from_w_hi = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        for fd in (to_r, from_w):
            os.close(fd)

        def child():
            os.dup2(to_r_hi, 3)
            os.dup2(from_w_hi, 4)

        args = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--window-size=1400,1800", "--remote-debugging-pipe", f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, preexec_fn=child, pass_fds=(3, 4),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r_hi)
        os.close(from_w_hi)
        self.out = os.fdopen(to_w, "wb", buffering=0)
        self.inp = os.fdopen(from_r, "rb", buffering=0)
        self.next_id = 0
        self.replies = {}
        self.events = queue.Queue()
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = self.inp.read(65536)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.cond:
                        self.replies[msg["id"]] = msg
                        self.cond.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method, params=None, session=None):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        with self.cond:
            while mid not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(method)
                self.cond.wait(left)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def api(base, route):
    with urllib.request.urlopen(base + route, timeout=10) as r:
        return json.load(r)


COLLECT = """(() => {
  const out = {};
  for (const s of document.querySelectorAll('section')) {
    const svg = s.querySelector('svg');
    out[s.id] = {
      hidden: s.hidden,
      bars: svg ? svg.querySelectorAll('rect').length : 0,
      svgChildren: svg ? svg.childElementCount : 0,
      rows: [...s.querySelectorAll('table tr[data-key]')].map((tr) => ({
        key: tr.dataset.key,
        cells: Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map((td) => [td.dataset.field, td.textContent])),
      })),
    };
  }
  return JSON.stringify({ready: document.body.dataset.ready, status: document.getElementById('status').textContent, sections: out});
})()"""


def main():
    chromium, base, shot = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    errors = []
    profile = tempfile.mkdtemp(prefix="duff-chromium-")
    b = Browser(chromium, profile)
    try:
        target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            b.send(f"{domain}.enable", session=session)
        b.send("Emulation.setDeviceMetricsOverride",
               {"width": 1400, "height": 1800, "deviceScaleFactor": 1, "mobile": False}, session=session)
        b.send("Page.navigate", {"url": base + "/"}, session=session)

        def evaluate(expr):
            r = b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=session)
            return r.get("result", {}).get("value")

        def wait_for(expr, what):
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                v = evaluate(expr)
                if v:
                    return v
                time.sleep(0.1)
            raise TimeoutError(what)

        ready = wait_for("document.body && document.body.dataset.ready !== 'no' && document.body.dataset.ready",
                         "the page to load its data")
        page = json.loads(evaluate(COLLECT))
        if ready != "yes":
            errors.append(f"the page did not render: {page['status']}")
        s = page["sections"]

        def check_table(sid, rows, key, fields):
            got = s.get(sid)
            if got is None:
                errors.append(f"{sid}: no such section")
                return
            if got["svgChildren"] == 0 or got["bars"] == 0:
                errors.append(f"{sid}: empty SVG")
            if got["bars"] != len(rows):
                errors.append(f"{sid}: {got['bars']} bars for {len(rows)} rows")
            shown = [(r["key"], r["cells"]) for r in got["rows"]]
            want = [(str(r[key]), {f: str(r[f]) for f in fields}) for r in rows]
            if [k for k, _ in shown] != [k for k, _ in want]:
                errors.append(f"{sid}: rows {[k for k, _ in shown]} != API {[k for k, _ in want]}")
            for (k, cells), (_, w) in zip(shown, want):
                for f, v in w.items():
                    if cells.get(f) != v:
                        errors.append(f"{sid} {k} {f}: shown {cells.get(f)!r}, API {v!r}")

        check_table("sales-by-product", api(base, "/reports/sales-by-product")["rows"], "product_id",
                    ["product_description", "orders", "units", "sales", "volume_l"])
        check_table("sales-by-channel", api(base, "/reports/sales-by-channel")["rows"], "channel",
                    ["orders", "units", "sales", "volume_l"])
        check_table("order-status", api(base, "/reports/order-status")["rows"], "status", ["orders", "units", "sales"])
        clients = api(base, "/reports/orders-by-client")["rows"]
        top = sorted(clients, key=lambda r: (-Decimal(r["sales"]), r["client_id"]))[:10]
        check_table("top-clients", top, "client_id", ["client_name", "orders", "units", "sales"])
        files = api(base, "/ingestions?limit=100")["ingestions"]
        check_table("ingestions", files, "file_id",
                    ["source", "outcome", "rows_read", "rows_accepted", "rows_quarantined", "quarantined_share"])
        for r, f in zip(s["ingestions"]["rows"], files):
            if r["cells"].get("totals_amount") != f["totals"]["amount"]:
                errors.append(f"ingestions {f['file_id']} amount: shown {r['cells'].get('totals_amount')!r}")

        # One click from day1.csv to its quarantined rows.
        day1 = [f for f in files if f["source"].endswith("day1.csv")]
        if not day1:
            errors.append("no day1.csv among the ingestions")
        else:
            fid = day1[0]["file_id"]
            clicked = evaluate(f"(() => {{ const a = document.querySelector('tr[data-key=\"{fid}\"] a.quarantine-link');"
                               " if (!a) return false; a.click(); return true; })()")
            if not clicked:
                errors.append("day1.csv has no link to its quarantined rows")
            else:
                wait_for("!document.getElementById('quarantine').hidden && "
                         "document.querySelectorAll('#quarantine tr[data-key]').length > 0", "the quarantine rows")
                shown = json.loads(evaluate(COLLECT))["sections"]["quarantine"]["rows"]
                want = api(base, f"/ingestions/{fid}/quarantine?limit=100")["rows"]
                got = [(r["cells"]["line"], r["cells"]["raw"]) for r in shown]
                exp = [(str(r["line"]), r["raw"]) for r in want]
                if got != exp:
                    errors.append(f"quarantine of day1.csv: shown {got}, API {exp}")

        time.sleep(0.2)
        shot_data = b.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        os.makedirs(os.path.dirname(os.path.abspath(shot)), exist_ok=True)
        with open(shot, "wb") as f:
            f.write(base64.b64decode(shot_data["data"]))

        # What happened on the page.
        origin = base
        requests = 0
        for e in b.drain():
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console error: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                errors.append("uncaught exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append("logged error: " + p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                requests += 1
                if not (url.startswith(origin + "/") or url.startswith("data:")):
                    errors.append(f"request outside the origin: {url}")
        if requests < 6:
            errors.append(f"only {requests} requests seen: the page, 5 routes and the quarantine expected")
    finally:
        b.close()

    print(f"dashboard screenshot: {os.path.abspath(shot)}")
    if errors:
        for e in errors:
            print("FAIL:", e, file=sys.stderr)
        return 1
    print("dashboard: every chart rendered, numbers equal the API's, no console error, no external request")
    return 0


if __name__ == "__main__":
    sys.exit(main())
