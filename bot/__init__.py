"""Adapters (Discord, Tumblr, HTTP), job submission, the worker loop and the `glyphbot` CLI."""
