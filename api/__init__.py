"""HTTP + websocket API: aiohttp routes, websocket hub, persistent job queue and history."""
