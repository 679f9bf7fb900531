"""Sample workflows created with each new organisation, so a new install can take a call at once."""
from __future__ import annotations

from typing import Any

from agent.definition import default_definition

FRONT_DESK_GREETING = (
    "Thanks for calling. Say sales or support, or press 1 for sales and 2 for support."
)
SALES_EXTENSION = "7000"
SUPPORT_EXTENSION = "7001"


def front_desk() -> dict[str, Any]:
    """Sales (words or key 1) -> blind transfer to 7000; support (words or key 2) -> 7001;
    goodbye -> farewell and hang up; silence -> one reprompt, then farewell and hang up."""
    definition = default_definition(FRONT_DESK_GREETING)
    definition["farewell"] = "Thanks for calling. Goodbye."
    definition["end_of_speech_ms"] = 500
    definition["script"] = {
        "start": "menu",
        "states": {
            "menu": {
                "say": "",
                "reprompt": "Are you still there? Say sales or support, or press 1 for sales and 2 for support.",
                "fallback": "Sorry, I didn't catch that. Say sales or support, or press 1 or 2.",
                "intents": [
                    {"name": "sales", "keywords": ["sales", "sale", "buy", "buying", "pricing", "price", "prices"],
                     "dtmf": ["1"], "say": "Connecting you to sales.", "action": "transfer",
                     "extension": SALES_EXTENSION},
                    {"name": "support", "keywords": ["support", "help", "problem", "problems"],
                     "dtmf": ["2"], "say": "Connecting you to support.", "action": "transfer",
                     "extension": SUPPORT_EXTENSION},
                    {"name": "goodbye", "keywords": ["goodbye", "good bye", "bye", "that's all", "no thanks"],
                     "action": "hang_up"},
                ],
            },
        },
        "fallback": "Sorry, I didn't catch that.",
    }
    return definition


def sample_workflows() -> list[tuple[str, dict[str, Any]]]:
    return [("Front desk", front_desk())]
