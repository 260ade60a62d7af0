import { test, expect } from "@playwright/test";
import { ALREADY, SUCCESS, expectHomePage, subscribe, uniqueEmail } from "./helpers";

test.use({ javaScriptEnabled: false });

test("reads a story without JavaScript", async ({ page }) => {
  await page.goto("/");
  await expectHomePage(page);
  await page.getByRole("link", { name: "Read Story: Welcome to Serverless Stories" }).click();
  await expect(page).toHaveURL(/\/post\/welcome-to-serverless-stories\/$/);
  await expect(page.getByRole("heading", { level: 1, name: "Welcome to Serverless Stories" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "How this site works" })).toBeVisible();
});

test("subscribes, then is told about the duplicate, without JavaScript", async ({ page }) => {
  const email = uniqueEmail("nojs");
  await page.goto("/");
  await subscribe(page, email);
  await expect(page.getByRole("status")).toHaveText(SUCCESS);
  await expect(page.getByLabel("Email address")).toHaveCount(0);

  await page.goto("/");
  await subscribe(page, email);
  await expect(page.getByRole("alert")).toHaveText(ALREADY);
});

test("an invalid address is refused with a message and kept in the field, without JavaScript", async ({ page }) => {
  await page.goto("/");
  await subscribe(page, "still not an email");
  await expect(page.getByRole("alert")).toContainText("Please enter a valid email address");
  await expect(page.getByLabel("Email address")).toHaveValue("still not an email");
});
