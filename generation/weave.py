"""Weave cross-attention: the layer through which the U-Net's decoder reads the transcript.

Placed after each ResBlock of the decoder at low resolutions. One block does, in order:

1. image -> text: the text stream queries the image, so each character learns where and how it is
   being drawn (added back to the text with a learned gain);
2. a feed-forward layer on the text stream;
3. text -> image: each pixel queries the text (added residually to the image with a learned gain).

Image features on both sides are normalised with AdaGN driven by the timestep and carry an absolute
axial position embedding (a row vector plus a column vector), so attention can tell *where* a letter
belongs. A fresh block is the identity, which keeps warm starts and early training stable: the
three output projections start at zero and the gains at one. (Zero gains in front of random
projections would be the identity too, but then no projection gets a gradient until a gain has
grown, and a gain's gradient through random projections is noise: in a CPU experiment the text path
stayed shut for 1000 steps and the model drew the same image whatever the prompt.)
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention
from torch import nn


class AxialPositionEmbedding(nn.Module):
    """Learned row + column embeddings for a square feature map of a fixed resolution."""

    def __init__(self, resolution: int, channels: int) -> None:
        super().__init__()
        self.rows = nn.Parameter(torch.randn(channels, resolution, 1) * 0.02)
        self.cols = nn.Parameter(torch.randn(channels, 1, resolution) * 0.02)

    def forward(self, height: int, width: int) -> torch.Tensor:
        if height > self.rows.shape[1] or width > self.cols.shape[2]:
            raise ValueError(
                f"feature map {height}x{width} is larger than the axial embedding's "
                f"{self.rows.shape[1]}x{self.cols.shape[2]}; the model was built for a smaller image"
            )
        return self.rows[:, :height] + self.cols[:, :, :width]


class AdaGroupNorm(nn.Module):
    """GroupNorm whose scale and shift come from the timestep embedding."""

    def __init__(self, channels: int, time_embed_dim: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, affine=False, eps=1e-6)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(time_embed_dim, 2 * channels))
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, time_embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(time_embedding)[:, :, None, None].chunk(2, dim=1)
        return self.norm(x) * (1 + scale) + shift


def additive_key_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, keys) mask -> (batch, 1, keys) additive bias: 0 hides a padding key, 1 keeps it as is, and a
    weight in between (a tween's fading character, see text_encoder.TextBlend) scales its attention by it."""
    weights = attention_mask.to(torch.float32)
    bias = torch.log(weights.clamp_min(1e-12)).masked_fill(weights == 0, torch.finfo(dtype).min)
    return bias.to(dtype)[:, None, :]


class WeaveCrossAttention(nn.Module):
    """One image->text, text-FF, text->image step; returns the updated image and text streams."""

    def __init__(
        self,
        image_channels: int,
        text_width: int,
        resolution: int,
        time_embed_dim: int,
        heads: int,
        groups: int,
    ) -> None:
        super().__init__()
        self.image_norm = AdaGroupNorm(image_channels, time_embed_dim, groups)
        self.position = AxialPositionEmbedding(resolution, image_channels)
        self.text_norm_read = nn.LayerNorm(text_width)
        self.image_to_text = Attention(
            query_dim=text_width, cross_attention_dim=image_channels, heads=heads, dim_head=text_width // heads, bias=True
        )
        self.text_feed_forward = nn.Sequential(
            nn.LayerNorm(text_width), nn.Linear(text_width, 4 * text_width), nn.GELU(), nn.Linear(4 * text_width, text_width)
        )
        self.text_norm_write = nn.LayerNorm(text_width)
        self.text_to_image = Attention(
            query_dim=image_channels, cross_attention_dim=text_width, heads=heads, dim_head=image_channels // heads, bias=True
        )
        self.gain_image_to_text = nn.Parameter(torch.ones(()))
        self.gain_text_feed_forward = nn.Parameter(torch.ones(()))
        self.gain_text_to_image = nn.Parameter(torch.ones(()))
        for output in (self.image_to_text.to_out[0], self.text_feed_forward[-1], self.text_to_image.to_out[0]):
            nn.init.zeros_(output.weight)
            nn.init.zeros_(output.bias)

    def forward(
        self,
        image: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        time_embedding: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch, channels, height, width = image.shape
        features = self.image_norm(image, time_embedding) + self.position(height, width)[None]
        pixels = features.flatten(2).transpose(1, 2)  # (batch, height*width, channels)

        read = self.image_to_text(self.text_norm_read(text), encoder_hidden_states=pixels)
        text = text + self.gain_image_to_text * read
        text = text + self.gain_text_feed_forward * self.text_feed_forward(text)

        written = self.text_to_image(
            pixels,
            encoder_hidden_states=self.text_norm_write(text),
            attention_mask=additive_key_mask(text_mask, pixels.dtype),
        )
        written = written.transpose(1, 2).reshape(batch, channels, height, width)
        return image + self.gain_text_to_image * written, text
