import { test, expect, Page } from "@playwright/test";

export const SUCCESS = "You have successfully subscribed to the newsletter!";
export const ALREADY = "You are already subscribed.";

/** A fresh address per test run, so reruns against one data dir don't collide. */
export function uniqueEmail(tag: string): string {
  return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

/** Opens a page and, when JavaScript is on, waits until the wasm has loaded (hydration). */
export async function open(page: Page, path: string): Promise<void> {
  await page.goto(path);
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
