"""Test chat on the workflow page: type as the caller, press keys, stay silent; see the agent's
replies and what it would do — with htmx, and without JavaScript."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from agent.samples import FRONT_DESK_GREETING
from tests.browser.ui import Server, assert_htmx_hygiene, assert_same_document, mark_page, workflow_id

pytestmark = pytest.mark.browser


def _chat(page: Page, click: str) -> int:
    """Click a chat button; the status of the chat request."""
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/chat")) as posted:
        page.locator("#chat-form").get_by_role("button", name=click, exact=True).click()
    return posted.value.status


def test_chat_with_the_front_desk(page: Page, server: Server) -> None:
    page.goto(f"/workflows/{workflow_id(page, server.url, 'Front desk')}")
    assert_htmx_hygiene(page)
    mark_page(page)
    log = page.locator("#chat-log")

    page.get_by_label("What the caller says").fill("I'd like to talk to sales")
    page.get_by_label("What the caller says").press("Enter")
    expect(log.locator("li")).to_have_count(4)
    expect(log.locator("li").nth(0)).to_contain_text(FRONT_DESK_GREETING)
    expect(log.locator("li").nth(1)).to_contain_text("I'd like to talk to sales")
    expect(log.locator("li").nth(2)).to_contain_text("Connecting you to sales.")
    expect(log.locator("li").nth(3)).to_have_text("Action Transfer to extension 7000")
    expect(page.locator("#chat-ended")).to_have_text("The call has ended.")
    expect(page.get_by_label("What the caller says")).to_have_count(0)

    assert _chat(page, "Start over") == 200
    expect(log.locator("li")).to_have_count(1)
    expect(page.get_by_label("What the caller says")).to_be_focused()
    assert _chat(page, "Press 2") == 200
    expect(log).to_contain_text("Caller pressed 2")
    expect(log.locator(".chat-action")).to_have_text("Action Transfer to extension 7001")

    assert _chat(page, "Start over") == 200
    assert _chat(page, "Stay silent") == 200
    expect(log.locator("li").last).to_contain_text("Are you still there?")
    assert _chat(page, "Stay silent") == 200
    expect(log.locator(".from-agent").last).to_contain_text("Thanks for calling. Goodbye.")
    expect(log.locator(".chat-action")).to_contain_text("Hang up")

    assert _chat(page, "Start over") == 200
    assert _chat(page, "Send") == 422  # nothing typed
    expect(page.locator("#chat-error")).to_have_text("type what the caller says")
    expect(log.locator("li")).to_have_count(1)  # the conversation is kept
    assert_same_document(page)
    assert_htmx_hygiene(page)


def test_chat_without_javascript(nojs_page: Page, server: Server) -> None:
    page = nojs_page
    page.goto(f"/workflows/{workflow_id(page, server.url, 'Front desk')}")
    with page.expect_navigation():
        page.locator("#chat-form").get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#chat-log")).to_contain_text(FRONT_DESK_GREETING)
    page.get_by_label("What the caller says").fill("support please")
    with page.expect_navigation():
        page.locator("#chat-form").get_by_role("button", name="Send").click()
    expect(page.locator("#chat-log .chat-action")).to_have_text("Action Transfer to extension 7001")
    expect(page.locator("#workflow-form h1")).to_have_text("Front desk")  # the whole page came back
