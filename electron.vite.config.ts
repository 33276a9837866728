import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';
import { resolve } from 'node:path';

// Native and heavy Node packages stay outside the bundle and load from node_modules (unpacked from asar).
const external = ['better-sqlite3', 'sharp', 'onnxruntime-node', 'ws', 'commander', 'tsx'];

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'src/main/index.ts'),
          // ONNX Runtime runs in a worker thread; its entry must sit beside the main bundle.
          sessionWorker: resolve(__dirname, 'src/core/ml/runtime/sessionWorker.ts'),
          // Checkpoint conversion (models.add) too.
          convertWorker: resolve(__dirname, 'src/core/api/convertWorker.ts'),
        },
        external,
      },
    },
  },
  preload: {
    build: {
      // A sandboxed preload must be CommonJS.
      rollupOptions: {
        input: { index: resolve(__dirname, 'src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src/renderer'),
    build: { rollupOptions: { input: resolve(__dirname, 'src/renderer/index.html') } },
    // The Content-Security-Policy is a response header of both shells (src/shared/csp.ts), never a <meta>:
    // Chromium ignores frame-ancestors there and logs an error for it.
    plugins: [react()],
  },
});
