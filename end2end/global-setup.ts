import { execFileSync } from "node:child_process";
import * as path from "node:path";

export const ADMIN_USER = "e2e-admin";
export const ADMIN_PASSWORD = "e2e correct horse battery";

/** Creates the admin the browser tests log in as, with the CLI users would use. */
export default function globalSetup(): void {
  const binary = process.env.E2E_BINARY ?? path.resolve(__dirname, "../target/debug/serverless-stories");
  // The main server's data dir, and the double opt-in server's.
  for (const dataDir of [process.env.E2E_DATA_DIR, process.env.E2E_DOUBLE_OPT_IN_DATA_DIR]) {
    try {
      execFileSync(binary, ["admin", "add", ADMIN_USER, "--password-stdin"], {
        input: `${ADMIN_PASSWORD}\n`,
        env: { ...process.env, STORIES_DATA_DIR: dataDir, RUST_LOG: "warn" },
        stdio: ["pipe", "ignore", "pipe"],
      });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? "");
      if (!stderr.includes("already exists")) throw error;
    }
  }
}
