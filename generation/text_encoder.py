"""The character-level text encoder that each U-Net carries and trains end to end.

A small T5 encoder stack (the encoder half of `transformers.T5EncoderModel`, used directly because
T5EncoderModel ties a second copy of the token table that safetensors refuses to save) supplies the relative position bias that fixed the original model's spelling
late in lines (seed 003). Its input embedding is the sum of four parts:

* token embedding (the T5 stack's own table, indexed by ByT5 byte ids),
* learned absolute position,
* line embedding (which line of the transcript the character is on),
* the diffusion timestep embedding, so the encoder can serve different needs at different noise
  levels.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import T5Config
from transformers.models.t5.modeling_t5 import T5Stack


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
    ) -> torch.Tensor:
        length = input_ids.shape[1]
        if length > self.max_tokens:
            raise ValueError(f"{length} tokens exceed the text encoder's {self.max_tokens} positions")
        positions = torch.arange(length, device=input_ids.device)
        embeds = (
            self.transformer.embed_tokens(input_ids)
            + self.position_embedding(positions)[None]
            + self.line_embedding(line_ids)
            + self.time_projection(time_embedding)[:, None, :]
        )
        return self.transformer(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state
