"""What the caller heard of an agent reply: its sentences, the audio queued for each, and where
that audio sits in the call's continuous playout runs (a run restarts whenever playout had gone
quiet, which is also where the media session's `flush()` starts counting)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class _Piece:
    sentence: int
    seconds: float
    run: int
    offset: float


@dataclass
class Utterance:
    """One agent reply as it is queued and played."""
    sentences: list[str] = field(default_factory=list)
    pieces: list[_Piece] = field(default_factory=list)
    marks: list[asyncio.Future[bool]] = field(default_factory=list)
    reported: bool = False
    resumed: bool = False
    """This reply says again what a false interruption cut (agent.turns.Resume)."""
    resumed_after: str = ""
    """What the false interruption was transcribed as ('' for nothing)."""
    _run: int = 0
    _run_length: float = 0.0

    def begin(self, sentence: str) -> int:
        self.sentences.append(sentence)
        return len(self.sentences) - 1

    def queued(self, sentence: int, seconds: float, *, new_run: bool) -> None:
        if new_run:
            self._run += 1
            self._run_length = 0.0
        self.pieces.append(_Piece(sentence, seconds, self._run, self._run_length))
        self._run_length += seconds

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    def heard(self, heard_s: float) -> str:
        """The words the caller heard when playout stopped `heard_s` into the current run."""
        out: list[str] = []
        for index, sentence in enumerate(self.sentences):
            played, total = self._played(index, heard_s)
            words = sentence.split()
            if total > 0 and played >= total - 1e-6:
                out.extend(words)
                continue
            if total > 0:
                out.extend(words[:int(len(words) * played / total)])
            break
        return " ".join(out)

    def unheard(self, heard_s: float) -> str:
        """What is left to say when playout stopped `heard_s` into the current run: the sentence
        that was cut, from its start, and every sentence after it ('' when all was heard)."""
        for index in range(len(self.sentences)):
            played, total = self._played(index, heard_s)
            if total <= 0 or played < total - 1e-6:
                return " ".join(self.sentences[index:])
        return ""

    def _played(self, index: int, heard_s: float) -> tuple[float, float]:
        """(seconds of sentence `index` the caller heard, seconds queued for it)."""
        pieces = [p for p in self.pieces if p.sentence == index]
        total = sum(p.seconds for p in pieces)
        played = sum(p.seconds if p.run < self._run else min(max(heard_s - p.offset, 0.0), p.seconds)
                     for p in pieces)
        if index < len(self.marks) and self.marks[index].done() and not self.marks[index].cancelled() \
                and self.marks[index].result():
            played = total
        return played, total
