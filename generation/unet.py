"""The text-conditioned U-Net of glyphbot (base and super-resolution share this class).

ADM / improved-diffusion layout: ResBlocks with scale-shift norm on the timestep, self-attention at
low resolutions, ResBlock down- and up-sampling. The decoder additionally carries weave
cross-attention (see `weave.py`) after every ResBlock at the configured low resolutions, reading a
character-level text encoder that is part of the model and trains with it.

A super-resolution model is the same class with `low_res_channels=3`: the bilinearly upsampled
low-resolution image is concatenated to the noisy input, and the level of the noise added to it
during training (noise augmentation, at most `max_noise_level`) is embedded and added to the
timestep embedding. `warm_start_from_base` copies a trained base model into the matching middle of
a larger SR model, the trick that made the original tumblr autoresponder model's super-resolution stage learn quickly.

Two additions of ours, both for CPU budgets:

* `glyph_channels`: the glyph map of the transcript (see `generation.layout`) is concatenated to the
  input too, so the network restyles drawn letters instead of learning to spell. A missing map is
  all zeros: the original autoresponder model's glyph-free mode, trained by dropping the map now and then.
* `region_channels`: the template's region map (a tweet's card and avatar, a meme's picture, a
  sign's board; see `generation.layout.PageLayout`), AnyText's position-map idea: the network knows
  where the structure goes, not only the letters. Unlike the glyph map it reaches both branches of
  guidance, so guidance pushes towards the text while both branches draw the same structure.
  `with_region_channels` grows a trained model one zero-initialised input at a time, so training
  continues from shipped weights.
* `patch_size`: a pixel-unshuffle stem. The input is folded into `patch_size`² times the channels at
  `1/patch_size` the resolution, and the output unfolded back, so a 256 px SR model costs about what
  a 64 px one does; the full-resolution glyph map still reaches the network pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.resnet import ResnetBlock2D
from diffusers.utils import BaseOutput
from torch import nn

from generation.text_encoder import CharTextEncoder, TextBlend
from generation.tokenizer import STYLE_SLOT_IDS
from generation.weave import WeaveCrossAttention


@dataclass
class GlyphUNetOutput(BaseOutput):
    """The model's prediction (epsilon or v, per the scheduler's `prediction_type`)."""

    sample: torch.Tensor


@dataclass(frozen=True)
class WarmStartReport:
    """What `warm_start_from_base` copied (everything of the base but its bread)."""

    copied: tuple[str, ...]


class _Level(nn.Module):
    """One resolution of the U-Net: ResBlocks, their optional attention, and a resampling ResBlock."""

    def __init__(self) -> None:
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList()
        self.weaves = nn.ModuleList()
        self.resample: ResnetBlock2D | None = None


def _with_map(sample: torch.Tensor, map_: torch.Tensor | None, channels: int, name: str) -> torch.Tensor:
    """`sample` with a conditioning map of `channels` channels appended (None: a blank one); a model
    built without such channels refuses a map instead of ignoring it."""
    if not channels:
        if map_ is not None:
            raise ValueError(f"this model was built without {name} channels; it takes no {name} map")
        return sample
    if map_ is None:
        map_ = sample.new_zeros((sample.shape[0], channels, *sample.shape[-2:]))
    elif map_.shape[1:] != (channels, *sample.shape[-2:]):
        raise ValueError(
            f"{name} map has shape {tuple(map_.shape)}; expected (batch, {channels}, {sample.shape[-2]}, {sample.shape[-1]})"
        )
    return torch.cat([sample, map_.to(sample.dtype)], dim=1)


class GlyphUNet2DModel(ModelMixin, ConfigMixin):
    """Predicts the noise in `sample` given the timestep, the transcript and (SR) a low-res image."""

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        sample_size: int = 64,
        in_channels: int = 3,
        out_channels: int = 3,
        low_res_channels: int = 0,
        glyph_channels: int = 0,
        region_channels: int = 0,
        patch_size: int = 1,
        max_noise_level: int = 250,
        block_out_channels: tuple[int, ...] = (64, 128, 192, 256),
        layers_per_block: int = 2,
        attention_resolutions: tuple[int, ...] = (16, 8),
        weave_resolutions: tuple[int, ...] = (32, 16, 8),
        attention_head_dim: int = 32,
        norm_num_groups: int = 32,
        dropout: float = 0.0,
        vocab_size: int = 384,
        max_tokens: int = 384,
        max_lines: int = 32,
        text_width: int = 256,
        text_depth: int = 4,
        text_heads: int = 4,
    ) -> None:
        super().__init__()
        if patch_size < 1 or sample_size % (patch_size * 2 ** (len(block_out_channels) - 1)):
            raise ValueError(
                f"sample_size {sample_size} cannot be folded by patch_size {patch_size} and then halved "
                f"{len(block_out_channels) - 1} times"
            )
        if any(channels % norm_num_groups for channels in block_out_channels):
            raise ValueError(f"every entry of block_out_channels {block_out_channels} must divide by norm_num_groups {norm_num_groups}")
        base_channels = block_out_channels[0]
        time_embed_dim = base_channels * 4

        self.time_proj = Timesteps(base_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(base_channels, time_embed_dim)
        if low_res_channels:
            self.noise_level_proj = Timesteps(base_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
            self.noise_level_embedding = TimestepEmbedding(base_channels, time_embed_dim)
        self.text_encoder = CharTextEncoder(
            vocab_size, text_width, text_depth, text_heads, max_tokens, max_lines, time_embed_dim
        )
        folded = patch_size * patch_size
        self.conv_in = nn.Conv2d((in_channels + low_res_channels + glyph_channels + region_channels) * folded, base_channels, kernel_size=3, padding=1)

        def resnet(cin: int, cout: int, up: bool = False, down: bool = False) -> ResnetBlock2D:
            return ResnetBlock2D(
                in_channels=cin, out_channels=cout, temb_channels=time_embed_dim, groups=norm_num_groups,
                dropout=dropout, time_embedding_norm="scale_shift", up=up, down=down,
            )

        def self_attention(channels: int) -> Attention:
            return Attention(
                channels, heads=max(channels // attention_head_dim, 1), dim_head=attention_head_dim,
                norm_num_groups=norm_num_groups, residual_connection=True, bias=True, upcast_softmax=True,
                _from_deprecated_attn_block=True,
            )

        skip_channels = [base_channels]
        channels = base_channels
        resolution = sample_size // patch_size
        self.down_levels = nn.ModuleList()
        for index, out in enumerate(block_out_channels):
            level = _Level()
            for _ in range(layers_per_block):
                level.resnets.append(resnet(channels, out))
                level.attentions.append(self_attention(out) if resolution in attention_resolutions else nn.Identity())
                channels = out
                skip_channels.append(channels)
            if index < len(block_out_channels) - 1:
                level.resample = resnet(channels, channels, down=True)
                skip_channels.append(channels)
                resolution //= 2
            self.down_levels.append(level)

        self.mid_resnet_1 = resnet(channels, channels)
        self.mid_attention = self_attention(channels)
        self.mid_resnet_2 = resnet(channels, channels)

        self.up_levels = nn.ModuleList()
        for index, out in reversed(list(enumerate(block_out_channels))):
            level = _Level()
            for _ in range(layers_per_block + 1):
                level.resnets.append(resnet(channels + skip_channels.pop(), out))
                channels = out
                level.attentions.append(self_attention(out) if resolution in attention_resolutions else nn.Identity())
                if resolution in weave_resolutions:
                    level.weaves.append(
                        WeaveCrossAttention(out, text_width, resolution, time_embed_dim, text_heads, norm_num_groups)
                    )
            if index > 0:
                level.resample = resnet(channels, channels, up=True)
                resolution *= 2
            self.up_levels.append(level)

        self.norm_out = nn.GroupNorm(norm_num_groups, channels, eps=1e-6)
        self.conv_out = nn.Conv2d(channels, out_channels * folded, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def is_super_resolution(self) -> bool:
        return self.config.low_res_channels > 0

    @property
    def reads_glyphs(self) -> bool:
        return self.config.glyph_channels > 0

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | int,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        line_ids: torch.Tensor,
        low_res: torch.Tensor | None = None,
        noise_level: torch.Tensor | int | None = None,
        glyph: torch.Tensor | None = None,
        style_embeds: torch.Tensor | None = None,
        text_blend: TextBlend | None = None,
        region: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> GlyphUNetOutput | tuple[torch.Tensor]:
        """`glyph`: (batch, glyph_channels, H, W) in [0, 1] at the sample's size; None draws without a layout.
        `region`: (batch, region_channels, H, W), the template's region map; None is a blank one.

        `style_embeds` (batch or 1, slots, text width): a learned style's vectors for the style slots
        in `input_ids` (generation.styles). `text_blend`: a second text mixed in (prompt tweening)."""
        batch = sample.shape[0]
        timesteps = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(batch)
        temb = self.time_embedding(self.time_proj(timesteps).to(sample.dtype))

        if self.is_super_resolution:
            if low_res is None:
                raise ValueError("this super-resolution model needs `low_res` (the image to upscale)")
            low_res = F.interpolate(low_res, size=sample.shape[-2:], mode="bilinear", align_corners=False)
            sample = torch.cat([sample, low_res.to(sample.dtype)], dim=1)
            levels = torch.as_tensor(0 if noise_level is None else noise_level, device=sample.device).reshape(-1).expand(batch)
            temb = temb + self.noise_level_embedding(self.noise_level_proj(levels).to(sample.dtype))
        elif low_res is not None:
            raise ValueError("a base model takes no `low_res` image")
        sample = _with_map(sample, glyph, self.config.glyph_channels, "glyph")
        sample = _with_map(sample, region, self.config.region_channels, "region")

        text = self.text_encoder(input_ids, attention_mask, line_ids, temb, style_embeds, STYLE_SLOT_IDS)
        if text_blend is not None:
            text, attention_mask = self.text_encoder.blended(text, attention_mask, text_blend, temb)

        patch = self.config.patch_size
        h = self.conv_in(F.pixel_unshuffle(sample, patch) if patch > 1 else sample)
        skips = [h]
        for level in self.down_levels:
            for resnet, attention in zip(level.resnets, level.attentions):
                h = attention(resnet(h, temb))
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h, temb)
                skips.append(h)

        h = self.mid_resnet_2(self.mid_attention(self.mid_resnet_1(h, temb)), temb)

        for level in self.up_levels:
            for index, (resnet, attention) in enumerate(zip(level.resnets, level.attentions)):
                h = attention(resnet(torch.cat([h, skips.pop()], dim=1), temb))
                if level.weaves:
                    h, text = level.weaves[index](h, text, attention_mask, temb)
            if level.resample is not None:
                h = level.resample(h, temb)

        out = self.conv_out(F.silu(self.norm_out(h)))
        if patch > 1:
            out = F.pixel_shuffle(out, patch)
        if not return_dict:
            return (out,)
        return GlyphUNetOutput(sample=out)

    @torch.no_grad()
    def with_region_channels(self, channels: int) -> "GlyphUNet2DModel":
        """A copy of this model that also reads `channels` region-map inputs, their weights zero: it
        predicts exactly what this one does until training teaches it to use them."""
        added = channels - self.config.region_channels
        if added < 0:
            raise ValueError(f"the model already reads {self.config.region_channels} region channels; cannot shrink to {channels}")
        # diffusers lists the keys a loaded config lacked in `_use_default_values` and resets them to their
        # defaults in from_config: drop that list, or the new channel count would be reset to 0.
        settings = {key: value for key, value in self.config.items() if key != "_use_default_values"}
        grown = GlyphUNet2DModel.from_config({**settings, "region_channels": channels})
        state = self.state_dict()
        folded = self.config.patch_size**2
        weight = state["conv_in.weight"]
        # pixel_unshuffle keeps channel c's folded copies together (c * p^2 ...), so new channels appended
        # after the others take the last input columns.
        state["conv_in.weight"] = torch.cat([weight, weight.new_zeros(weight.shape[0], added * folded, *weight.shape[2:])], dim=1)
        grown.load_state_dict(state)
        grown = grown.to(self.device)
        return grown if grown.dtype == self.dtype else grown.half() if self.dtype == torch.float16 else grown.to(self.dtype)

    @torch.no_grad()
    def warm_start_from_base(self, base: "GlyphUNet2DModel") -> WarmStartReport:
        """Copy a trained base model into the middle of this super-resolution U-Net.

        The SR model's extra outer levels, its input and output convolutions (the "bread") and its
        noise-level embedding keep their fresh weights; every inner level, the middle block, the
        timestep embedding and the text encoder take the base's weights. Resolutions are compared
        after the pixel-unshuffle stem, so a patch-4 256 px SR model matches a 64 px base level for level.

        Raises ValueError naming every tensor it cannot copy: a warm start that silently skips the
        timestep weights leaves random scale and shift on the copied convolutions, which is worse than
        no warm start at all.
        """
        own_resolution = self.config.sample_size // self.config.patch_size
        base_resolution = base.config.sample_size // base.config.patch_size
        extra_levels = len(self.config.block_out_channels) - len(base.config.block_out_channels)
        if extra_levels < 0 or own_resolution != base_resolution * 2**extra_levels:
            raise ValueError(
                f"cannot warm-start a model working at {own_resolution}px with {len(self.config.block_out_channels)} levels "
                f"from a base working at {base_resolution}px with {len(base.config.block_out_channels)} levels: "
                "the SR model must add exactly one outer level per doubling of resolution"
            )
        if tuple(self.config.block_out_channels[extra_levels:]) != tuple(base.config.block_out_channels):
            raise ValueError(
                f"the inner levels of the SR model {self.config.block_out_channels} must match the base's "
                f"{base.config.block_out_channels}"
            )
        bread = ("conv_in.", "conv_out.", "norm_out.")
        own = self.state_dict()
        copied, mismatched, missing = [], [], []
        for name, tensor in base.state_dict().items():
            if name.startswith(bread):
                continue
            target = name
            if name.startswith("down_levels."):
                _, index, rest = name.split(".", 2)
                target = f"down_levels.{int(index) + extra_levels}.{rest}"
            if target not in own:
                missing.append(name)
            elif own[target].shape != tensor.shape:
                mismatched.append(f"{target} {tuple(own[target].shape)} vs base {tuple(tensor.shape)}")
            else:
                copied.append(target)
        if mismatched or missing:
            raise ValueError(
                "cannot warm-start from this base: "
                + "; ".join(
                    part for part in (
                        f"{len(mismatched)} tensors differ in shape ({', '.join(mismatched[:6])}{', ...' if len(mismatched) > 6 else ''})" if mismatched else "",
                        f"{len(missing)} base tensors have no place here ({', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''})" if missing else "",
                    ) if part
                )
                + ". Give the SR model the base's widths (block_out_channels[0] sets the timestep width) and text encoder."
            )
        base_state = base.state_dict()
        for target in copied:
            source = target
            if target.startswith("down_levels."):
                _, index, rest = target.split(".", 2)
                source = f"down_levels.{int(index) - extra_levels}.{rest}"
            own[target].copy_(base_state[source])
        return WarmStartReport(tuple(copied))
