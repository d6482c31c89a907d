/// <reference types="vitest/config" />
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [preact()],
  build: {
    // Hashed names under assets/ get a year-long cache lifetime from the server.
    assetsDir: 'assets',
    // The server's CSP allows no inline script, so the module preload helper must not be
    // inlined into index.html (Vite puts it in the entry chunk).
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` forwards API calls to a locally running InfraMon.
    proxy: { '/api': 'http://127.0.0.1:8065' },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
