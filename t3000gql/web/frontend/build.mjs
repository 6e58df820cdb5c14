// Builds the pages t3000gql serves into ../static (ignored by git, shipped in the wheel when present):
//   trend.html + trend-HASH.js/.css        the trend viewer at /
//   graphiql.html + graphiql-HASH.js/.css  GraphiQL at /graphql (with Monaco's workers in workers/)
//   examples.json                          schema/examples/*.graphql, offered in GraphiQL
//   manifest.json                          what was built, with raw and gzipped sizes per page
// Everything a page loads comes from the server itself: no CDN, no web fonts from elsewhere.
// Run through scripts/build_web.sh (npm ci, then this), which skips the build while its stamp is current.

import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static");
const examplesDir = join(here, "..", "..", "..", "schema", "examples");
const PUBLIC = "/static/";

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  legalComments: "none",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".ttf": "file", ".woff": "file", ".woff2": "file", ".svg": "file" },
  assetNames: "assets/[name]-[hash]",
  logLevel: "warning",
};

// The pages: ES modules, one bundle each (plus the CSS their imports pull in).
const pages = await esbuild.build({
  ...common,
  entryPoints: { trend: "src/trend/main.js", graphiql: "src/graphiql/main.jsx" },
  outdir: out,
  entryNames: "[name]-[hash]",
  format: "esm",
  jsx: "automatic",
  metafile: true,
  absWorkingDir: here,
});

// Monaco's language workers: plain scripts at stable names (the GraphiQL bundle starts them by URL).
const workers = {
  "editor.worker": "monaco-editor/esm/vs/editor/editor.worker.js",
  "json.worker": "monaco-editor/esm/vs/language/json/json.worker.js",
  "graphql.worker": "monaco-graphql/esm/graphql.worker.js",
};
await esbuild.build({
  ...common,
  entryPoints: workers,
  outdir: join(out, "workers"),
  entryNames: "[name]",
  format: "iife",
  absWorkingDir: here,
});

function outputsOf(entry) {
  const found = { js: null, css: null };
  for (const [file, meta] of Object.entries(pages.metafile.outputs)) {
    if (meta.entryPoint !== entry) continue;
    found.js = relative(out, join(here, file));
    if (meta.cssBundle) found.css = relative(out, join(here, meta.cssBundle));
  }
  if (!found.js) throw new Error(`no output for ${entry}`);
  return found;
}

function sizes(files) {
  let raw = 0;
  let gzip = 0;
  for (const file of files) {
    const data = readFileSync(join(out, file));
    raw += data.length;
    gzip += gzipSync(data, { level: 9 }).length;
  }
  return { files, bytes: raw, gzipBytes: gzip };
}

const manifest = { pages: {}, workers: Object.keys(workers).map((name) => `workers/${name}.js`) };
for (const [page, entry] of [
  ["trend", "src/trend/main.js"],
  ["graphiql", "src/graphiql/main.jsx"],
]) {
  const { js, css } = outputsOf(entry);
  const template = readFileSync(join(here, "src", `${page}.html`), "utf8");
  const html = template
    .replace("<!--CSS-->", css ? `<link rel="stylesheet" href="${PUBLIC}${css}">` : "")
    .replace("<!--JS-->", `<script type="module" src="${PUBLIC}${js}"></script>`);
  writeFileSync(join(out, `${page}.html`), html);
  manifest.pages[page] = sizes([js, ...(css ? [css] : [])]);
}
manifest.pages.graphiql.workers = sizes(manifest.workers);

// The schema's example operations, for GraphiQL's Examples panel.
const examples = readdirSync(examplesDir)
  .filter((name) => name.endsWith(".graphql"))
  .sort()
  .map((name) => {
    const text = readFileSync(join(examplesDir, name), "utf8");
    const comment = text
      .split("\n")
      .filter((line) => line.startsWith("#"))
      .map((line) => line.replace(/^#\s?/, ""))
      .join(" ")
      .trim();
    return { name: basename(name, ".graphql"), description: comment, query: text };
  });
writeFileSync(join(out, "examples.json"), JSON.stringify(examples, null, 1));

const digest = createHash("sha256").update(JSON.stringify(manifest)).digest("hex").slice(0, 16);
writeFileSync(join(out, "manifest.json"), JSON.stringify({ ...manifest, build: digest }, null, 2));
for (const [page, info] of Object.entries(manifest.pages)) {
  console.log(`${page}: ${(info.bytes / 1024).toFixed(0)} KiB, ${(info.gzipBytes / 1024).toFixed(0)} KiB gzipped`);
}
