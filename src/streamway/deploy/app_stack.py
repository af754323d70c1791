"""The CDK stack for a user's app (``streamway synth|deploy --app`` or ``--handler``): one
function behind a Regional REST API whose catch-all proxy streams, and optionally a function
URL that streams too.

The API is the catch-all ``streamway local --app`` emulates: ``ANY /`` and
``ANY /{proxy+}``, each a Lambda proxy integration with ``responseTransferMode: STREAM`` on
Lambda's response-streaming URI and a 15-minute timeout. Built with ``RestApi`` and
``LambdaIntegration`` (CDK writes the streaming URI itself for STREAM) rather than an OpenAPI
body: two routes need no document, and CloudFormation then checks each method.

Every request body reaches the app byte for byte: the API's binary media type is ``*/*``, so
API Gateway hands bodies to the function base64-encoded and the runtime decodes them. A
streamed response is binary-safe without it.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from streamway.aws_contract import STREAM_MAX_TIMEOUT_MS
from streamway.deploy.app_inputs import NATIVE_ONLY, AppInputError, UserApp
from streamway.deploy.managed_instances import run_on_capacity_provider
from streamway.deploy.settings import DeploySettings
from streamway.deploy.stack_parts import (
    function_options,
    native_function,
    policy_statement,
    rest_api_options,
    usage_plan,
    user_pool,
    web_acl,
)


class AppStack(Stack):
    """Everything ``streamway deploy --app`` creates, from :class:`DeploySettings` (Region,
    Python, CPU, memory, bundle and the API options) and the :class:`UserApp`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        app: UserApp,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        if settings.runtime != "native":
            raise AppInputError(NATIVE_ONLY)
        self.settings = settings
        self.app = app
        environment = {
            **settings.environment,
            **app.environment,
            **app.spec_environment,
            # REST STREAM integrations and RESPONSE_STREAM function URLs both take the
            # streaming answer (prelude + 8 NULs + body).
            "STREAMWAY_LAMBDA_INVOKE_MODE": "response_stream",
        }
        options = function_options(self, "AppFunction", settings, f"streamway app ({app.spec})")
        self.function = native_function(self, "AppFunction", settings, environment, options)
        for statement in app.statements:
            self.function.add_to_role_policy(policy_statement(statement))
        run_on_capacity_provider(self, settings, [self.function])

        self.api = self._api()
        if settings.api_key:
            usage_plan(self, self.api, settings)
        if settings.waf:
            web_acl(self, self.api, settings)
        CfnOutput(self, "InvokeUrl", value=self.api.url, description="The API's stage URL.")
        if app.function_url:
            url = self.function.add_function_url(
                auth_type=lambda_.FunctionUrlAuthType(app.function_url_auth),
                invoke_mode=lambda_.InvokeMode.RESPONSE_STREAM,
            )
            CfnOutput(self, "FunctionUrl", value=url.url, description="The function URL.")

    def _api(self) -> apigateway.RestApi:
        api = apigateway.RestApi(
            self,
            "Api",
            binary_media_types=["*/*"],
            **rest_api_options(self, self.settings),  # type: ignore[arg-type]
        )
        integration = apigateway.LambdaIntegration(
            self.function,
            response_transfer_mode=apigateway.ResponseTransferMode.STREAM,
            timeout=Duration.millis(STREAM_MAX_TIMEOUT_MS),
            # The console's test button would need a permission of its own; curl does not.
            allow_test_invoke=False,
        )
        method_options = self._method_options()
        api.root.add_method("ANY", integration, **method_options)  # type: ignore[arg-type]
        proxy = api.root.add_resource("{proxy+}")
        proxy.add_method("ANY", integration, **method_options)  # type: ignore[arg-type]
        return api

    def _method_options(self) -> dict[str, object]:
        """API key and/or Cognito on both methods, as the options ask."""
        options: dict[str, object] = {"api_key_required": self.settings.api_key}
        if self.settings.cognito:
            authorizer = apigateway.CognitoUserPoolsAuthorizer(
                self, "Authorizer", cognito_user_pools=[user_pool(self, self.settings)]
            )
            options["authorizer"] = authorizer
            options["authorization_type"] = apigateway.AuthorizationType.COGNITO
        return options
