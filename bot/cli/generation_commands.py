"""Model commands: `imagine`, `train`, `bench sample` (filled in by the generation work)."""
