import { test, expect, Page } from "@playwright/test";
import * as fs from "node:fs";
import { ADMIN_PASSWORD, ADMIN_USER } from "../global-setup";
import { failOnPageErrors, open } from "./helpers";

failOnPageErrors();

const AXE_SOURCE = fs.readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** axe-core's WCAG 2 A/AA rules and best practices (heading order among them) on the page as
 * it is now; every violation is listed with the elements it names. */
async function expectNoViolations(page: Page): Promise<void> {
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

for (const path of ["/", "/post/function-as-a-service/", "/login", "/no-such-page"]) {
  test(`${path} has no accessibility violations`, async ({ page }) => {
    await open(page, path);
    await expectNoViolations(page);
  });
}

test("the newsletter form's answers have no accessibility violations", async ({ page }) => {
  await open(page, "/");
  await page.getByLabel("Email address").fill("not an address");
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expectNoViolations(page);
});

test("the admin page has no accessibility violations", async ({ page }) => {
  await open(page, "/login");
  await page.getByLabel("Username").fill(ADMIN_USER);
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.locator(".subscriber-list")).toHaveAttribute("aria-busy", "false");
  await expectNoViolations(page);
});
