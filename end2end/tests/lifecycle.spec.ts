// The subscriber lifecycle in the browser, on the server with double opt-in on (its outbox is
// where these tests read the mail): subscribe, check your inbox, open the mail's link, confirm,
// and the admin sees the address confirmed; leave through the mail's unsubscribe link. With and
// without JavaScript.
import { test, expect, Page } from "@playwright/test";
import * as fs from "node:fs";
import * as path from "node:path";
import { ADMIN_PASSWORD, ADMIN_USER } from "../global-setup";
import { failOnPageErrors, open, subscribe, uniqueEmail } from "./helpers";

failOnPageErrors();

const CHECK_INBOX = "Almost done: check your inbox to confirm your subscription.";

/** The text of the mail sent to `to` (quoted-printable decoded), once it is in the outbox. */
async function mailTo(to: string): Promise<string> {
  const outbox = path.join(process.env.E2E_DOUBLE_OPT_IN_DATA_DIR ?? "", "outbox");
  let found = "";
  await expect
    .poll(() => {
      const files = fs.existsSync(outbox) ? fs.readdirSync(outbox).filter((f) => f.endsWith(".eml")) : [];
      for (const file of files) {
        const text = fs.readFileSync(path.join(outbox, file), "utf8");
        if (text.includes(`To: ${to}\r\n`)) found = text;
      }
      return found !== "";
    })
    .toBe(true);
  const [head, ...rest] = found.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n");
  if (!/Content-Transfer-Encoding: quoted-printable/i.test(head)) return found;
  const decoded = body
    .replace(/=\r\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return `${head}\r\n\r\n${decoded}`;
}

/** The mail's link to `path`, as a path on the server under test. */
function linkIn(mail: string, path: string): string {
  const url = mail.split(/\s+/).find((word) => word.startsWith("http") && word.includes(path));
  expect(url, `a ${path} link in the mail`).toBeTruthy();
  const parsed = new URL(url ?? "");
  return parsed.pathname + parsed.search;
}

async function adminSees(page: Page, email: string, status: string): Promise<void> {
  await open(page, "/login");
  await page.getByLabel("Username").fill(ADMIN_USER);
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page).toHaveURL(/\/admin$/);
  const search = page.getByLabel("Address contains");
  await expect(search).toBeEnabled();
  await search.fill(email);
  await page.getByRole("button", { name: "Search" }).click();
  const row = page.locator("table.subscribers tbody tr", { hasText: email });
  await expect(row).toHaveCount(1);
  await expect(row.locator("td").nth(1)).toHaveText(status);
}

test("a visitor subscribes, confirms from the mail, and the admin sees them confirmed", async ({ page }) => {
  const email = uniqueEmail("opt-in");
  await open(page, "/");
  await subscribe(page, email);
  await expect(page.getByRole("status")).toHaveText(CHECK_INBOX);

  const mail = await mailTo(email);
  expect(mail).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
  await open(page, linkIn(mail, "/confirm?token="));
  await expect(page.getByRole("heading", { level: 1, name: "Confirm your subscription" })).toBeVisible();
  await page.getByRole("button", { name: "Confirm subscription" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Subscription confirmed" })).toBeVisible();
  await expect(page).toHaveURL(/\/confirm\?result=confirmed$/);

  await adminSees(page, email, "Confirmed");
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("subscribe, confirm and unsubscribe through the mail's links", async ({ page }) => {
    const email = uniqueEmail("opt-in-nojs");
    await open(page, "/");
    await subscribe(page, email);
    await expect(page).toHaveURL(/\/\?subscribe=check-inbox#newsletter$/);
    await expect(page.getByText(CHECK_INBOX)).toBeVisible();

    const mail = await mailTo(email);
    await open(page, linkIn(mail, "/confirm?token="));
    await page.getByRole("button", { name: "Confirm subscription" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Subscription confirmed" })).toBeVisible();

    await open(page, linkIn(mail, "/unsubscribe?token="));
    await expect(page.getByRole("heading", { level: 1, name: "Unsubscribe from the newsletter" })).toBeVisible();
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "You are unsubscribed" })).toBeVisible();
    // The link again: already done, said plainly.
    await open(page, linkIn(mail, "/unsubscribe?token="));
    await page.getByRole("button", { name: "Unsubscribe" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Already unsubscribed" })).toBeVisible();
  });

  test("a forged link says it does not work", async ({ page }) => {
    await open(page, `/confirm?token=${"A".repeat(43)}`);
    await page.getByRole("button", { name: "Confirm subscription" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "This link does not work" })).toBeVisible();
  });
});

test("the admin unsubscribes a pending address (the lifecycle's admin view)", async ({ page }) => {
  const email = uniqueEmail("opt-in-admin");
  await open(page, "/");
  await subscribe(page, email);
  await expect(page.getByRole("status")).toHaveText(CHECK_INBOX);
  await adminSees(page, email, "Pending");
  const row = page.locator("table.subscribers tbody tr", { hasText: email });
  await row.getByRole("button", { name: "Unsubscribe" }).click();
  await expect(page.locator(".admin-notice")).toHaveText(`${email} is unsubscribed.`);
  await expect(row.locator("td").nth(1)).toHaveText("Unsubscribed");
  // Its confirmation link no longer confirms.
  await open(page, linkIn(await mailTo(email), "/confirm?token="));
  await page.getByRole("button", { name: "Confirm subscription" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "This link does not work" })).toBeVisible();
});
