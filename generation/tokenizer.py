"""Character-level tokenization of transcripts.

ByT5's byte-level tokenizer needs no vocabulary file, works offline and covers all of Unicode, so
any transcript has a lossless encoding. On top of it this module adds what the model needs:

* the transcript normalisation of the original system (spaces around newlines stripped),
* refusal (never truncation) of prompts over the limit and of control characters the renderer
  could never have drawn,
* the per-token *line index* (running count of newlines) that feeds the line embedding,
* the *mask prompt*: a fixed sequence that stands for "no text" in the unconditional branch of
  classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from generation.request_parsers import MAX_PROMPT_BYTES, PromptError, check_prompt

DEFAULT_MAX_TOKENS = MAX_PROMPT_BYTES + 1
MAX_LINES = 32
# ByT5 sentinels 1..STYLE_SLOTS stand for the learned vectors of a style (textual inversion, see
# generation.styles): the text encoder swaps their embeddings for the style's. Sentinel 0 is the mask.
STYLE_SLOTS = 8
STYLE_SLOT_IDS = tuple(range(260, 260 + STYLE_SLOTS))  # <extra_id_1>.. in ByT5's vocabulary (checked below)


@dataclass(frozen=True)
class TokenizedBatch:
    """Token ids, attention mask and line indices, all shaped (batch, length)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    line_ids: torch.Tensor

    def to(self, device: torch.device | str) -> "TokenizedBatch":
        return TokenizedBatch(self.input_ids.to(device), self.attention_mask.to(device), self.line_ids.to(device))


class GlyphTokenizer:
    """Turns transcripts into the tensors the text encoder reads.

    The vocabulary is ByT5's: 0 = pad, 1 = end, 2 = unknown, 3..258 = bytes, 259.. = sentinels. The
    first sentinel serves as the mask token of the unconditional prompt.
    """

    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS, max_lines: int = MAX_LINES) -> None:
        if max_tokens < 2:
            raise ValueError(f"max_tokens must be at least 2 (one character and the end token), got {max_tokens}")
        self.max_tokens = max_tokens
        self.max_lines = max_lines
        # Imported here, from its own module: the transformers package costs seconds to import, and every
        # command that only checks a prompt (generation.request_parsers) should not pay for it.
        from transformers.models.byt5.tokenization_byt5 import ByT5Tokenizer

        self._byt5 = ByT5Tokenizer()
        self.pad_token_id = self._byt5.pad_token_id
        self.eos_token_id = self._byt5.eos_token_id
        self.mask_token_id = self._byt5.convert_tokens_to_ids("<extra_id_0>")
        self.newline_token_id = self._byt5.convert_tokens_to_ids("\n")
        self.vocab_size = len(self._byt5)
        self.style_slot_ids = tuple(self._byt5.convert_tokens_to_ids(f"<extra_id_{slot}>") for slot in range(1, STYLE_SLOTS + 1))
        if self.style_slot_ids != STYLE_SLOT_IDS:
            raise RuntimeError(f"ByT5's sentinels moved: style slots are {self.style_slot_ids}, expected {STYLE_SLOT_IDS}")

    def encode_one(self, text: str, index: int = 0) -> list[int]:
        """Ids of one normalised transcript, end token included; refuses rather than cuts."""
        # ByT5's tokens are the UTF-8 bytes and the end token, so a byte limit is a token limit.
        return self._byt5(check_prompt(text, index, self.max_tokens - 1), add_special_tokens=True)["input_ids"]

    def mask_ids(self) -> list[int]:
        """The unconditional prompt: what the model sees when conditioning is dropped."""
        return [self.mask_token_id, self.eos_token_id]

    def decode(self, ids: list[int]) -> str:
        return self._byt5.decode(ids, skip_special_tokens=True)

    def __call__(self, prompts: list[str | None], style_slots: int = 0) -> TokenizedBatch:
        """Encode a batch; `None` stands for the unconditional (mask) prompt.

        `style_slots` > 0 appends that many style placeholders after each real prompt's text (before
        the end token), so the characters keep their positions and the style reads as a suffix; the
        unconditional prompt never carries them, so guidance pushes towards the style."""
        if isinstance(prompts, str):
            raise PromptError("pass a list of prompts, not a single string")
        if len(prompts) == 0:
            raise PromptError("the batch of prompts is empty")
        if not 0 <= style_slots <= STYLE_SLOTS:
            raise ValueError(f"a style has 0 to {STYLE_SLOTS} slots, got {style_slots}")
        sequences = []
        for index, prompt in enumerate(prompts):
            if prompt is None:
                sequences.append(self.mask_ids())
                continue
            ids = self.encode_one(prompt, index)
            if style_slots:
                ids = ids[:-1] + list(self.style_slot_ids[:style_slots]) + ids[-1:]
                if len(ids) > self.max_tokens:
                    raise PromptError(
                        f"prompt {index} is too long to carry a style: with the style's {style_slots} tokens it needs "
                        f"{len(ids)} of the {self.max_tokens} tokens. Shorten it by {len(ids) - self.max_tokens} bytes."
                    )
            sequences.append(ids)
        return self._pad(sequences)

    def _pad(self, sequences: list[list[int]]) -> TokenizedBatch:
        length = max(len(ids) for ids in sequences)
        input_ids = torch.full((len(sequences), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for row, ids in enumerate(sequences):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        return TokenizedBatch(input_ids, attention_mask, self.line_ids(input_ids))

    def line_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Running count of newlines before each token, capped: which line a character sits on."""
        newlines = (input_ids == self.newline_token_id).long()
        before = torch.cumsum(newlines, dim=1) - newlines
        return before.clamp(max=self.max_lines - 1)
