import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The Rust server serves dist/ (WEB_DIST_DIR). In development, `npm run dev` proxies the API to
// a server on :1250 so pages and API share an origin as in production.
const api = process.env.REFLECTOR_API ?? "http://127.0.0.1:1250";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    // scripts/sizes.mjs reads it to tell our code from the provider SDKs.
    manifest: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "/v1": api,
      "/mock-video": api,
      "/openapi.json": api,
      "/health": api,
    },
  },
});
