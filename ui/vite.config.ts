// Builds the admin UI into dist/ with fixed file names (index.html, assets/app.js,
// assets/app.css): the gateway embeds exactly these files (gateway/src/ui.rs), so a build
// never needs a Rust change. No source maps, no inline script or style (the gateway's
// Content-Security-Policy forbids both).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: false,
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    target: "es2022",
    rollupOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: (info) =>
          (info.names ?? []).some((n) => n.endsWith(".css")) ? "assets/app.css" : "assets/[name][extname]",
      },
    },
  },
  server: {
    // `npm run dev` against a gateway on :4000 (the session cookie is SameSite=Strict: same origin via the proxy).
    proxy: Object.fromEntries(
      ["/ui/login", "/ui/logout", "/ui/session", "/key", "/team", "/user", "/organization", "/customer", "/budget", "/spend", "/global", "/model_group", "/tollgate", "/tag", "/health", "/v1"].map(
        (p) => [p, "http://127.0.0.1:4000"],
      ),
    ),
  },
});
