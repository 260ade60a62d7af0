import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export const AWS_USER = "e2e-cognito-admin";
export const AWS_TEMPORARY_PASSWORD = "Temporary-Pass-1";

/**
 * A second instance for the AWS-mode journey: DynamoDB and a Cognito user pool in moto
 * (scripts/test starts moto and sets STORIES_TEST_MOTO_ENDPOINT). The pool, user and table are
 * created once, when the runner first reads the config; workers re-read the config and reuse
 * them through E2E_AWS_FIXTURE. Without moto there is no AWS instance: returns null.
 */
export function awsMode(binary: string, root: string, port: number, dataDir: string) {
  const endpoint = process.env.STORIES_TEST_MOTO_ENDPOINT;
  if (!endpoint) return null;
  const awsDataDir = path.join(dataDir, "aws");
  fs.mkdirSync(awsDataDir, { recursive: true });
  const baseEnv = {
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
  if (!process.env.E2E_AWS_FIXTURE) {
    const created = execFileSync("python3", [path.join(__dirname, "aws-fixture.py"), AWS_USER, AWS_TEMPORARY_PASSWORD], {
      encoding: "utf8",
    });
    const fixture = { ...JSON.parse(created), table: `Emails-e2e-${Date.now()}` };
    execFileSync(binary, ["init-table"], {
      env: { ...process.env, ...baseEnv, STORIES_TABLE: fixture.table },
      stdio: ["ignore", "ignore", "inherit"],
    });
    process.env.E2E_AWS_FIXTURE = JSON.stringify(fixture);
  }
  const fixture = JSON.parse(process.env.E2E_AWS_FIXTURE as string);
  const baseURL = `http://127.0.0.1:${port}`;
  return {
    baseURL,
    webServer: {
      command: binary,
      cwd: root,
      url: `${baseURL}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore" as const,
      stderr: "pipe" as const,
      env: {
        ...baseEnv,
        LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
        LEPTOS_SITE_ROOT: path.join(root, "target/site"),
        STORIES_TABLE: fixture.table,
        STORIES_COGNITO_USER_POOL_ID: fixture.poolId,
        STORIES_COGNITO_CLIENT_ID: fixture.clientId,
      },
    },
  };
}
