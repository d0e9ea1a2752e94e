import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// During `npm run dev`, API and websocket calls go to a running `python server.py` (default port 8188).
const backend = process.env.LOOM_BACKEND ?? 'http://127.0.0.1:8188';
const apiPaths = ['/api', '/object_info', '/prompt', '/queue', '/history', '/view', '/upload', '/interrupt'];

export default defineConfig({
  plugins: [react()],
  base: './',
  server: {
    proxy: Object.fromEntries([
      ...apiPaths.map((p) => [p, { target: backend, changeOrigin: false }]),
      ['/ws', { target: backend.replace(/^http/, 'ws'), ws: true }],
    ]),
  },
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
