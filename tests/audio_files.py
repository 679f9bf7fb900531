"""Caller phrases for audio tests: tests/fixtures/callers (in the repo) or ../shared/audio/callers;
tests that need them skip cleanly when neither is there."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CALLER_DIRS = (ROOT / "tests" / "fixtures" / "callers", ROOT.parent / "shared" / "audio" / "callers")


def caller_ulaw(number: int) -> bytes:
    """Caller phrase `number` (00 "I would like to book…", 04 "Transfer me to sales.", …) as µ-law."""
    for folder in CALLER_DIRS:
        path = folder / f"{number:02d}.ul"
        if path.exists():
            return path.read_bytes()
    pytest.skip("no caller audio (tests/fixtures/callers or ../shared/audio/callers)")
