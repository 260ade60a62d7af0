import { test, expect } from "@playwright/test";
import { AWS_TEMPORARY_PASSWORD, AWS_USER } from "../aws-mode";
import { failOnPageErrors, open, subscribe, uniqueEmail, SUCCESS } from "./helpers";

failOnPageErrors();

// Runs against the instance configured with STORIES_STORE=dynamodb and STORIES_IDENTITY=cognito
// (moto), as a Cognito user created with a temporary password: project "aws" a server, project
// "lambda" the binary in Lambda mode behind cargo-lambda's function URL emulation, "rest-api"
// the same function behind a REST API, under its stage (baseURL …/prod/).
test("AWS mode: a Cognito admin chooses a new password, a visitor subscribes, the admin sees it", async ({ page, baseURL }) => {
  const email = uniqueEmail("aws");
  // Every request of the site's pages, scripts and calls stays under the base path (the stage),
  // and only API calls are refused (the mismatched new password): a script, style or call that
  // missed the stage would show here.
  const site = new URL(baseURL as string);
  const api = `${site.pathname}api/`;
  const astray: string[] = [];
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (url.origin !== site.origin) return;
    const status = response.status();
    const refused = status >= 500 || (status >= 400 && !url.pathname.startsWith(api));
    if (!url.pathname.startsWith(site.pathname) || refused) {
      astray.push(`${response.status()} ${url.pathname}`);
    }
  });

  await open(page, "/");
  await subscribe(page, email);
  await expect(page.getByRole("status")).toHaveText(SUCCESS);

  await open(page, "/login");
  await page.getByLabel("Username").fill(AWS_USER);
  await page.getByLabel("Password").fill(AWS_TEMPORARY_PASSWORD);
  await page.getByRole("button", { name: "Submit" }).click();

  await expect(page.getByRole("heading", { level: 1, name: "Choose a new password" })).toBeVisible();
  await page.getByLabel("New password", { exact: true }).fill("Chosen-Password-7");
  await page.getByLabel("Confirm new password").fill("Chosen-Password-8");
  await page.getByRole("button", { name: "Submit" }).click();
  await expect(page.getByRole("alert")).toHaveText("The passwords do not match.");
  await page.getByLabel("Confirm new password").fill("Chosen-Password-7");
  await page.getByRole("button", { name: "Submit" }).click();

  await expect(page).toHaveURL(new URL("admin", site).href);
  await expect(page.getByRole("heading", { level: 2, name: "List of Subscribers" })).toBeVisible();
  await expect(page.getByRole("cell", { name: email })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("1 subscriber.");
  expect(astray).toEqual([]);
});
