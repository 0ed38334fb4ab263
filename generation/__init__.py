"""The text-rendering diffusion model: tokenizer, text encoder, U-Nets, cascade, data and training.

This package's top level stays free of torch imports so that `storage/` and `bot/` can use
`generation.types` without paying for (or requiring) torch.
"""
