"""Settings: `default.toml` documents every setting; users override it with a file and GLYPHBOT_* variables."""
