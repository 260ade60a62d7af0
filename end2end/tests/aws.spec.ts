import { test, expect } from "@playwright/test";
import { AWS_TEMPORARY_PASSWORD, AWS_USER } from "../aws-mode";
import { failOnPageErrors, open, subscribe, uniqueEmail, SUCCESS } from "./helpers";

failOnPageErrors();

// Runs against the instance configured with STORIES_STORE=dynamodb and STORIES_IDENTITY=cognito
// (moto), as a Cognito user created with a temporary password: project "aws" a server, project
// "lambda" the binary in Lambda mode behind cargo-lambda's function URL emulation.
test("AWS mode: a Cognito admin chooses a new password, a visitor subscribes, the admin sees it", async ({ page }) => {
  const email = uniqueEmail("aws");

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

  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole("heading", { level: 2, name: "List of Subscribers" })).toBeVisible();
  await expect(page.getByRole("cell", { name: email })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("1 subscriber.");
});
