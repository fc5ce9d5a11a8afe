import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const clientSrc = fileURLToPath(new URL("../client/src/", import.meta.url));

export default defineConfig({
  plugins: [react()],
  resolve: {
    // The wire schemas come from the client package's sources: one definition for the API, the client and here.
    alias: [{ find: /^@promptreg\/client\/contract$/, replacement: `${clientSrc}contract.ts` }],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Every browser that runs this console supports modulepreload; the polyfill would only add bytes.
    modulePreload: { polyfill: false },
    // The CSP forbids inline code: never inline assets as data: scripts.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
    // The API reference's viewer (swagger-ui, 1.5 MB) is a chunk of its own, fetched only on that page.
    chunkSizeWarningLimit: 1_600,
  },
  server: {
    // `npm run dev -w @promptreg/web` against a server on :4000.
    proxy: { "/api": "http://127.0.0.1:4000" },
  },
});
