"""Creates what the AWS-mode browser journey needs in moto's Cognito: a user pool, an app
client for USER_PASSWORD_AUTH, the `admin` group and a user with a temporary password in it.
Prints the ids as JSON. Used by playwright.config.ts; needs STORIES_TEST_MOTO_ENDPOINT."""

import json
import os
import sys
import uuid

import botocore.session


def main() -> None:
    endpoint = os.environ.get("STORIES_TEST_MOTO_ENDPOINT")
    if not endpoint:
        sys.exit("STORIES_TEST_MOTO_ENDPOINT is not set (scripts/test starts moto and sets it)")
    username, temporary_password = sys.argv[1], sys.argv[2]
    cognito = botocore.session.get_session().create_client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pool_id = cognito.create_user_pool(PoolName=f"e2e-{uuid.uuid4().hex[:8]}")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool_id, GroupName="admin")
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        TemporaryPassword=temporary_password,
        MessageAction="SUPPRESS",
    )
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName="admin")
    print(json.dumps({"poolId": pool_id, "clientId": client_id}))


if __name__ == "__main__":
    main()
