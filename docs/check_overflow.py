"""Fail when a built documentation page shows content wider than its column.

Usage (after ``sphinx-build -b html docs docs/_build/html``)::

    python docs/check_overflow.py [docs/_build/html] [--chromium PATH]

Every HTML page of the build is loaded in headless Chromium at two window
widths, and a script in the page lists what a reader cannot see:

- at both widths, anything whose right edge passes the main column's without
  a box of its own to scroll it into view (it runs under the sidebar or off
  the page), anything that hides part of its content (``overflow: hidden``),
  and a page that scrolls sideways as a whole;
- at the desktop width (1280 px), also code blocks, tables and formulas that
  only show their end when scrolled sideways: a reader copying a command sees
  it cut, so at that width they must fit (they may scroll at 800 px).

Chromium is driven through its DevTools protocol over a pipe
(``--remote-debugging-pipe``), so the check needs no Python package beyond
the standard library; without a Chromium it fails with a message saying so.
It exits 1 and prints one line per element found, 0 when every page reads.
"""

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

TIMEOUT = 120  #: seconds to wait for any one answer from Chromium
WIDTHS = (1280, 800)  #: the desktop width (strict) and a narrow window
STRICT_WIDTH = 1280

# Run in each page once it has loaded: resolves to a list of findings.
CHECK_PAGE = r"""
async (strict) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;
  const column = document.querySelector("article.bd-article")
    || document.querySelector("main") || document.body;
  const edge = column.getBoundingClientRect().right + 1;
  const scrolls = (el) => /auto|scroll/.test(getComputedStyle(el).overflowX);
  const name = (el) => {
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\s+/).join(".") : "";
    return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + cls;
  };
  const words = (el) => (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 70);
  const found = [];
  const report = (el, what) => {
    if (found.some((f) => f.el.contains(el))) return;  // its outermost box only
    found.push({el, what: `${what}: <${name(el)}> "${words(el)}"`});
  };
  for (const el of column.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    let holder = el.parentElement;
    while (holder && holder !== column && !scrolls(holder)) holder = holder.parentElement;
    if ((!holder || holder === column) && box.right > edge) {
      report(el, `passes the column's right edge by ${Math.round(box.right - edge)} px`);
    }
    const overflowX = getComputedStyle(el).overflowX;
    if (el.scrollWidth > el.clientWidth + 1) {
      const hidden = el.scrollWidth - el.clientWidth;
      if (/hidden|clip/.test(overflowX)) report(el, `hides ${hidden} px of its content`);
      else if (strict && scrolls(el)) report(el, `shows its last ${hidden} px only when scrolled`);
    }
  }
  const page = document.documentElement;
  const lines = found.map((f) => f.what);
  if (page.scrollWidth > window.innerWidth + 1) {
    lines.push(`the page scrolls sideways (${page.scrollWidth} px in ${window.innerWidth} px)`);
  }
  return lines;
}
"""


class Chromium:
    """A headless Chromium spoken to over ``--remote-debugging-pipe``."""

    def __init__(self, executable):
        to_chrome, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome = os.pipe()

        def pipe_fds():  # the protocol's fixed descriptors: 3 to read, 4 to write
            read, write = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", "--no-first-run", "about:blank"],
            close_fds=False,  # our pipe ends are non-inheritable; 3 and 4 are not
            preexec_fn=pipe_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._id = 0
        self.events = []  # events received while waiting for replies

    def _message(self):
        while b"\0" not in self._buffer:
            if not select.select([self._from_chrome], [], [], TIMEOUT)[0]:
                raise TimeoutError(f"Chromium did not answer within {TIMEOUT} s")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, session=None, **params):
        """Send one command and return its result (keeping events in ``events``)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if "method" in reply:
                self.events.append(reply["method"])
            elif reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def wait_for(self, event):
        """Return once ``event`` has arrived (perhaps already), forgetting older events."""
        while event not in self.events:
            message = self._message()
            if "method" in message:
                self.events.append(message["method"])
        self.events.clear()

    def close(self):
        try:
            self.call("Browser.close")
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)
            self.process.wait(timeout=30)


def check_page(browser, session, url, width):
    """The findings on one page at one window width."""
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=1000,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.events.clear()
    browser.call("Page.navigate", session, url=url)
    browser.wait_for("Page.loadEventFired")
    result = browser.call(
        "Runtime.evaluate",
        session,
        expression=f"({CHECK_PAGE})({'true' if width == STRICT_WIDTH else 'false'})",
        awaitPromise=True,
        returnByValue=True,
    )
    if "exceptionDetails" in result:
        raise RuntimeError(f"{url}: {result['exceptionDetails']}")
    return result["result"]["value"]


def find_chromium(given):
    """The browser to run: ``given`` (a name or path), else the first on PATH."""
    candidates = (given,) if given else ("chromium", "chromium-browser", "google-chrome")
    for candidate in candidates:
        if shutil.which(candidate):
            return shutil.which(candidate)
    sys.exit(
        f"check_overflow: no Chromium found (tried {', '.join(candidates)}); "
        "install one or pass --chromium PATH."
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html", nargs="?", default="docs/_build/html", type=Path)
    parser.add_argument("--chromium", help="the browser to run (default: found on PATH)")
    args = parser.parse_args(argv)
    pages = sorted(
        p for p in args.html.resolve().rglob("*.html") if not p.name.startswith("_")
        and "_static" not in p.parts and "_sources" not in p.parts
    )  # fmt: skip
    if not pages:
        sys.exit(f"check_overflow: no HTML pages under {args.html}")
    browser = Chromium(find_chromium(args.chromium))
    failures = 0
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)
        session = session["sessionId"]
        browser.call("Page.enable", session)
        for page in pages:
            for width in WIDTHS:
                for finding in check_page(browser, session, page.as_uri(), width):
                    failures += 1
                    print(f"{page.relative_to(args.html.resolve())} at {width} px: {finding}")
    finally:
        browser.close()
    print(f"check_overflow: {len(pages)} pages at {WIDTHS} px, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
