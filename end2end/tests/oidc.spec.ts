import { test, expect, Page, Browser } from "@playwright/test";
import { expectNoViolations, failOnPageErrors, open, uniqueEmail } from "./helpers";

// An instance signing admins in at a real OpenID Connect provider (end2end/oidc-provider.mjs,
// npm oidc-provider, started by scripts/test): its own login page, PKCE, its end-session page.
// The provider makes `admin…` logins admins (groups: ["admin"]) and anyone else a reader.
failOnPageErrors();

const PROVIDER = "Test Provider";

async function signInAtProvider(page: Page, login: string): Promise<void> {
  await open(page, "/login");
  await expect(page.getByRole("heading", { level: 1, name: "Login" })).toBeVisible();
  await page.getByRole("link", { name: `Log in with ${PROVIDER}` }).click();
  // The provider's own page.
  await expect(page.getByRole("heading", { name: "Sign-in" })).toBeVisible();
  await page.getByLabel("Username").fill(login);
  await page.getByRole("button", { name: "Sign-in" }).click();
}

test("an admin signs in at the provider, sees the list, and logs out here and there", async ({ page, request }) => {
  const email = uniqueEmail("oidc-reader");
  const subscribed = await request.post("/api/subscribe", {
    form: { email },
    headers: { accept: "application/json" },
  });
  expect(subscribed.status()).toBe(200);

  await signInAtProvider(page, "admin@example.test");
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { level: 2, name: "List of Subscribers" })).toBeVisible();
  await expect(page.getByRole("cell", { name: email })).toBeVisible();
  // The landing page put the session in local storage, and left no cookie behind.
  expect(await page.evaluate(() => localStorage.getItem("token"))).toBeTruthy();
  expect((await page.context().cookies()).filter((c) => c.name.startsWith("stories_"))).toEqual([]);

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login\?signed_out=provider$/);
  await expect(page.getByText(`You may still be signed in at ${PROVIDER}.`)).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("token"))).toBeNull();
  await page.getByRole("link", { name: `Log out of ${PROVIDER} too` }).click();
  await page.getByRole("button", { name: "Yes, sign me out" }).click();
  // Back on our login page; signing in again asks the provider for the login again.
  await expect(page).toHaveURL(/\/login$/);
  await page.getByRole("link", { name: `Log in with ${PROVIDER}` }).click();
  await expect(page.getByRole("heading", { name: "Sign-in" })).toBeVisible();
});

test("a member of very many groups (a 10 KB ID token) signs in too", async ({ page }) => {
  await signInAtProvider(page, "admin-many-groups@example.test");
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { level: 2, name: "List of Subscribers" })).toBeVisible();
  const token = await page.evaluate(() => localStorage.getItem("token"));
  expect(token?.length).toBeGreaterThan(8000);
});

test("a user who is not an admin by the claim is told so instead of the list", async ({ page }) => {
  await signInAtProvider(page, "bob");
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByText("Your account is not an admin of this site.").first()).toBeVisible();
  await expect(page.locator("table.subscribers")).toHaveCount(0);
});

test("cancelling at the provider comes back to the login page with a message", async ({ page }) => {
  await open(page, "/login");
  await page.getByRole("link", { name: `Log in with ${PROVIDER}` }).click();
  await page.getByRole("link", { name: "Cancel" }).click();
  await expect(page).toHaveURL(/\/login\?failed=declined$/);
  await expect(page.getByRole("alert")).toHaveText("The sign-in was cancelled or refused at the provider.");
  await expectNoViolations(page);
  await open(page, "/login?signed_out=provider");
  await expectNoViolations(page);
});

test("the sign-in itself needs no JavaScript", async ({ browser }: { browser: Browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/login");
  await page.getByRole("link", { name: `Log in with ${PROVIDER}` }).click();
  await page.getByLabel("Username").fill("admin@example.test");
  await page.getByRole("button", { name: "Sign-in" }).click();
  // Signed in; the page says what the admin page itself needs.
  await expect(page.getByRole("heading", { level: 1, name: "Signed in" })).toBeVisible();
  await expect(page.getByText("The admin page needs JavaScript")).toBeVisible();
  await expect(page.getByRole("link", { name: "Continue to the admin page" })).toHaveAttribute("href", "/admin");
  expect(page.url()).not.toContain("token");
  await context.close();
});
