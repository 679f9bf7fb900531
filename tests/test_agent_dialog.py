"""The script engine and the test chat on typed text (no audio), and the text helpers they use."""
from __future__ import annotations

from typing import Any

from agent.chat import ChatReply, TestChat
from agent.definition import validate_definition
from agent.samples import FRONT_DESK_GREETING, front_desk
from agent.text import SentenceBuffer, render, split_sentences, words


def valid(raw: dict[str, Any]) -> dict[str, Any]:
    definition, errors = validate_definition(raw)
    assert errors == {} and definition is not None
    return definition


FRONT_DESK = valid(front_desk())


async def chat_reply(method: str, arg: str | None = None, definition: dict[str, Any] = FRONT_DESK) -> dict[str, Any]:
    chat = TestChat(definition)
    await chat.start()
    reply: ChatReply = await (getattr(chat, method)(arg) if arg is not None else getattr(chat, method)())
    return reply.as_dict()


async def test_chat_greets_with_the_front_desk_greeting() -> None:
    reply = await TestChat(FRONT_DESK).start()
    assert reply.says == [FRONT_DESK_GREETING] and reply.actions == [] and not reply.ended


async def test_sales_words_and_key_1_transfer_to_7000() -> None:
    for text in ("Transfer me to sales.", "I'd like to BUY something", "what's your pricing?"):
        reply = await chat_reply("send", text)
        assert reply["actions"] == [{"action": "transfer", "extension": "7000"}], text
        assert reply["ended"]
    assert (await chat_reply("press", "1"))["actions"] == [{"action": "transfer", "extension": "7000"}]


async def test_support_words_and_key_2_transfer_to_7001() -> None:
    for text in ("Support, please", "I need help", "There's a problem with my order"):
        assert (await chat_reply("send", text))["actions"] == [{"action": "transfer", "extension": "7001"}], text
    assert (await chat_reply("press", "2"))["actions"] == [{"action": "transfer", "extension": "7001"}]


async def test_goodbye_says_the_farewell_and_hangs_up() -> None:
    reply = await chat_reply("send", "Thank you, goodbye.")
    assert reply["says"][-1] == FRONT_DESK["farewell"]
    assert reply["actions"] == [{"action": "hang_up", "reason": "intent goodbye"}] and reply["ended"]


async def test_unknown_words_and_keys_get_the_fallback_and_sorry_repeats() -> None:
    chat = TestChat(FRONT_DESK)
    await chat.start()
    fallback = await chat.send("I would like to book an appointment for Tuesday.")
    assert fallback.says and "didn't catch" in fallback.says[0] and not fallback.ended
    assert (await chat.press("9")).says == fallback.says
    assert (await chat.send("Sorry?")).says == fallback.says


async def test_repeat_says_the_last_reply_again() -> None:
    chat = TestChat(FRONT_DESK)
    greeting = await chat.start()
    assert (await chat.send("Could you repeat that?")).says == greeting.says


async def test_silence_reprompts_once_then_says_farewell_and_hangs_up() -> None:
    chat = TestChat(FRONT_DESK)
    await chat.start()
    first = await chat.silence()
    assert first.says and "still there" in first.says[0] and not first.ended
    second = await chat.silence()
    assert second.says == [FRONT_DESK["farewell"]] and second.ended
    assert second.actions == [{"action": "hang_up", "reason": "no input from the caller"}]


async def test_states_regex_say_and_continue_and_templates() -> None:
    definition = valid({
        "greeting": "Hello {{caller_number}}.",
        "script": {"start": "main", "states": {
            "main": {"intents": [
                {"name": "hours", "regex": r"\bopen(ing)?\b", "say": "We open at nine.", "action": "say"},
                {"name": "book", "keywords": ["appointment"], "goto": "booking", "say": "Sure."},
            ]},
            "booking": {"say": "Which day suits you?", "intents": [
                {"name": "day", "keywords": ["tuesday", "monday"], "say": "Booked.", "action": "hang_up"}]},
        }},
    })
    chat = TestChat(definition, {"caller_number": "555 0100"})
    assert (await chat.start()).says == ["Hello 555 0100."]
    assert (await chat.send("What are your opening hours?")).says == ["We open at nine."]
    assert (await chat.send("I'd like an appointment")).says == ["Sure.", "Which day suits you?"]
    resumed = TestChat(definition, snapshot=chat.snapshot())
    reply = await resumed.send("Tuesday")
    assert reply.says[0] == "Booked." and reply.ended


async def test_a_definition_without_script_still_answers() -> None:
    chat = TestChat(valid({"greeting": "Hi."}))
    assert (await chat.start()).says == ["Hi."]
    assert (await chat.send("anything")).says == ["Sorry, I didn't catch that."]


def test_text_helpers() -> None:
    assert words("Transfer me to SALES!") == ["transfer", "me", "to", "sales"]
    assert words("That’s all") == ["that's", "all"]
    assert split_sentences("Thanks for calling. Say sales, or press 1! Dr. Who? Yes") == [
        "Thanks for calling.", "Say sales, or press 1!", "Dr. Who?", "Yes"]
    assert render("Hi {{ caller_number }} from {{unknown}}", {"caller_number": 7}) == "Hi 7 from {{unknown}}"
    buffer = SentenceBuffer()
    assert buffer.feed("Hello there") == []
    assert buffer.feed(". How are") == ["Hello there."]
    assert buffer.feed(" you? I") == ["How are you?"]
    assert buffer.flush() == ["I"]
