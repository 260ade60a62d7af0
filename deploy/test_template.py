#!/usr/bin/env python3
"""Checks deploy/template.yaml without an AWS account: cfn-lint is clean, the SAM transform expands
it offline (aws-sam-translator), the function's role allows exactly the table actions docs/aws.md
lists on that table and reading the key's secret, and moto's CloudFormation (a moto of the test's
own) creates the table from the expanded template. Run by scripts/test."""

import json
import os
import re
import subprocess
import unittest
import uuid

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TEMPLATE = os.path.join(HERE, "template.yaml")


class NoManagedPolicies:
    """The template names no managed policies by name: nothing to look up in IAM."""

    def load(self):
        return {}


def expanded():
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(TEMPLATE) as f:
        template = yaml_parse(f.read())
    # `sam deploy` uploads the zip and puts its S3 location here.
    template["Resources"]["Function"]["Properties"]["CodeUri"] = "s3://stories-artifacts/serverless-stories.zip"
    return transform(template, {}, NoManagedPolicies())


def documented_table_actions():
    """The actions docs/aws.md says an instance needs (the sentence "needs `dynamodb:GetItem`, …")."""
    with open(os.path.join(ROOT, "docs", "aws.md")) as f:
        text = " ".join(f.read().split())
    sentence = re.search(r"needs (`dynamodb:GetItem`.*?) on the table", text).group(1)
    return {"dynamodb:" + name.split(":")[-1] for name in re.findall(r"`([\w:]+)`", sentence)}


class Template(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = expanded()
        cls.resources = cls.template["Resources"]

    def of_type(self, kind):
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    def test_cfn_lint_is_clean(self):
        lint = subprocess.run(["cfn-lint", TEMPLATE], capture_output=True, text=True)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_the_role_allows_exactly_the_documented_table_actions_and_the_secret(self):
        roles = self.of_type("AWS::IAM::Role")
        self.assertEqual(sorted(roles), ["FunctionDeliverIssuesRole", "FunctionRole"])
        role = roles["FunctionRole"]["Properties"]
        # SAM's own: writing logs, nothing else.
        self.assertEqual(
            role["ManagedPolicyArns"],
            ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
        )
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        self.assertEqual(len(statements), 3, statements)
        table, secret, mail = statements
        self.assertEqual(table["Effect"], "Allow")
        self.assertEqual(set(table["Action"]), documented_table_actions())
        self.assertEqual(table["Resource"], {"Fn::GetAtt": ["EmailsTable", "Arn"]})
        self.assertEqual(secret["Action"], "secretsmanager:GetSecretValue")
        self.assertEqual(secret["Resource"], {"Ref": "SigningKeySecret"})
        # SES only with a sender, and only from this account's identities.
        condition, allowed, otherwise = mail["Fn::If"]
        self.assertEqual(condition, "HasMailFrom")
        self.assertEqual(set(allowed["Action"]), {"ses:SendEmail", "ses:SendRawEmail"})
        self.assertIn(":identity/*", allowed["Resource"]["Fn::Sub"])
        self.assertEqual(otherwise, {"Ref": "AWS::NoValue"})

    def test_a_schedule_delivers_issues_and_may_only_invoke_the_function(self):
        schedule = self.resources["FunctionDeliverIssues"]["Properties"]
        self.assertEqual(schedule["ScheduleExpression"], "rate(1 minute)")
        self.assertEqual(schedule["Target"]["Arn"], {"Fn::GetAtt": ["Function", "Arn"]})
        self.assertEqual(json.loads(schedule["Target"]["Input"]), {"serverless-stories": "deliver-issues"})
        role = self.resources["FunctionDeliverIssuesRole"]["Properties"]
        principal = role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        self.assertEqual(principal, {"Service": ["scheduler.amazonaws.com"]})
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        self.assertEqual(statements, [{"Action": "lambda:InvokeFunction", "Effect": "Allow",
                                       "Resource": {"Fn::GetAtt": ["Function", "Arn"]}}])
        # Long enough to send for most of a minute; HTTP requests end at API Gateway's 30 s.
        self.assertEqual(self.resources["Function"]["Properties"]["Timeout"], 60)

    def test_the_table_is_the_originals_kept_and_recoverable(self):
        table = self.resources["EmailsTable"]
        self.assertEqual(table["DeletionPolicy"], "Retain")
        props = table["Properties"]
        self.assertEqual(props["KeySchema"], [{"AttributeName": "email", "KeyType": "HASH"}])
        self.assertEqual(props["BillingMode"], "PAY_PER_REQUEST")
        self.assertTrue(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"])
        # Unconfirmed subscriptions expire through the TTL attribute the store writes.
        self.assertEqual(
            props["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True}
        )

    def test_the_function_runs_in_lambda_mode_on_the_stacks_backends(self):
        function = self.resources["Function"]["Properties"]
        self.assertEqual((function["Runtime"], function["Handler"]), ("provided.al2023", "bootstrap"))
        self.assertEqual(function["Architectures"], [{"Ref": "Architecture"}])
        env = function["Environment"]["Variables"]
        self.assertEqual(env["STORIES_STORE"], "dynamodb")
        # The user pool, unless an OpenID Connect issuer is given (then its settings too).
        self.assertEqual(env["STORIES_IDENTITY"], {"Fn::If": ["UsesOidc", "oidc", "cognito"]})
        for setting, parameter in [
            ("ISSUER", "OidcIssuer"),
            ("CLIENT_ID", "OidcClientId"),
            ("ADMIN_CLAIM", "OidcAdminClaim"),
            ("ADMIN_VALUE", "OidcAdminValue"),
            ("PROVIDER_NAME", "OidcProviderName"),
        ]:
            self.assertEqual(
                env[f"STORIES_OIDC_{setting}"],
                {"Fn::If": ["UsesOidc", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]},
            )
        self.assertEqual(env["STORIES_TABLE"], {"Ref": "EmailsTable"})
        self.assertEqual(env["STORIES_SIGNING_KEY_SECRET"], {"Ref": "SigningKeySecret"})
        self.assertNotIn("STORIES_SIGNING_KEY", env)
        # Every request reaches the function through the HTTP API's $default route and stage.
        self.assertEqual(len(self.of_type("AWS::ApiGatewayV2::Api")), 1)
        self.assertEqual(len(self.of_type("AWS::Lambda::Permission")), 1)

    def test_the_pool_has_no_self_sign_up_and_a_public_client(self):
        pool = self.resources["UserPool"]["Properties"]
        self.assertTrue(pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"])
        client = self.resources["UserPoolClient"]["Properties"]
        self.assertFalse(client["GenerateSecret"])
        self.assertIn("ALLOW_USER_PASSWORD_AUTH", client["ExplicitAuthFlows"])
        self.assertEqual(self.resources["AdminGroup"]["Properties"]["GroupName"], "admin")

    def test_the_generated_key_can_only_be_hex(self):
        generate = self.resources["SigningKeySecret"]["Properties"]["GenerateSecretString"]
        alphabet = set("abcdefghijklmnopqrstuvwxyz0123456789")
        if generate.get("ExcludeUppercase") is not True or generate.get("ExcludePunctuation") is not True:
            self.fail("upper case and punctuation must be excluded")
        left = alphabet - set(generate["ExcludeCharacters"])
        self.assertEqual(left, set("0123456789abcdef"))
        self.assertEqual(generate["PasswordLength"], 64)

    def test_cloudformation_creates_the_table_from_the_expanded_template(self):
        import boto3
        from moto.server import ThreadedMotoServer

        # A moto of its own: the function it creates stays in moto's models for good (and breaks
        # the data endpoint the mail tests read from the shared one).
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        self.addCleanup(server.stop)
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="stories-artifacts")
        s3.put_object(Bucket="stories-artifacts", Key="serverless-stories.zip", Body=b"PK\x05\x06" + b"\0" * 18)
        # moto skips what it doesn't know (Cognito, the HTTP API) with a warning: only the table
        # is checked here; the pool is created through its API in the other tests.
        stack = f"stories-{uuid.uuid4().hex[:8]}"
        cloudformation = session.client("cloudformation", endpoint_url=endpoint)
        cloudformation.create_stack(StackName=stack, TemplateBody=json.dumps(self.template),
                                    Capabilities=["CAPABILITY_IAM"])
        table = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId="EmailsTable")
        name = table["StackResourceDetail"]["PhysicalResourceId"]
        dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        described = dynamodb.describe_table(TableName=name)["Table"]
        self.assertEqual(described["KeySchema"], [{"AttributeName": "email", "KeyType": "HASH"}])
        self.assertEqual(described["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST")


if __name__ == "__main__":
    unittest.main(verbosity=2)
