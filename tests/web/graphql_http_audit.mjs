// Runs the graphql-http server audits (GraphQL over HTTP spec) against a URL and prints
// one JSON line per audit: {id, name, status, reason?}. Exit code 0 whatever the result:
// the caller decides what fails.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node graphql_http_audit.mjs <graphql url>");
  process.exit(2);
}
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    line.reason = result.reason;
    line.httpStatus = result.response.status;
    line.contentType = result.response.headers.get("content-type");
  }
  console.log(JSON.stringify(line));
}
