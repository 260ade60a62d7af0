import { test, expect, Page } from "@playwright/test";
import * as fs from "node:fs";

export const SUCCESS = "You have successfully subscribed to the newsletter!";
export const ALREADY = "You are already subscribed.";

/** A fresh address per test run, so reruns against one data dir don't collide. */
export function uniqueEmail(tag: string): string {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Opens a page and, when JavaScript is on, waits until the wasm has loaded (hydration). */
export async function open(page: Page, path: string): Promise<void> {
  // A site path ("/login") relative to the base URL, which may be under a stage ("…/prod/").
  await page.goto(path.startsWith("/") ? `.${path}` : path);
  await page.waitForLoadState("networkidle");
}

export async function subscribe(page: Page, email: string): Promise<void> {
  await page.getByLabel("Email address").fill(email);
  await page.getByRole("button", { name: "Submit" }).click();
}

export async function expectHomePage(page: Page): Promise<void> {
  await expect(page.getByRole("heading", { level: 1, name: "Top Stories" })).toBeVisible();
  await expect(page.getByRole("link", { name: /^Read Story/ })).toHaveCount(3);
}

/** Fails the calling file's tests on hydration problems, wasm panics and console errors. */
export function failOnPageErrors(): void {
  let problems: string[] = [];
  test.beforeEach(async ({ page }) => {
    problems = [];
    // Every Content Security Policy violation (an inline script without its hash, say) fails too.
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
      });
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      // The browser logs failed requests (the 4xx answers these tests provoke) as errors.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        problems.push(`console: ${message.text()}`);
      }
    });
  });
  test.afterEach(() => {
    expect(problems).toEqual([]);
  });
}

const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's WCAG 2 A/AA rules and best practices (heading order among them) on the page as
 * it is now; every violation is listed with the elements it names. */
export async function expectNoViolations(page: Page): Promise<void> {
  // Evaluated through the DevTools protocol: an added <script> would be (rightly) refused by the
  // page's Content Security Policy.
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const axe = (window as any).axe;
    const results = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return results.violations.map(
      (v: { id: string; help: string; nodes: { target: string[] }[] }) =>
        `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`,
    );
  });
  expect(violations).toEqual([]);
}

