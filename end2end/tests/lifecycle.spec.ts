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

const OUTBOX = path.join(process.env.E2E_DOUBLE_OPT_IN_DATA_DIR ?? "", "outbox");

/** Every mail in the outbox to `to` whose headers include `header` (raw text). */
function mailsTo(to: string, header = ""): string[] {
  const files = fs.existsSync(OUTBOX) ? fs.readdirSync(OUTBOX).filter((f) => f.endsWith(".eml")) : [];
  return files
    .map((file) => fs.readFileSync(path.join(OUTBOX, file), "utf8"))
    .filter((text) => {
      const head = text.split("\r\n\r\n")[0];
      return head.includes(`To: ${to}\r\n`) && head.includes(header);
    });
}

/** The text of the confirmation mail sent to `to` (quoted-printable decoded), once it is in the
 * outbox. */
async function mailTo(to: string): Promise<string> {
  let found = "";
  await expect
    .poll(() => {
      found = mailsTo(to, "Subject: Confirm your subscription")[0] ?? "";
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

async function logIn(page: Page): Promise<void> {
  await open(page, "/login");
  await page.getByLabel("Username").fill(ADMIN_USER);
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

async function adminSees(page: Page, email: string, status: string): Promise<void> {
  await logIn(page);
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
  await expect(page.locator(".subscriber-notice")).toHaveText(`${email} is unsubscribed.`);
  await expect(row.locator("td").nth(1)).toHaveText("Unsubscribed");
  // Its confirmation link no longer confirms.
  await open(page, linkIn(await mailTo(email), "/confirm?token="));
  await page.getByRole("button", { name: "Confirm subscription" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "This link does not work" })).toBeVisible();
});

test("the admin previews a story, sends it to the confirmed list, and watches it go out", async ({ page }) => {
  const TITLE = "Serverless Computing Takes Over the World!";
  // Two confirmed readers and one who never confirmed.
  const confirmed = [uniqueEmail("issue-a"), uniqueEmail("issue-b")];
  const pending = uniqueEmail("issue-pending");
  for (const email of [...confirmed, pending]) {
    await open(page, "/");
    await subscribe(page, email);
    await expect(page.getByRole("status")).toHaveText(CHECK_INBOX);
  }
  for (const email of confirmed) {
    await open(page, linkIn(await mailTo(email), "/confirm?token="));
    await page.getByRole("button", { name: "Confirm subscription" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Subscription confirmed" })).toBeVisible();
  }

  await logIn(page);
  await expect(page.getByRole("heading", { level: 2, name: "Newsletter" })).toBeVisible();
  const story = page.locator(".issue-list li", { has: page.getByRole("heading", { level: 3, name: TITLE }) });
  // A preview first, to an address of the admin's choosing.
  const me = uniqueEmail("issue-preview");
  const previewTo = page.getByLabel("Previews go to");
  await expect(previewTo).toBeEnabled();
  await previewTo.fill(me);
  await story.getByRole("button", { name: "Send a preview" }).click();
  await expect(page.locator(".issue-notice")).toHaveText(`A preview is on its way to ${me}.`);
  await expect.poll(() => mailsTo(me, `Subject: [Preview] ${TITLE}`).length).toBe(1);

  // Send: the button says to how many, and a second press confirms.
  const ask = story.getByRole("button", { name: /^Send to \d+ confirmed subscribers?…$/ });
  await expect(ask).toBeEnabled();
  const n = Number((await ask.textContent())?.match(/\d+/)?.[0]);
  expect(n).toBeGreaterThanOrEqual(confirmed.length);
  await ask.click();
  await expect(story.getByRole("group", { name: "Confirm sending" })).toContainText(`to ${n} confirmed`);
  await story.getByRole("button", { name: "Send now" }).click();
  await expect(page.locator(".issue-notice")).toHaveText(`Sending to ${n} confirmed subscribers.`);
  // The page reads the progress again until it is done.
  await expect(story.getByRole("status")).toHaveText(
    new RegExp(`^Sent: ${n} of ${n} delivered, 0 failed, 0 left the list, 0 to go\\.$`),
  );
  await expect(story.getByRole("button", { name: /confirmed subscriber/ })).toHaveCount(0);

  // Each confirmed reader got one copy with their own unsubscribe link; the pending one none.
  for (const email of confirmed) {
    const copies = mailsTo(email, `Subject: ${TITLE}`);
    expect(copies).toHaveLength(1);
    expect(copies[0]).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click$/m);
    expect(copies[0]).toMatch(/^List-Id: /m);
  }
  expect(mailsTo(pending, `Subject: ${TITLE}`)).toHaveLength(0);

  // Read afresh, the story shows its issue and offers no second send; the overview counts it.
  await page.reload();
  await expect(page.locator(".issue-totals li", { hasText: TITLE })).toContainText(`: ${n} sent, 0 failed`);
  await expect(page.locator(".day-chart figcaption")).toHaveText(/^Last 90 days: \d+ new confirmed subscribers?, \d+ unsubscribes?\./);
  await expect(page.getByRole("img", { name: "Subscribers per day, last 90 days" })).toBeVisible();
  await page.getByText("Numbers per day").click();
  await expect(page.locator(".day-table tbody tr").first().locator("td").nth(1)).not.toHaveText("0");
  await expect(story.getByRole("status")).toHaveText(/^Sent: /);
  await expect(story.getByRole("button", { name: /confirmed subscriber/ })).toHaveCount(0);
});
