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
        "`make assets`, then reload this page."
    );
    return;
  }

  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");

  // What the result pane shows when the server refuses the socket's token (close 4403,
  // or 4401 for a subscription sent before the server accepted the connection).
  var TOKEN_REQUIRED = "A valid API token is required — put it in the Headers tab.";

  var defaultQuery = [
    "# Welcome to PhoneGraph.",
    "# Put your API token in the Headers tab below",
    "# (replace <token>), then run with Ctrl-Enter.",
    "# A token: python -m app token create --help",
    "",
    "query Viewer {",
    "  viewer {",
    "    role",
    "    tokenName",
    "  }",
    "}",
    "",
  ].join("\n");

  var defaultHeaders = JSON.stringify({ Authorization: "Bearer <token>" }, null, 2);

  function isSubscription(documentAST, operationName) {
    if (!documentAST || !documentAST.definitions) {
      return false;
    }
    var operations = documentAST.definitions.filter(function (definition) {
      return definition.kind === "OperationDefinition";
    });
    var chosen = operations.filter(function (operation) {
      return operationName
        ? operation.name && operation.name.value === operationName
        : operations.length === 1;
    })[0];
    return Boolean(chosen && chosen.operation === "subscription");
  }

  // One subscription over its own WebSocket, as an async iterator of results (what
  // GraphiQL expects of a fetcher). Unlike GraphiQL's stock client it never reconnects:
  // a refused token is final, and a person should hear about it at once, not after the
  // stock client's retries.
  function subscribe(graphQLParams, headers) {
    var results = [];
    var waiting = null;
    var finished = false;
    var subscribed = false;
    var socket = new WebSocket(subscriptionUrl, "graphql-transport-ws");

    function deliver(item) {
      if (waiting) {
        var resolve = waiting;
        waiting = null;
        resolve(item);
      } else {
        results.push(item);
      }
    }

    function emit(result) {
      if (!finished) {
        deliver({ value: result, done: false });
      }
    }

    function finish() {
      if (!finished) {
        finished = true;
        deliver({ value: undefined, done: true });
      }
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(1000, "done");
      }
    }

    function send(message) {
      socket.send(JSON.stringify(message));
    }

    socket.onopen = function () {
      send({ type: "connection_init", payload: headers || {} });
    };

    socket.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (error) {
        emit({ errors: [{ message: "The server sent a message that is not JSON." }] });
        finish();
        return;
      }
      if (message.type === "connection_ack") {
        subscribed = true;
        send({
          id: "1",
          type: "subscribe",
          payload: {
            query: graphQLParams.query,
            variables: graphQLParams.variables || undefined,
            operationName: graphQLParams.operationName || undefined,
          },
        });
      } else if (message.type === "ping") {
        send({ type: "pong" });
      } else if (message.type === "next") {
        emit(message.payload);
      } else if (message.type === "error") {
        emit({ errors: message.payload });
        finish();
      } else if (message.type === "complete") {
        finish();
      }
    };

    socket.onclose = function (event) {
      if (finished) {
        return;
      }
      if (event.code === 4403 || event.code === 4401) {
        emit({
          errors: [
            {
              message: TOKEN_REQUIRED,
              extensions: { code: "UNAUTHENTICATED", closeCode: event.code, reason: event.reason },
            },
          ],
        });
      } else if (event.code !== 1000) {
        emit({
          errors: [
            {
              message:
                "The subscription's connection closed (" +
                event.code +
                (event.reason ? ": " + event.reason : "") +
                ").",
            },
          ],
        });
      }
      finish();
    };

    var iterator = {
      next: function () {
        if (results.length) {
          return Promise.resolve(results.shift());
        }
        if (finished) {
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise(function (resolve) {
          waiting = resolve;
        });
      },
      // GraphiQL's stop button.
      return: function () {
        if (!finished && subscribed && socket.readyState === WebSocket.OPEN) {
          send({ id: "1", type: "complete" });
        }
        finish();
        results = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
    iterator[Symbol.asyncIterator] = function () {
      return iterator;
    };
    return iterator;
  }

  var httpFetcher = GraphiQL.createFetcher({ url: url });

  function fetcher(graphQLParams, options) {
    if (options && isSubscription(options.documentAST, graphQLParams.operationName)) {
      return subscribe(graphQLParams, options.headers);
    }
    return httpFetcher(graphQLParams, options);
  }

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
