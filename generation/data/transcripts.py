"""Transcripts shaped like each template's pictures: tweets, chats, memes, signs, posters, covers,
pages and notices, from 3 to 380 characters, made of the word list's words (generation.data.
text_sampler), so the model learns to write any text, laid out the way such pictures are.

Each transcript is built so that the template rules (generation.templates.rules) would pick its
template for it, or close: what the model learns from is what a user's transcript of that shape gets.
"""

from __future__ import annotations

import random

from generation.data.text_sampler import TextSampler
from generation.layout import MAX_TRANSCRIPT_CHARS
from generation.request_parsers import normalize_prompt

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NOTICE_WORDS = ("NOTICE", "ATTENTION", "WARNING", "IMPORTANT", "PLEASE NOTE", "REMINDER", "CAUTION")
_MEME_OPENERS = ("Nobody:", "me:", "pov:", "my brain:", "everyone:")


class TemplateTranscripts:
    """Draws a transcript for a named template; `excluded` transcripts are never returned."""

    def __init__(self, sampler: TextSampler, excluded: frozenset[str] = frozenset()) -> None:
        self.sampler = sampler
        self.excluded = excluded

    def words(self, rng: random.Random, chars: int, sentence: bool = True) -> str:
        """About `chars` characters of words; in sentence case with a full stop now and then."""
        out: list[str] = []
        length = 0
        while length < chars:
            word = self.sampler.token(rng)
            if sentence and rng.random() < 0.8:
                word = word.lower() if not word.isupper() or rng.random() < 0.7 else word
            out.append(word)
            length += len(word) + 1
        text = " ".join(out)[: max(chars, 1)].rstrip()
        if sentence and text:
            text = text[0].upper() + text[1:]
            if rng.random() < 0.6 and text[-1].isalnum():
                text += rng.choice(".!?")
        return text

    def name(self, rng: random.Random) -> str:
        names = self.sampler.vocabulary.names or ("Sam",)
        return " ".join(rng.choice(names) for _ in range(rng.choice((1, 2, 2))))

    def handle(self, rng: random.Random) -> str:
        word = rng.choice(self.sampler.vocabulary.words)
        return "@" + word + (str(rng.randint(1, 999)) if rng.random() < 0.5 else rng.choice(("", "_", "x")))

    def time(self, rng: random.Random) -> str:
        clock = f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(('AM', 'PM'))}"
        return f"{clock} · {rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(2009, 2026)}" if rng.random() < 0.7 else clock

    def tweet(self, rng: random.Random) -> str:
        lines = [self.name(rng), self.handle(rng)]
        body = self.words(rng, rng.choice((rng.randint(15, 80), rng.randint(60, 280))))
        if rng.random() < 0.25:  # a body with a line break of its own
            cut = body.find(" ", len(body) // 2)
            body = body if cut < 0 else body[:cut] + "\n" + body[cut + 1 :]
        lines.append(body)
        if rng.random() < 0.6:
            lines.append(self.time(rng))
        return "\n".join(lines)

    def chat(self, rng: random.Random) -> str:
        speakers = [self.name(rng).split()[0] for _ in range(2)] if rng.random() < 0.5 else None
        lines = []
        for index in range(rng.randint(2, 6)):
            message = self.words(rng, rng.randint(3, 50))
            lines.append(f"{speakers[index % 2]}: {message}" if speakers else message)
        return "\n".join(lines)

    def meme(self, rng: random.Random) -> str:
        draw = rng.random()
        if draw < 0.5:
            return "\n".join(self.words(rng, rng.randint(8, 40), sentence=False).upper() for _ in range(2))
        if draw < 0.8:
            return "\n".join([rng.choice(_MEME_OPENERS), "me: " + self.words(rng, rng.randint(8, 60), sentence=False)][: 2])
        return self.words(rng, rng.randint(20, 120)).lower()

    def sign(self, rng: random.Random) -> str:
        lines = [self.words(rng, rng.randint(3, 18), sentence=False) for _ in range(rng.randint(1, 3))]
        text = "\n".join(lines)
        return text.upper() if rng.random() < 0.5 else text

    def poster(self, rng: random.Random) -> str:
        title = self.words(rng, rng.randint(6, 24), sentence=False)
        title = title.upper() if rng.random() < 0.5 else title.title()
        details = [self.words(rng, rng.randint(8, 40)) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.5:
            details.append(f"{rng.choice(_MONTHS)} {rng.randint(1, 28)} · {rng.randint(1, 12)}pm")
        return "\n".join([title, *details])

    def cover(self, rng: random.Random) -> str:
        title = [self.words(rng, rng.randint(4, 20), sentence=False).title() for _ in range(rng.choice((1, 1, 2)))]
        return "\n".join([*title, f"{rng.choice(('by', 'by', 'By', 'written by'))} {self.name(rng)}"])

    def page(self, rng: random.Random) -> str:
        if rng.random() < 0.5:
            bullet = rng.choice(("- ", "* ", "• ", "{}. "))
            items = [bullet.format(index + 1) + self.words(rng, rng.randint(4, 30)) for index in range(rng.randint(3, 10))]
            return "\n".join([self.words(rng, rng.randint(5, 20)), *items])
        paragraphs = [self.words(rng, rng.randint(40, 180)) for _ in range(rng.randint(1, 3))]
        return "\n".join(paragraphs)

    def notice(self, rng: random.Random) -> str:
        return "\n".join([rng.choice(_NOTICE_WORDS), self.words(rng, rng.randint(30, 260))])

    def card(self, rng: random.Random) -> str:
        return self.sampler.sample(rng)

    def sample(self, template: str, rng: random.Random, max_bytes: int = MAX_TRANSCRIPT_CHARS) -> str:
        """A transcript for `template`, at most MAX_TRANSCRIPT_CHARS characters and `max_bytes` UTF-8
        bytes (what the model's tokenizer takes), never an excluded one."""
        for _ in range(100):
            text = normalize_prompt(getattr(self, template)(rng)[:MAX_TRANSCRIPT_CHARS]).strip()
            while len(text.encode()) > max_bytes:
                text = text[: len(text) - (len(text.encode()) - max_bytes)].strip()
            if text and text not in self.excluded:
                return text
        raise RuntimeError(f"could not draw a {template} transcript outside the excluded set in 100 tries")
