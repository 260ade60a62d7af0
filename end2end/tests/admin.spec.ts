import { test, expect, Page } from "@playwright/test";
import { ADMIN_PASSWORD, ADMIN_USER } from "../global-setup";
import { failOnPageErrors, open } from "./helpers";
import * as fs from "node:fs";

failOnPageErrors();

const HOSTILE = '"<img src=x onerror=alert(1)>"@example.com';

async function logIn(page: Page, username = ADMIN_USER, password = ADMIN_PASSWORD): Promise<void> {
  await open(page, "/login");
  await expect(page.getByRole("heading", { level: 1, name: "Login" })).toBeVisible();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Submit" }).click();
}

test("/admin without a token goes to the home page", async ({ page }) => {
  await open(page, "/admin");
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { level: 1, name: "Top Stories" })).toBeVisible();
});

test("a wrong password shows the error in the form", async ({ page }) => {
  await logIn(page, ADMIN_USER + "-typo", "not the password");
  await expect(page.getByRole("alert")).toHaveText("Incorrect username or password.");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByRole("link", { name: "Log in" })).toBeVisible();
});

test("an admin logs in, pages through the subscribers, and logs out", async ({ page, request }) => {
  const run = `${Date.now()}`;
  const addresses = Array.from({ length: 11 }, (_, i) => `admin-e2e-${run}-${String(i).padStart(2, "0")}@example.com`);
  for (const email of [...addresses, HOSTILE]) {
    const response = await request.post("/api/subscribe", {
      form: { email },
      headers: { accept: "application/json" },
    });
    expect([200]).toContain(response.status());
  }
  let dialogs = 0;
  page.on("dialog", async (dialog) => {
    dialogs += 1;
    await dialog.dismiss();
  });

  await logIn(page);
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { level: 1, name: "Admin" })).toBeVisible();
  await expect(page.getByRole("heading", { level: 2, name: "List of Subscribers" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("token"))).toBeTruthy();

  // Page through with 10 per page until every address of this run has been seen.
  await page.getByLabel("Per page").selectOption("10");
  await expect(page.getByText(/Showing 1–10\./)).toBeVisible();
  const seen = new Set<string>();
  for (let pages = 0; pages < 1000; pages++) {
    await expect(page.locator("table.subscribers tbody tr").first()).toBeVisible();
    for (const cell of await page.locator("table.subscribers tbody tr td:first-child").allTextContents()) {
      seen.add(cell);
    }
    const next = page.getByRole("button", { name: "Next" });
    if (await next.isDisabled()) break;
    const before = await page.locator("table.subscribers tbody").textContent();
    await next.click();
    await expect(page.locator("table.subscribers tbody")).not.toHaveText(before ?? "");
  }
  for (const email of addresses) expect(seen).toContain(email);
  // Times as people read them; the exact one in the element's datetime.
  const time = page.locator("table.subscribers tbody tr td time").first();
  await expect(time).toHaveText(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
  expect(await time.getAttribute("datetime")).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
  // The address with markup in it is shown as text and never runs.
  expect(seen).toContain(HOSTILE);
  await expect(page.locator("table.subscribers img")).toHaveCount(0);
  expect(dialogs).toBe(0);

  await page.getByRole("button", { name: "Previous" }).click();
  await expect(page.locator("table.subscribers tbody tr").first()).toBeVisible();

  // The session survives a reload; the navbar knows it on every page.
  await page.reload();
  await page.waitForLoadState("networkidle");
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
  await open(page, "/post/function-as-a-service/");
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();

  const token = await page.evaluate(() => localStorage.getItem("token"));
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("link", { name: "Log in" })).toBeVisible();
  expect(await page.evaluate(() => localStorage.getItem("token"))).toBeNull();
  expect(await page.evaluate(() => localStorage.getItem("credentials"))).toBeNull();
  await open(page, "/admin");
  await expect(page).toHaveURL(/\/$/);
  // The server ended the session too: the token the browser had no longer gets credentials.
  const after = await request.post("/api/credentials", {
    form: { token: token ?? "" },
    headers: { accept: "application/json" },
  });
  expect(after.status()).toBe(401);
});

test("the page size is inert until the island is ready, and a size chosen while the first page loads wins", async ({ page, request }) => {
  const run = `${Date.now()}`;
  for (let i = 0; i < 12; i++) {
    const response = await request.post("/api/subscribe", {
      form: { email: `race-e2e-${run}-${i}@example.com` },
      headers: { accept: "application/json" },
    });
    expect(response.status()).toBe(200);
  }
  await open(page, "/login");
  await page.getByLabel("Username").fill(ADMIN_USER);
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);

  // What a slow network does on a first visit: the admin page's wasm arrives late, and the first
  // page of subscribers (25 per page) later still. (Routing also turns the HTTP cache off.)
  let releaseWasm = () => {};
  const wasmHeld = new Promise<void>((resolve) => (releaseWasm = resolve));
  await page.route(/\/pkg\/.*\.wasm$/, async (route) => {
    await wasmHeld;
    await route.continue();
  });
  let releaseFirstList = () => {};
  const firstListHeld = new Promise<void>((resolve) => (releaseFirstList = resolve));
  let lists = 0;
  await page.route(/\/api\/subscribers\?/, async (route) => {
    lists += 1;
    if (lists === 1) await firstListHeld;
    await route.continue();
  });

  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  const perPage = page.getByLabel("Per page");
  await expect(perPage).toBeDisabled();
  releaseWasm();
  await expect(perPage).toBeEnabled();
  await perPage.selectOption("10");
  await expect(page.getByText(/Showing 1–10\./)).toBeVisible();
  // The first page's answer arrives last: it must not replace the page the admin asked for.
  releaseFirstList();
  await expect.poll(() => lists).toBe(2);
  await expect(page.locator(".subscriber-list")).toHaveAttribute("aria-busy", "false");
  await expect(page.getByText(/Showing 1–10\./)).toBeVisible();
  await expect(page.locator("table.subscribers tbody tr")).toHaveCount(10);
  await expect(perPage).toHaveValue("10");
});

test("an invalid stored token logs out instead of showing the list", async ({ page }) => {
  await open(page, "/");
  await page.evaluate(() => localStorage.setItem("token", JSON.stringify("not-a-jwt")));
  await open(page, "/admin");
  await expect(page).toHaveURL(/\/$/);
  expect(await page.evaluate(() => localStorage.getItem("token"))).toBeNull();
});

test("an admin filters, searches, unsubscribes, deletes with a confirm step, and exports CSV", async ({ page, request }) => {
  const run = `${Date.now()}`;
  const keep = `manage-keep-${run}@example.com`;
  const leave = `manage-leave-${run}@example.com`;
  const erase = `manage-erase-${run}@example.com`;
  for (const email of [keep, leave, erase]) {
    const response = await request.post("/api/subscribe", { form: { email }, headers: { accept: "application/json" } });
    expect(response.status()).toBe(200);
  }
  await logIn(page);
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("list", { name: "Subscribers per status" })).toContainText(/Confirmed: \d+/);

  // Search: only this run's addresses.
  const search = page.getByLabel("Address contains");
  await expect(search).toBeEnabled();
  await search.fill(`-${run}@`);
  await page.getByRole("button", { name: "Search" }).click();
  const rows = page.locator("table.subscribers tbody tr");
  await expect(rows).toHaveCount(3);

  // Unsubscribe one: its row says so, and the status filter finds it.
  await rows.filter({ hasText: leave }).getByRole("button", { name: "Unsubscribe" }).click();
  await expect(page.locator(".subscriber-notice")).toHaveText(`${leave} is unsubscribed.`);
  await expect(rows.filter({ hasText: leave }).locator("td").nth(1)).toHaveText("Unsubscribed");
  await page.getByLabel("Show").selectOption("unsubscribed");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toContainText(leave);
  await page.getByLabel("Show").selectOption("");
  await expect(rows).toHaveCount(3);

  // Delete asks first; cancel keeps the row, confirming erases it.
  const doomed = rows.filter({ hasText: erase });
  await doomed.getByRole("button", { name: "Delete…" }).click();
  await expect(doomed.getByRole("alert")).toContainText("Erase every record of this address?");
  await doomed.getByRole("button", { name: "Cancel" }).click();
  await expect(doomed.getByRole("button", { name: "Delete…" })).toBeVisible();
  await doomed.getByRole("button", { name: "Delete…" }).click();
  await doomed.getByRole("button", { name: "Erase" }).click();
  await expect(page.locator(".subscriber-notice")).toHaveText(`Every record of ${erase} is erased.`);
  await expect(rows).toHaveCount(2);

  // Export: a CSV download of what is shown (here: the search).
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Export CSV" }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^subscribers-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = fs.readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split("\r\n");
  expect(lines[0]).toBe("email,status,subscribed_at,confirmed_at,unsubscribed_at");
  expect(lines).toHaveLength(3);
  expect(lines.some((line) => line.startsWith(`${keep},confirmed,`))).toBe(true);
  expect(lines.some((line) => line.startsWith(`${leave},unsubscribed,`))).toBe(true);
});
