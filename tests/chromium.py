"""Headless Chromium for the HTML tests: a page is loaded with a probe script
injected first; the probe records script errors, failed resources and
console.error calls, and once the page has loaded writes what it measured
into the DOM that --dump-dom prints."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed "
    "(Debian package chromium; scripts/install-system-deps.sh installs it)")

_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push(e.message || ('resource failed: ' + String(e.target && e.target.src).slice(0, 40)));
}, true);
var __ce = console.error;
console.error = function () { window.__errors.push(Array.from(arguments).join(' ')); __ce.apply(console, arguments); };
window.addEventListener('load', function () {
  var found = (MEASURE)();
  found.errors = window.__errors;
  var pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
});
</script>"""


def render(html_path: Path, tmp_path: Path, measure: str) -> tuple:
    """Load a copy of `html_path` (same directory, so relative links hold)
    with the probe; `measure` is a JS function returning an object. Returns
    (that object plus `errors`, the console lines Chromium logged)."""
    probed = html_path.with_name(f"probed-{html_path.name}")
    probed.write_text(html_path.read_text().replace(
        "<head>", "<head>" + _PROBE.replace("(MEASURE)", f"({measure})"), 1))
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
             "--v=0", f"--user-data-dir={tmp_path / 'chromium-profile'}",
             "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
            capture_output=True, text=True, timeout=120)
    finally:
        probed.unlink()
    m = re.search(r'<pre id="probe">([^<]*)</pre>', proc.stdout)
    assert m, f"probe did not run; chromium exit {proc.returncode}: {proc.stderr[-500:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return json.loads(text.replace("&amp;", "&")), console
