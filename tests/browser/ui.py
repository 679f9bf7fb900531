"""Helpers shared by the browser tests: seeding data through the HTML routes, and page checks."""
from __future__ import annotations

import html
import itertools
import os
import re
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import APIResponse, Page

from data.secretbox import SecretBox

SECRET_KEY = "browser-tests-secret-key"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
_unique = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 1000}x{next(_unique)}"


@dataclass
class Server:
    url: str
    db: Path
    log: Path
    process: subprocess.Popen[bytes]
    states: dict[str, Any] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def post_form(page: Page, base: str, path: str, form: dict[str, str]) -> APIResponse:
    """POST a form as the page's browser would (session cookie; Origin for the CSRF check)."""
    return page.request.post(base + path, form=form, headers={"Origin": base}, max_redirects=0)


def create_config(page: Page, base: str, **overrides: str) -> int:
    """A configuration, disabled unless told otherwise (so the server does not dial out to Asterisk)."""
    form = {
        "name": "Office PBX", "ari_endpoint_url": "http://pbx.example.com:8088", "stasis_app_name": "dograh",
        "app_password": "s3cret-Pass", "websocket_client_name": "dograh", "enabled": "off", **overrides,
    }
    response = post_form(page, base, "/telephony-configurations", form)
    assert response.status == 303, response.text()
    return int(response.headers["location"].rstrip("/").rsplit("/", 1)[1])


def create_workflow(page: Page, base: str, name: str, greeting: str = "Hello, you reached us.") -> int:
    response = post_form(page, base, "/workflows", {"name": name, "greeting": greeting, "definition": "{}"})
    assert response.status == 303, response.text()
    match = re.search(r"/workflows/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def add_number(page: Page, base: str, config_id: int, address: str, workflow_id: int | None = None,
               label: str = "") -> None:
    form = {"address": address, "label": label, "inbound_workflow_id": str(workflow_id or "")}
    response = post_form(page, base, f"/telephony-configurations/{config_id}/phone-numbers", form)
    assert response.status == 303, response.text()


def workflow_id(page: Page, base: str, name: str) -> int:
    body = page.request.get(base + "/workflows").text()
    match = re.search(r'href="/workflows/(\d+)">' + re.escape(html.escape(name)) + "<", body)
    assert match, f"no workflow named {name!r} on /workflows"
    return int(match.group(1))


def mark_page(page: Page) -> None:
    """Set a flag on the window: it survives htmx swaps and disappears on a full page load."""
    page.evaluate("window.__sameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"


def stored_password(db: Any, config_id: int) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (token,) = conn.execute(
            "SELECT app_password_enc FROM telephony_configurations WHERE id = ?", (config_id,)
        ).fetchone()
    return SecretBox(SECRET_KEY.encode()).decrypt(token)


def assert_secret_absent(page: Page, base: str, secret: str, paths: list[str]) -> None:
    """Neither the live DOM nor the raw HTML of these pages holds the secret, in any escaping."""
    forms = {secret, html.escape(secret), html.escape(secret, quote=False)}
    dom = page.content()
    for form in forms:
        assert form not in dom
    for path in paths:
        body = page.request.get(base + path).text()
        for form in forms:
            assert form not in body, f"{secret!r} appears in {path}"


_HYGIENE_JS = """() => {
  const problems = [];
  for (const form of document.querySelectorAll('form')) {
    const method = (form.getAttribute('method') || '').toLowerCase();
    if (!form.getAttribute('action') || !['post', 'get'].includes(method))
      problems.push('form without action/method: ' + form.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('[hx-target]')) {
    const target = el.getAttribute('hx-target');
    if (target === 'this') continue;
    if (!/^#[\\w-]+$/.test(target) || !document.querySelector(target))
      problems.push('hx-target is not an id on the page: ' + target);
  }
  for (const el of document.querySelectorAll('[hx-get]')) {
    const polling = (el.getAttribute('hx-trigger') || '').startsWith('every ');
    if (!polling && !(el.tagName === 'A' && el.getAttribute('href')))
      problems.push('hx-get without an href beside it: ' + el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('[hx-post],[hx-delete],[hx-put]')) {
    if (el.tagName !== 'FORM') problems.push('unsafe htmx request outside a form: ' + el.outerHTML.slice(0, 120));
  }
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
  if (dupes.length) problems.push('duplicate ids: ' + dupes.join(', '));
  for (const label of document.querySelectorAll('label[for]')) {
    if (!document.getElementById(label.htmlFor)) problems.push('label for a missing id: ' + label.htmlFor);
  }
  return problems;
}"""


def assert_htmx_hygiene(page: Page) -> None:
    """Real action/method on every form, an href beside every hx-get, swap targets that are ids."""
    assert page.evaluate(_HYGIENE_JS) == []


def assert_fits_width(page: Page) -> None:
    """Nothing makes the page scroll sideways (wide blocks scroll inside themselves)."""
    overflow = page.evaluate("""() => {
      const width = document.documentElement.clientWidth;
      return [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > width + 1 && !e.closest('pre, .table-wrap'))
        .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)
        .slice(0, 5);
    }""")
    assert overflow == [], overflow
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
