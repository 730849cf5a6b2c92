// Builds the console into dist/: two bundles (the app, and the standalone <vodpipe-status> badge) and the static files.
// `node console/build.mjs` from anywhere; exits non-zero on any error.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, "src");
const dist = join(here, "dist");
const started = performance.now();

try {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  const common = { bundle: true, minify: true, sourcemap: true, target: "es2020", legalComments: "linked" };
  const app = await esbuild.build({
    ...common,
    entryPoints: { console: join(src, "main.js") },
    outdir: dist,
    format: "esm",
    splitting: true, // the player (Shaka) and the charts (Chart.js) load with their pages
    chunkNames: "chunks/[name]-[hash]",
    metafile: true,
    logLevel: "warning",
  });
  // The badge stands alone: one classic <script src> defines <vodpipe-status> on any page of any origin.
  const badge = await esbuild.build({
    ...common,
    entryPoints: { "vodpipe-status": join(src, "badge.js") },
    outdir: dist,
    format: "iife",
    metafile: true,
    logLevel: "warning",
  });
  const outputs = { ...app.metafile.outputs, ...badge.metafile.outputs };
  await Promise.all(["index.html", "console.css"].map((name) => copyFile(join(src, name), join(dist, name))));
  for (const [file, { bytes }] of Object.entries(outputs)) {
    if (file.endsWith(".js")) console.log(`${relative(here, resolve(file))}  ${(bytes / 1024).toFixed(1)} KiB`);
  }
  console.log(`console built in ${((performance.now() - started) / 1000).toFixed(2)} s`);
} catch (error) {
  console.error(error.message ?? error);
  process.exit(1);
}
