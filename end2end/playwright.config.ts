import { defineConfig, devices } from "@playwright/test";
import * as os from "node:os";
import * as path from "node:path";
import * as fs from "node:fs";
import { awsMode, lambdaMode, restApiMode } from "./aws-mode";

// scripts/test picks a free port and builds the site first; these defaults let
// `npx playwright test` work on its own after `cargo leptos build --split`.
const port = Number(process.env.E2E_PORT ?? 3137);
const baseURL = `http://127.0.0.1:${port}`;
const root = path.resolve(__dirname, "..");
// E2E_BINARY=target/release/serverless-stories runs the suite against a release build.
const binary = path.resolve(root, process.env.E2E_BINARY ?? "target/debug/serverless-stories");
process.env.E2E_BINARY = binary; // global-setup creates the admin with the same binary
const dataDir = process.env.E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "stories-e2e-"));
process.env.E2E_DATA_DIR = dataDir; // workers re-read this config: keep one data dir

// With moto running (scripts/test), a second instance in AWS mode for tests/aws.spec.ts.
const aws = awsMode(binary, root, Number(process.env.E2E_AWS_PORT ?? port + 1), dataDir);
// And a third: the same deployment shape, the binary in Lambda mode behind function URLs.
const lambda = lambdaMode(binary, root, Number(process.env.E2E_LAMBDA_PORT ?? port + 2), dataDir);
// And a fourth: the function behind a REST API, its pages under the stage (`/prod/`).
const restApi = restApiMode(
  binary,
  root,
  Number(process.env.E2E_REST_PORT ?? port + 5),
  Number(process.env.E2E_REST_LAMBDA_PORT ?? port + 6),
  dataDir,
);
// A fifth, embedded like the first, with double opt-in on, for tests/lifecycle.spec.ts: its
// own data dir, whose outbox the tests read the mail from.
const doubleOptInPort = Number(process.env.E2E_DOUBLE_OPT_IN_PORT ?? port + 3);
const doubleOptInURL = `http://127.0.0.1:${doubleOptInPort}`;
const doubleOptInDataDir = path.join(dataDir, "double-opt-in");
fs.mkdirSync(doubleOptInDataDir, { recursive: true });
process.env.E2E_DOUBLE_OPT_IN_DATA_DIR = doubleOptInDataDir;

// With an OpenID Connect provider running (scripts/test starts end2end/oidc-provider.mjs), a
// sixth instance signing admins in there, for tests/oidc.spec.ts.
const oidcIssuer = process.env.E2E_OIDC_ISSUER;
const oidcPort = Number(process.env.E2E_OIDC_PORT ?? port + 4);
const oidcURL = `http://127.0.0.1:${oidcPort}`;
if (oidcIssuer) fs.mkdirSync(path.join(dataDir, "oidc"), { recursive: true });

/** The debug server on `port` with its own data dir and `env` added (the AWS and Lambda
 * instances are made in aws-mode.ts). */
function localInstance(instancePort: number, instanceDataDir: string, env: Record<string, string>) {
  return {
    command: binary,
    cwd: root,
    url: `http://127.0.0.1:${instancePort}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore" as const,
    stderr: "pipe" as const,
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${instancePort}`,
      LEPTOS_SITE_ROOT: path.join(root, "target/site"),
      STORIES_DATA_DIR: instanceDataDir,
      // The tests subscribe many addresses from one client.
      STORIES_SUBSCRIBE_LIMIT: "0",
      RUST_LOG: "warn",
      ...env,
    },
  };
}

const chromium = {
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
};

export default defineConfig({
  testDir: "./tests",
  globalSetup: "./global-setup.ts",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: chromium,
  },
  projects: [
    { name: "chromium", testIgnore: /(aws|lifecycle|oidc)\.spec\.ts/, use: { ...devices["Desktop Chrome"], launchOptions: chromium } },
    {
      name: "double-opt-in",
      testMatch: /lifecycle\.spec\.ts/,
      use: { ...devices["Desktop Chrome"], launchOptions: chromium, baseURL: doubleOptInURL },
    },
    ...(oidcIssuer
      ? [
          {
            name: "oidc",
            testMatch: /oidc\.spec\.ts/,
            use: { ...devices["Desktop Chrome"], launchOptions: chromium, baseURL: oidcURL },
          },
        ]
      : []),
    ...(aws
      ? [
          {
            name: "aws",
            testMatch: /aws\.spec\.ts/,
            use: { ...devices["Desktop Chrome"], launchOptions: chromium, baseURL: aws.baseURL },
          },
        ]
      : []),
    ...(lambda
      ? [
          {
            name: "lambda",
            testMatch: /aws\.spec\.ts/,
            use: { ...devices["Desktop Chrome"], launchOptions: chromium, baseURL: lambda.baseURL },
          },
        ]
      : []),
    ...(restApi
      ? [
          {
            name: "rest-api",
            testMatch: /aws\.spec\.ts/,
            use: { ...devices["Desktop Chrome"], launchOptions: chromium, baseURL: restApi.baseURL },
          },
        ]
      : []),
  ],
  webServer: [
    localInstance(port, dataDir, {}),
    localInstance(doubleOptInPort, doubleOptInDataDir, {
      STORIES_DOUBLE_OPT_IN: "true",
      // Issues need the site's address for their links.
      STORIES_PUBLIC_URL: doubleOptInURL,
    }),
    ...(oidcIssuer
      ? [
          localInstance(oidcPort, path.join(dataDir, "oidc"), {
            STORIES_IDENTITY: "oidc",
            STORIES_OIDC_ISSUER: oidcIssuer,
            STORIES_OIDC_CLIENT_ID: "stories",
            STORIES_OIDC_PROVIDER_NAME: "Test Provider",
            STORIES_PUBLIC_URL: oidcURL,
          }),
        ]
      : []),
    ...(aws ? [aws.webServer] : []),
    ...(lambda ? [lambda.webServer] : []),
    ...(restApi ? [restApi.webServer] : []),
  ],
});
