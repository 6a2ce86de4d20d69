"""The embedded Krea 2 runtime (load, presets, batched render, tiny builder)."""
