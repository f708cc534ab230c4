# A Lambda function URL on the function, for sync calls longer than API Gateway allows: the HTTP
# API's integration gives up after 30 s (the caller gets a 503 while the run goes on), a function
# URL waits for the function's whole timeout (lambda_timeout_s, at most 15 minutes). Same app,
# same routes and answers as behind the HTTP API.
#
# Auth type NONE: fnproxy checks its own JWT on every route but /health, /openapi.json and /docs
# (as behind the HTTP API, whose route has no authorizer either); IAM auth would make every
# caller sign with AWS credentials. No cors block: CORS is off, fnproxy serves no browser origin.
#
# Since AWS's October 2025 change a public URL needs two statements in the function's resource
# policy: lambda:InvokeFunctionUrl for auth type NONE, and lambda:InvokeFunction only through a
# function URL (lambda:InvokedViaFunctionUrl). Without the second the URL answers 403. The
# provider writes both when it creates a URL of auth type NONE, outside Terraform's state; the
# second is also written below, in the state, so a plan shows it and an apply puts it back if it
# is removed (invoked_via_function_url needs hashicorp/aws >= 6.28).

resource "aws_lambda_function_url" "this" {
  # checkov:skip=CKV_AWS_258:fnproxy authenticates every request itself (its own JWTs, scopes per route), as on the HTTP API route (CKV_AWS_309); IAM auth would make every caller sign requests with AWS credentials
  count = var.function_url_enabled ? 1 : 0

  function_name      = aws_lambda_function.this.function_name
  authorization_type = "NONE" # fnproxy checks its own JWT on every route
  invoke_mode        = "BUFFERED"
}

resource "aws_lambda_permission" "function_url_invoke" {
  # checkov:skip=CKV_AWS_301:public only through the function URL (invoked_via_function_url), whose requests fnproxy authenticates itself; a direct lambda:Invoke by anyone is not allowed by this statement
  count = var.function_url_enabled ? 1 : 0

  statement_id             = "FnproxyFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = aws_lambda_function.this.function_name
  principal                = "*"
  invoked_via_function_url = true
}
