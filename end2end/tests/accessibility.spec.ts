import { test, expect, Page } from "@playwright/test";
import { ADMIN_PASSWORD, ADMIN_USER } from "../global-setup";
import { expectNoViolations, failOnPageErrors, open } from "./helpers";

failOnPageErrors();

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
