"""The engine: node API, workflow formats, validation, planning, cached execution. No torch, no aiohttp."""
