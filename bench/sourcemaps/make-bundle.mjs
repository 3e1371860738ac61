// A large real bundle for the source-map benchmark: 12 modules of generated
// functions bundled and minified by esbuild (from tests/fixtures/sourcemaps), with
// an external map carrying sourcesContent (~1-5 MB, like a production app's).
//   node bench/sourcemaps/make-bundle.mjs OUT_DIR
import { mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../tests/fixtures/sourcemaps/package.json", import.meta.url));
const esbuild = require("esbuild");
const out = process.argv[2];
const src = join(out, "src");
mkdirSync(src, { recursive: true });
const modules = 12, perModule = 450;
const entry = [];
for (let m = 0; m < modules; m++) {
  const lines = [];
  for (let f = 0; f < perModule; f++) {
    lines.push(
      `export function module${m}Handler${f}(order, options) {`,
      `  const total = order.items.reduce((sum, item) => sum + item.price * item.quantity, ${f});`,
      `  if (!options || options.currency !== "EUR") {`,
      `    throw new TypeError("unsupported currency in handler ${m}.${f}: " + (options && options.currency));`,
      `  }`,
      `  return { id: order.id, total, label: "module ${m} handler ${f}" };`,
      `}`,
    );
  }
  writeFileSync(join(src, `module${m}.js`), lines.join("\n") + "\n");
  entry.push(`export * from "./module${m}.js";`);
}
writeFileSync(join(src, "index.js"), entry.join("\n") + "\n");
await esbuild.build({
  entryPoints: [join(src, "index.js")],
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "app",
  sourcemap: true,
  outfile: join(out, "assets", "big.js"),
  logLevel: "warning",
});
const js = readFileSync(join(out, "assets", "big.js"), "utf8");
const map = readFileSync(join(out, "assets", "big.js.map"));
console.log(JSON.stringify({ line_length: js.split("\n")[0].length, js_bytes: js.length, map_bytes: map.length }));
