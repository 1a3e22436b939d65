// Starts GraphiQL against this server: queries and mutations over HTTP, subscriptions
// over WebSocket (graphql-transport-ws) at the same address. The headers editor's JSON
// is sent as HTTP headers and, for subscriptions, as the connection_init payload, so one
// {"Authorization": "Bearer <token>"} serves both.
(function () {
  "use strict";

  var status = document.getElementById("phonegraph-status");

  function fail(message) {
    if (status) {
      status.textContent = message;
    }
  }

  if (!window.React || !window.ReactDOM || !window.GraphiQL) {
    fail(
      "GraphiQL's files did not load. Install them in the PhoneGraph source folder with " +
        "`make assets` (or `npm ci`), then reload this page."
    );
    return;
  }

  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");

  var defaultQuery = [
    "# Welcome to PhoneGraph.",
    "# Put your API token in the Headers tab below",
    "# (replace <token>), then run with Ctrl-Enter.",
    "# A token: python -m app token create --help",
    "",
    "{",
    "  viewer {",
    "    role",
    "    tokenName",
    "  }",
    "}",
    "",
  ].join("\n");

  var defaultHeaders = JSON.stringify({ Authorization: "Bearer <token>" }, null, 2);

  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: subscriptionUrl,
  });

  var root = document.getElementById("graphiql");
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultHeaders: defaultHeaders,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      // Tokens are secrets: keep them out of the browser's storage.
      shouldPersistHeaders: false,
    })
  );
})();
