// An API Gateway REST API in front of the function, for the browser journey under a stage: what a
// browser asks of http://127.0.0.1:$REST_PORT/$REST_STAGE/… becomes a Lambda proxy integration
// event (payload 1.0, as the execute-api host sends it: `path` without the stage,
// `requestContext.path` with it), invoked through the Lambda emulator at $REST_LAMBDA_URL
// (cargo-lambda's `/2015-03-31/functions/_/invocations`); the function's answer goes back to the
// browser. Paths outside the stage get API Gateway's 403.
//
// Binary bodies pass as API Gateway passes them: only for the API's binary media types
// ($REST_BINARY_MEDIA_TYPES, comma-separated, none by default as in API Gateway) is a request
// body base64-encoded into the event, and an answer's base64 body decoded; otherwise the text
// goes through as it is (and a compressed page would reach the browser as base64 text).
// docs/aws.md says to set `*/*`.
import http from "node:http";
import { randomUUID } from "node:crypto";

const port = Number(process.env.REST_PORT);
const lambda = process.env.REST_LAMBDA_URL;
const stage = process.env.REST_STAGE ?? "prod";
if (!port || !lambda) throw new Error("set REST_PORT and REST_LAMBDA_URL");
const binaryMediaTypes = (process.env.REST_BINARY_MEDIA_TYPES ?? "")
  .split(",")
  .map((type) => type.trim().toLowerCase())
  .filter(Boolean);

/** Whether a media type (a Content-Type or one of an Accept header's) is a binary one. */
function isBinary(mediaType) {
  const type = (mediaType ?? "").split(";")[0].trim().toLowerCase();
  return binaryMediaTypes.some((binary) =>
    binary === "*/*" || binary === type || (binary.endsWith("/*") && type.startsWith(binary.slice(0, -1))),
  );
}

function eventOf(request, url, body, binaryBody) {
  const called = url.pathname;
  const routed = called.slice(stage.length + 1) || "/";
  const headers = {};
  const multiValueHeaders = {};
  for (const [name, values] of Object.entries(request.headersDistinct)) {
    headers[name] = values[values.length - 1];
    multiValueHeaders[name] = values;
  }
  const query = {};
  const multiQuery = {};
  for (const [name, value] of url.searchParams) {
    query[name] = value;
    (multiQuery[name] ??= []).push(value);
  }
  const hasQuery = url.search.length > 1;
  return {
    resource: "/{proxy+}",
    path: routed,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: { proxy: routed.slice(1) },
    stageVariables: null,
    requestContext: {
      accountId: "123456789012",
      resourceId: "e2e",
      stage,
      requestId: randomUUID(),
      identity: {
        sourceIp: (request.socket.remoteAddress ?? "127.0.0.1").replace(/^::ffff:/, ""),
        userAgent: headers["user-agent"] ?? "",
      },
      resourcePath: "/{proxy+}",
      httpMethod: request.method,
      apiId: "e2e",
      path: called,
      domainName: headers.host,
      protocol: `HTTP/${request.httpVersion}`,
      requestTimeEpoch: Date.now(),
    },
    body: body.length > 0 ? body.toString(binaryBody ? "base64" : "utf8") : null,
    isBase64Encoded: body.length > 0 && binaryBody,
  };
}

function answer(response, status, headers, body) {
  response.writeHead(status, headers);
  response.end(body);
}

http
  .createServer(async (request, response) => {
    const url = new URL(request.url, "http://stage.invalid");
    if (url.pathname !== `/${stage}` && !url.pathname.startsWith(`/${stage}/`)) {
      const body = JSON.stringify({ message: "Missing Authentication Token" });
      return answer(response, 403, { "content-type": "application/json" }, body);
    }
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    try {
      const invoked = await fetch(`${lambda}/2015-03-31/functions/_/invocations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(
          eventOf(request, url, Buffer.concat(chunks), isBinary(request.headers["content-type"])),
        ),
      });
      if (!invoked.ok) throw new Error(`the invocation failed: ${invoked.status}`);
      const result = await invoked.json();
      const headers = { ...(result.headers ?? {}) };
      for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
        headers[name] = values;
      }
      // Decoded when the client accepts, or the answer is, a binary media type.
      const accepted = (request.headers.accept ?? "").split(",")[0];
      const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === "content-type")?.[1];
      const decode = result.isBase64Encoded && (isBinary(accepted) || isBinary(String(contentType ?? "")));
      const body = Buffer.from(result.body ?? "", decode ? "base64" : "utf8");
      answer(response, result.statusCode, headers, body);
    } catch (error) {
      console.error(error);
      const body = JSON.stringify({ message: "Internal server error" });
      answer(response, 502, { "content-type": "application/json" }, body);
    }
  })
  .listen(port, "127.0.0.1");
