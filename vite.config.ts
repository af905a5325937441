import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/**
 * Cross-origin isolation (COOP + COEP) gives the page SharedArrayBuffer, which onnxruntime-web needs
 * for multithreaded WASM. Both the dev server and `vite preview` (used by `npm start` and the e2e
 * tests) send the headers.
 */
const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  plugins: [react()],
  // onnxruntime-web locates its .wasm through import.meta.url; pre-bundling would break that.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders, port: 4173, strictPort: true },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // The onnxruntime-web bundles are large by nature and load lazily inside the model worker.
    chunkSizeWarningLimit: 1024,
  },
});
