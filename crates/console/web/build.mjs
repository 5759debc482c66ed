// Builds the console into ../assets (committed; embedded in the taskmesh binary by the
// `console` crate): generates the client from ../../../proto, type-checks, bundles and
// minifies with esbuild, gzips each file (deterministic: no name, no mtime), and checks the
// size budget. `node build.mjs --check` fails when the result differs from what is committed.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync, constants } from "node:zlib";
import * as esbuild from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const out = new URL("../assets/", import.meta.url).pathname;
const bin = (name) => new URL(`node_modules/.bin/${name}`, import.meta.url).pathname;
const run = (cmd, args) => execFileSync(cmd, args, { cwd: here, stdio: "inherit", env: { ...process.env, PATH: `${here}node_modules/.bin:${process.env.PATH}` } });

// Gzipped bytes each file may take: the whole console loads in one round trip on a slow link.
const BUDGET = { "app.js": 90_000, "app.css": 6_000, "index.html": 1_000 };

run(bin("buf"), ["generate", "--template", "buf.gen.yaml"]);
run(bin("tsc"), ["--noEmit", "-p", "tsconfig.json"]);

const before = Object.fromEntries(Object.keys(BUDGET).map((name) => {
  try { return [name, readFileSync(out + name)]; } catch { return [name, null]; }
}));

const common = { bundle: true, minify: true, legalComments: "none", write: false, logLevel: "warning", target: ["chrome116", "firefox124", "safari17"] };
const js = await esbuild.build({ ...common, entryPoints: ["src/main.tsx"], format: "esm", jsx: "automatic", jsxImportSource: "preact", absWorkingDir: here });
const css = await esbuild.build({ ...common, entryPoints: ["src/app.css"], absWorkingDir: here });
const files = {
  "app.js": js.outputFiles[0].contents,
  "app.css": css.outputFiles[0].contents,
  "index.html": readFileSync(here + "index.html"),
};

mkdirSync(out, { recursive: true });
let failed = false;
for (const [name, bytes] of Object.entries(files)) {
  const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(out + name, bytes);
  writeFileSync(out + name + ".gz", gz);
  const over = gz.length > BUDGET[name];
  failed ||= over;
  console.log(`${name.padEnd(10)} ${String(bytes.length).padStart(8)} B, gzip ${String(gz.length).padStart(7)} B (budget ${BUDGET[name]})${over ? "  OVER BUDGET" : ""}`);
}
if (failed) {
  console.error("the console is over its size budget");
  process.exit(1);
}
if (process.argv.includes("--check")) {
  const stale = Object.keys(files).filter((name) => !before[name] || !before[name].equals(Buffer.from(files[name])));
  if (stale.length > 0) {
    console.error(`committed assets are stale: ${stale.join(", ")}; run \`npm run build\` in crates/console/web and commit`);
    process.exit(1);
  }
}
