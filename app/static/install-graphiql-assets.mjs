// Copies the GraphiQL page's third-party files from node_modules (installed from the npm
// registry by `npm ci`, pinned in package-lock.json) into app/static/graphiql/vendor/,
// where the server serves them. Run automatically after `npm ci` (postinstall).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const vendor = join(here, "graphiql", "vendor");
const require = createRequire(join(root, "package.json"));

// [package, file inside the package, name served under /graphiql/static/vendor/]
const FILES = [
  ["react", "umd/react.production.min.js", "react.production.min.js"],
  ["react-dom", "umd/react-dom.production.min.js", "react-dom.production.min.js"],
  ["graphiql", "graphiql.min.js", "graphiql.min.js"],
  ["graphiql", "graphiql.min.css", "graphiql.min.css"],
];

function packageDir(name) {
  return dirname(require.resolve(`${name}/package.json`));
}

rmSync(vendor, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
const versions = {};
for (const [pkg, file, target] of FILES) {
  const dir = packageDir(pkg);
  let text = readFileSync(join(dir, file), "utf8");
  // The source maps are not shipped: drop the reference so browsers do not ask for them.
  text = text.replace(/\n\/[/*]# sourceMappingURL=\S+(\s*\*\/)?\s*$/, "\n");
  writeFileSync(join(vendor, target), text);
  versions[pkg] = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
}
for (const pkg of new Set(FILES.map(([p]) => p))) {
  copyFileSync(join(packageDir(pkg), "LICENSE"), join(vendor, `LICENSE.${pkg}`));
}
writeFileSync(join(vendor, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(`GraphiQL assets installed in ${vendor}: ${JSON.stringify(versions)}`);
