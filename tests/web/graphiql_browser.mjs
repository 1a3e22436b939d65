// Drives GraphiQL in headless Chromium the way a person would, with every request to a
// host other than loopback blocked: proves the page works on a closed network.
//
// usage: node graphiql_browser.mjs <options.json>
//   {baseUrl, token, chromium, userDataDir, screenshot, subscription?, subscriptionScreenshot?,
//    refused?: {headers, subscription, expect, withinMs, screenshot}, timeoutMs?}
// `refused` runs a subscription with other headers (a bad token) and waits at most
// `withinMs` for the result pane to show `expect`.
// Prints one JSON line with what happened; the caller asserts on it.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const options = JSON.parse(readFileSync(process.argv[2], "utf8"));
const timeout = options.timeoutMs ?? 30000;
const report = {
  pageStatus: null,
  pageContentType: null,
  blockedRequests: [],
  loopbackRequests: [],
  consoleErrors: [],
  pageErrors: [],
  websockets: [],
  headersEditor: null,
  queryResult: null,
  subscriptionResult: null,
  refusedResult: null,
  refusedShownWithinDeadline: null,
};

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

function isLoopback(url) {
  try {
    const { protocol, hostname } = new URL(url);
    if (protocol === "data:" || protocol === "blob:" || protocol === "about:") return true;
    return LOOPBACK.has(hostname) || hostname.startsWith("127.");
  } catch {
    return false;
  }
}

const context = await chromium.launchPersistentContext(options.userDataDir, {
  executablePath: options.chromium,
  headless: true,
  viewport: { width: 1400, height: 860 },
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Anything not on loopback goes to a proxy that is not there (loopback bypasses
    // proxies), so even requests the route below cannot see (WebSockets) fail.
    "--proxy-server=http://127.0.0.1:9",
  ],
});

try {
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (isLoopback(url)) {
      report.loopbackRequests.push(url);
      await route.continue();
    } else {
      report.blockedRequests.push(url);
      await route.abort("blockedbyclient");
    }
  });

  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on("console", (message) => {
    if (message.type() === "error") report.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => report.pageErrors.push(String(error)));
  page.on("websocket", (ws) => {
    const entry = { url: ws.url(), sent: [], received: [], closed: false };
    report.websockets.push(entry);
    ws.on("framesent", (frame) => entry.sent.push(String(frame.payload)));
    ws.on("framereceived", (frame) => entry.received.push(String(frame.payload)));
    ws.on("close", () => {
      entry.closed = true;
    });
  });

  const response = await page.goto(`${options.baseUrl}/graphql`, { waitUntil: "load" });
  report.pageStatus = response.status();
  report.pageContentType = response.headers()["content-type"] ?? null;

  const queryEditor = page.locator(".graphiql-query-editor .CodeMirror");
  const headersEditor = page.locator(
    '.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror'
  );
  const resultPane = page.locator(".graphiql-response .CodeMirror");
  await queryEditor.waitFor();
  await headersEditor.waitFor();

  async function replaceText(editor, text) {
    await editor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.press("Delete");
    // insertText types without key events, so the editor does not auto-close brackets.
    await page.keyboard.insertText(text);
  }

  function resultText() {
    return page.evaluate(() => {
      const cm = document.querySelector(".graphiql-response .CodeMirror");
      return cm && cm.CodeMirror ? cm.CodeMirror.getValue() : "";
    });
  }

  async function run(query, { waitForResult = true } = {}) {
    await replaceText(queryEditor, query);
    // GraphiQL analyses the edited document after a short pause, as a person makes one;
    // it picks HTTP or WebSocket from that analysis.
    await page.waitForFunction(() => {
      const cm = document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror;
      const ast = cm.documentAST;
      return Boolean(ast && ast.loc && ast.loc.source.body === cm.getValue());
    });
    await page.locator(".graphiql-execute-button").click();
    if (!waitForResult) return;
    await page.waitForFunction(() => {
      const cm = document.querySelector(".graphiql-response .CodeMirror");
      return cm && cm.CodeMirror && cm.CodeMirror.getValue().trim().length > 0;
    });
  }

  // The token goes where a person would put it: the headers editor.
  await replaceText(headersEditor, JSON.stringify({ Authorization: `Bearer ${options.token}` }));
  report.headersEditor = await headersEditor.evaluate((el) => el.CodeMirror.getValue());

  await run("{ viewer { role tokenName } }");
  await resultPane.waitFor();
  report.queryResult = await resultText();
  await page.screenshot({ path: options.screenshot });

  if (options.subscription) {
    await page.evaluate(() => {
      document.querySelector(".graphiql-response .CodeMirror").CodeMirror.setValue("");
    });
    await run(options.subscription);
    // Wait for the server's answer on the socket (data or an error), not just the ack.
    await page.waitForFunction(
      () => !/^\s*$/.test(document.querySelector(".graphiql-response .CodeMirror").CodeMirror.getValue())
    );
    report.subscriptionResult = await resultText();
    if (options.subscriptionScreenshot) {
      await page.screenshot({ path: options.subscriptionScreenshot });
    }
  }

  if (options.refused) {
    const refused = options.refused;
    await replaceText(headersEditor, JSON.stringify(refused.headers));
    await page.evaluate(() => {
      document.querySelector(".graphiql-response .CodeMirror").CodeMirror.setValue("");
    });
    await run(refused.subscription, { waitForResult: false });
    try {
      await page.waitForFunction(
        (expected) =>
          document
            .querySelector(".graphiql-response .CodeMirror")
            .CodeMirror.getValue()
            .includes(expected),
        refused.expect,
        { timeout: refused.withinMs }
      );
      report.refusedShownWithinDeadline = true;
    } catch {
      report.refusedShownWithinDeadline = false;
    }
    report.refusedResult = await resultText();
    if (refused.screenshot) {
      await page.screenshot({ path: refused.screenshot });
    }
    // The refused socket is closed (by the server); wait for the browser to say so.
    const deadline = Date.now() + 5000;
    while (report.websockets.some((ws) => !ws.closed) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
} finally {
  await context.close();
}

console.log(JSON.stringify(report));
