"""The character-level text encoder that each U-Net carries and trains end to end.

A small T5 encoder stack (the encoder half of `transformers.T5EncoderModel`, used directly because
T5EncoderModel ties a second copy of the token table that safetensors refuses to save) supplies the relative position bias that fixed the original model's spelling
late in lines (the original tumblr autoresponder model). Its input embedding is the sum of four parts:

* token embedding (the T5 stack's own table, indexed by ByT5 byte ids),
* learned absolute position,
* line embedding (which line of the transcript the character is on),
* the diffusion timestep embedding, so the encoder can serve different needs at different noise
  levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5Stack


@dataclass(frozen=True)
class TextBlend:
    """A second text to mix into the encoded one (prompt tweening): `weight` (batch,) in [0, 1] is its share.

    The two encodings are mixed position by position, and so are their attention masks: the mask becomes
    a key weight (1 - w) * mask + w * other_mask, so a character only the other text has fades in with
    its share instead of popping in, and weight 0 or 1 gives exactly one of the two texts."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    line_ids: torch.Tensor
    weight: torch.Tensor


class CharTextEncoder(nn.Module):
    """Encodes token ids (+ line ids + timestep embedding) into per-character features."""

    def __init__(
        self,
        vocab_size: int,
        width: int,
        depth: int,
        heads: int,
        max_tokens: int,
        max_lines: int,
        time_embed_dim: int,
    ) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"text encoder width {width} is not divisible by its {heads} heads")
        config = T5Config(
            vocab_size=vocab_size,
            d_model=width,
            d_kv=width // heads,
            d_ff=width * 2,
            num_layers=depth,
            num_heads=heads,
            dropout_rate=0.0,
            feed_forward_proj="gated-gelu",
            relative_attention_num_buckets=32,
            relative_attention_max_distance=128,
            is_decoder=False,
            is_encoder_decoder=False,
            use_cache=False,
        )
        self.transformer = T5Stack(config)
        self.position_embedding = nn.Embedding(max_tokens, width)
        self.line_embedding = nn.Embedding(max_lines, width)
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(time_embed_dim, width))
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        nn.init.normal_(self.line_embedding.weight, std=0.02)
        self.max_tokens = max_tokens

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        line_ids: torch.Tensor,
        time_embedding: torch.Tensor,
        style_embeds: torch.Tensor | None = None,
        style_slot_ids: tuple[int, ...] = (),
    ) -> torch.Tensor:
        """Per-character features (batch, length, width).

        `style_embeds` (batch or 1, slots, width) replace the token embeddings of `style_slot_ids[j]`
        wherever those ids occur: the learned "words" of a style (generation.styles)."""
        length = input_ids.shape[1]
        if length > self.max_tokens:
            raise ValueError(f"{length} tokens exceed the text encoder's {self.max_tokens} positions")
        positions = torch.arange(length, device=input_ids.device)
        tokens = self.transformer.embed_tokens(input_ids)
        if style_embeds is not None:
            vectors = style_embeds.to(tokens.dtype).expand(input_ids.shape[0], -1, -1)
            for slot in range(vectors.shape[1]):
                where = (input_ids == style_slot_ids[slot])[..., None]
                tokens = torch.where(where, vectors[:, slot : slot + 1, :], tokens)
        embeds = (
            tokens
            + self.position_embedding(positions)[None]
            + self.line_embedding(line_ids)
            + self.time_projection(time_embedding)[:, None, :]
        )
        return self.transformer(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state

    def blended(
        self, text: torch.Tensor, attention_mask: torch.Tensor, blend: TextBlend, time_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix `text` (encoded under `attention_mask`) with the encoding of `blend`; returns the mixed
        features and the key weights that replace the mask (see TextBlend)."""
        other = self(blend.input_ids, blend.attention_mask, blend.line_ids, time_embedding)
        length = max(text.shape[1], other.shape[1])
        text, other = (F.pad(t, (0, 0, 0, length - t.shape[1])) for t in (text, other))
        mask, other_mask = (F.pad(m.to(text.dtype), (0, length - m.shape[1])) for m in (attention_mask, blend.attention_mask))
        share = blend.weight.to(text.dtype).reshape(-1, 1)
        keys = (1 - share) * mask + share * other_mask
        mixed = (1 - share[..., None]) * text * mask[..., None] + share[..., None] * other * other_mask[..., None]
        # Where both texts have a character the mix is a plain interpolation; where only one has one,
        # undo the fading of the features themselves: the key weight already carries the share.
        return mixed / keys.clamp_min(1e-6)[..., None], keys
