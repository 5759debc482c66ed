// Builds the console into ../assets (committed; embedded in the taskmesh binary by the
// `console` crate): generates the client from ../../../proto, type-checks, bundles and
// minifies with esbuild, gzips each file (deterministic: no name, no mtime), and checks the
// size budget. `node build.mjs --check` writes nothing and fails when the result differs from
// what is committed (the .gz files are checked by the console crate's tests).
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

const common = { bundle: true, minify: true, legalComments: "none", write: false, logLevel: "warning", target: ["chrome124", "firefox124", "safari17.4"] /* AbortSignal.any */ };
const js = await esbuild.build({ ...common, entryPoints: ["src/main.tsx"], format: "esm", jsx: "automatic", jsxImportSource: "preact", absWorkingDir: here });
const css = await esbuild.build({ ...common, entryPoints: ["src/app.css"], absWorkingDir: here });
const files = {
  "app.js": js.outputFiles[0].contents,
  "app.css": css.outputFiles[0].contents,
  "index.html": readFileSync(here + "index.html"),
};

const checking = process.argv.includes("--check");
mkdirSync(out, { recursive: true });
let failed = false;
const stale = [];
for (const [name, bytes] of Object.entries(files)) {
  const gz = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
  const over = gz.length > BUDGET[name];
  failed ||= over;
  console.log(`${name.padEnd(10)} ${String(bytes.length).padStart(8)} B, gzip ${String(gz.length).padStart(7)} B (budget ${BUDGET[name]})${over ? "  OVER BUDGET" : ""}`);
  if (checking) {
    // Compared, never written: a failed check leaves the committed files as they were.
    if (!before[name] || !before[name].equals(Buffer.from(bytes))) stale.push(name);
  } else {
    writeFileSync(out + name, bytes);
    writeFileSync(out + name + ".gz", gz);
  }
}
if (failed) {
  console.error("the console is over its size budget");
  process.exit(1);
}
if (stale.length > 0) {
  console.error(`committed assets are stale: ${stale.join(", ")}; run \`npm run build\` in crates/console/web and commit`);
  process.exit(1);
}
