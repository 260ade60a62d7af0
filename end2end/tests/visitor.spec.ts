import { test, expect } from "@playwright/test";
import { ALREADY, SUCCESS, expectHomePage, failOnPageErrors, open, subscribe, uniqueEmail } from "./helpers";

failOnPageErrors();

test("reads a story and comes back to the top stories", async ({ page }) => {
  await open(page, "/");
  await expectHomePage(page);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Serverless Stories" })).toBeVisible();

  await page.getByRole("link", { name: "Read Story: Function as a Service: The Next Big Thing" }).click();
  await expect(page).toHaveURL(/\/post\/function-as-a-service\/$/);
  await expect(page.getByRole("heading", { level: 1, name: "Function as a Service: The Next Big Thing" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "Anatomy of a function" })).toBeVisible();
  await expect(page).toHaveTitle("Function as a Service: The Next Big Thing · Serverless Stories");
  await expect(page.getByRole("img", { name: /lambda sign/ })).toBeVisible();

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Top Stories" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expectHomePage(page);
});

test("subscribes without a reload, and the form gives way to the success alert", async ({ page }) => {
  await open(page, "/");
  let reloaded = false;
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) reloaded = true;
  });
  await subscribe(page, uniqueEmail("new"));
  await expect(page.getByRole("status")).toHaveText(SUCCESS);
  await expect(page.getByLabel("Email address")).toHaveCount(0);
  expect(reloaded).toBe(false);
});

test("a second subscribe of the same address, in other letter case, is already subscribed", async ({ page }) => {
  // + and & too: the form is sent with fetch, form-encoded, and a lost escape would turn + into
  // a space (an invalid address) or cut the address at &.
  const email = uniqueEmail("dup+tag&x");
  await open(page, "/");
  await subscribe(page, email);
  await expect(page.getByRole("status")).toHaveText(SUCCESS);

  await open(page, "/");
  await subscribe(page, email.toUpperCase());
  await expect(page.getByRole("alert")).toHaveText(ALREADY);
  await expect(page.getByLabel("Email address")).toHaveValue(email.toUpperCase());
});

test("an invalid address gets a specific message and keeps what was typed", async ({ page }) => {
  await open(page, "/");
  await subscribe(page, "not-an-email");
  await expect(page.getByRole("alert")).toContainText("Please enter a valid email address");
  await expect(page.getByLabel("Email address")).toHaveValue("not-an-email");
  await expect(page.getByLabel("Email address")).toHaveAttribute("aria-invalid", "true");

  await page.getByLabel("Email address").fill("");
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("alert")).toHaveText("Please enter your email address.");
});

test("the submit button is disabled while the request is in flight", async ({ page }) => {
  await open(page, "/");
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/api/subscribe", async (route) => {
    await held;
    await route.continue();
  });
  await page.getByLabel("Email address").fill(uniqueEmail("slow"));
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("button", { name: /Submitting/ })).toBeDisabled();
  release();
  await expect(page.getByRole("status")).toHaveText(SUCCESS);
});

test("an unknown page says so", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1, name: "Page not found" })).toBeVisible();
  await page.getByRole("link", { name: "Back to Top Stories" }).click();
  await expectHomePage(page);
});

test("the newsletter form has one field for people; its honeypot is out of sight and reach", async ({ page }) => {
  await open(page, "/");
  const form = page.locator("form.newsletter-form");
  await expect(form.getByRole("textbox")).toHaveCount(1);
  await expect(form.getByRole("textbox")).toHaveAccessibleName("Email address");
  await expect(form.locator('input[name="website"]')).not.toBeInViewport();
  // Tab goes from the address straight to the button.
  await page.getByLabel("Email address").focus();
  await page.keyboard.press("Tab");
  await expect(form.getByRole("button", { name: "Submit" })).toBeFocused();
});

test("the site's files are named after their content and kept for good; images for a day", async ({ request }) => {
  const page = await (await request.get("/")).text();
  const assets = [...page.matchAll(/\/pkg\/[\w.-]+\.(?:css|js|wasm)/g)].map((match) => match[0]);
  expect(assets.length).toBeGreaterThanOrEqual(3);
  for (const asset of new Set(assets)) {
    expect(asset).toMatch(/\.[\w-]{22}\.(?:css|js|wasm)$/);
    const response = await request.get(asset);
    expect(response.status(), asset).toBe(200);
    expect(response.headers()["cache-control"], asset).toBe("public, max-age=31536000, immutable");
  }
  const icon = await request.get("/favicon.svg");
  expect(icon.headers()["cache-control"]).toBe("public, max-age=86400");
  // Pages are never kept as files are: they name the current files.
  expect((await request.get("/")).headers()["cache-control"] ?? "").not.toContain("immutable");
});
