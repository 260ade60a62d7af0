import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const AWS_USER = "e2e-cognito-admin";
export const AWS_TEMPORARY_PASSWORD = "Temporary-Pass-1";
/** Shared by nobody else: the Lambda deployment's credential key. */
const LAMBDA_SIGNING_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

type Fixture = { poolId: string; clientId: string; table: string };

/**
 * A deployment on DynamoDB and a Cognito user pool in moto (scripts/test starts moto and sets
 * STORIES_TEST_MOTO_ENDPOINT): its pool, user and table are created once, when the runner first
 * reads the config; workers re-read the config and reuse them through `E2E_<NAME>_FIXTURE`.
 */
function deployment(name: string, binary: string, baseEnv: Record<string, string>): Fixture {
  const key = `E2E_${name}_FIXTURE`;
  if (!process.env[key]) {
    const created = execFileSync("python3", [path.join(__dirname, "aws-fixture.py"), AWS_USER, AWS_TEMPORARY_PASSWORD], {
      encoding: "utf8",
    });
    const fixture = { ...JSON.parse(created), table: `Emails-e2e-${name.toLowerCase()}-${Date.now()}` };
    execFileSync(binary, ["init-table"], {
      env: { ...process.env, ...baseEnv, STORIES_TABLE: fixture.table },
      stdio: ["ignore", "ignore", "inherit"],
    });
    process.env[key] = JSON.stringify(fixture);
  }
  return JSON.parse(process.env[key] as string);
}

function awsEnv(endpoint: string, dataDir: string): Record<string, string> {
  const awsDataDir = path.join(dataDir, "aws");
  fs.mkdirSync(awsDataDir, { recursive: true });
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
    AWS_EC2_METADATA_DISABLED: "true",
    STORIES_STORE: "dynamodb",
    STORIES_IDENTITY: "cognito",
    STORIES_DATA_DIR: awsDataDir,
    // The tests subscribe many addresses from one client.
    STORIES_SUBSCRIBE_LIMIT: "0",
    RUST_LOG: "warn",
  };
}

/**
 * An instance of a moto-backed deployment named `name` (its own pool, user and table) whose
 * pages are at `baseURL`, started by `command` with `env` added. Without moto: null.
 */
function instance(name: string, binary: string, root: string, dataDir: string, port: number,
                  command: string, env: Record<string, string>, stage = "") {
  const endpoint = process.env.STORIES_TEST_MOTO_ENDPOINT;
  if (!endpoint) return null;
  const baseEnv = awsEnv(endpoint, dataDir);
  const fixture = deployment(name, binary, baseEnv);
  const site = `http://127.0.0.1:${port}${stage}`;
  return {
    // With its slash, so that the tests' "./login" stays under the stage.
    baseURL: `${site}/`,
    webServer: {
      command,
      cwd: root,
      url: `${site}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
      env: {
        ...baseEnv,
        LEPTOS_SITE_ROOT: path.join(root, "target/site"),
        STORIES_TABLE: fixture.table,
        STORIES_COGNITO_USER_POOL_ID: fixture.poolId,
        STORIES_COGNITO_CLIENT_ID: fixture.clientId,
        ...env,
      },
    },
  };
}

/** A second instance for the AWS-mode journey, a server on `port`. */
export function awsMode(binary: string, root: string, port: number, dataDir: string) {
  return instance("AWS", binary, root, dataDir, port, binary, { LEPTOS_SITE_ADDR: `127.0.0.1:${port}` });
}

/** The Lambda Runtime API emulator on `port` (cargo-lambda, which scripts/setup installs), then
 * once it accepts connections the function, which asks it for events at once (and stops if it
 * can't); and `more` (a command) alongside. The group is stopped together at the end. */
function lambdaCommand(binary: string, root: string, port: number, more = "") {
  const manifest = path.join(root, "server", "Cargo.toml");
  const script =
    `cargo-lambda lambda watch --only-lambda-apis -A 127.0.0.1 -P ${port} --manifest-path "${manifest}" & ` +
    `for i in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.1; done; ` +
    `"${binary}" & ${more ? `${more} & ` : ""}wait`;
  return `bash -c '${script.replace(/'/g, "'\\''")}'`;
}

function lambdaEnv(port: number): Record<string, string> {
  return {
    AWS_LAMBDA_RUNTIME_API: `http://127.0.0.1:${port}/.rt`,
    AWS_LAMBDA_FUNCTION_NAME: "_",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    STORIES_SIGNING_KEY: LAMBDA_SIGNING_KEY,
  };
}

/**
 * The same journey against the binary in Lambda mode, behind the emulator on `port`, which
 * turns the browser's requests into function URL events.
 */
export function lambdaMode(binary: string, root: string, port: number, dataDir: string) {
  return instance("LAMBDA", binary, root, dataDir, port, lambdaCommand(binary, root, port), lambdaEnv(port));
}

/**
 * And behind an API Gateway REST API called on its execute-api host, under the stage `/prod`:
 * end2end/rest-api-stage.mjs on `port` makes the browser's requests REST API events for the
 * function, through the emulator on `lambdaPort`.
 */
export function restApiMode(binary: string, root: string, port: number, lambdaPort: number, dataDir: string) {
  // Binary media types `*/*`, as docs/aws.md says to set them.
  const stage =
    `REST_PORT=${port} REST_LAMBDA_URL=http://127.0.0.1:${lambdaPort} REST_STAGE=prod REST_BINARY_MEDIA_TYPES='*/*' ` +
    `node "${path.join(root, "end2end", "rest-api-stage.mjs")}"`;
  return instance("REST", binary, root, dataDir, port, lambdaCommand(binary, root, lambdaPort, stage), lambdaEnv(lambdaPort), "/prod");
}
