# The function: API Gateway (HTTP API, payload 2.0), its function URL (function_url.tf, payload
# 2.0 too) and the SQS work queue all call handlers.aws_lambda.handler, which tells the events
# apart.
#
# Settings (core/config.py) it gets here; every other one keeps its default unless given in
# var.extra_environment:
# - FNPROXY_PLATFORM=aws picks DynamoDB, Secrets Manager, SNS and SQS (STORE_BACKEND,
#   SECRETS_BACKEND, EVENTS_BACKEND and QUEUE_BACKEND are left to that platform column);
# - MODULE_SECRET_KEY itself is never set: MODULE_SECRET_KEY_SECRET_ARN points at the secret
#   (AWSCURRENT signs, AWSPREVIOUS verifies, docs/secrets.md);
# - AWS_REGION is set by the Lambda runtime itself (a reserved variable: it cannot be set here);
# - ASYNC_MAX_RECEIVE_COUNT and the redrive policy's maxReceiveCount both come from
#   var.async_max_receive_count;
# - BLOBS_BUCKET and BLOBS_PREFIX name the archive (blobs.tf); BLOBS_BACKEND is left to the
#   platform column (s3), and BLOBS_RETENTION_DAYS is archive_retention_days only with
#   var.archive_all_parts (0 otherwise: only large parts are archived).

locals {
  # Every variable the module sets (a literal map, so tools can read its names); they win over
  # var.extra_environment.
  lambda_environment = {
    FNPROXY_PLATFORM             = "aws"
    FNPROXY_TABLE                = aws_dynamodb_table.this.name
    EVENTS_TOPIC_ARN             = aws_sns_topic.events.arn
    ASYNC_QUEUE_URL              = aws_sqs_queue.async.url
    ASYNC_DLQ_URL                = aws_sqs_queue.async_dlq.url
    ASYNC_MAX_RECEIVE_COUNT      = tostring(var.async_max_receive_count)
    MODULE_SECRET_KEY_SECRET_ARN = aws_secretsmanager_secret.module_key.arn
    FNPROXY_TRACING              = var.tracing_mode == "Active" ? "true" : "false"
    LOG_LEVEL                    = var.log_level
    FUNCTION_TIMEOUT             = tostring(var.function_timeout_s)
    MAX_BATCH_SIZE               = tostring(var.max_batch_size)
    MAX_RETRIES                  = tostring(var.max_retries)
    RETRY_DELAY                  = tostring(var.retry_delay_s)
    JWT_ISSUER                   = var.jwt_issuer
    JWT_AUDIENCE                 = var.jwt_audience
    TOKEN_TTL_S                  = tostring(var.token_ttl_s)
    HISTORY_RETENTION_DAYS       = tostring(var.history_retention_days)
    EGRESS_ALLOW                 = join(",", var.egress_allow)
    MAX_CONCURRENT_REQUESTS      = tostring(var.max_concurrent_requests)
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    BLOBS_BUCKET                 = aws_s3_bucket.blobs.bucket
    BLOBS_PREFIX                 = var.blobs_prefix
    BLOBS_RETENTION_DAYS         = var.archive_all_parts ? tostring(var.archive_retention_days) : "0"
  }
}

resource "aws_lambda_function" "this" {
  function_name = var.name
  description   = "fnproxy: HTTP API and async worker"
  role          = aws_iam_role.lambda.arn

  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  handler          = "handlers.aws_lambda.handler"
  runtime          = "python3.12" # on Amazon Linux 2023; deploy/build.py builds for it
  architectures    = ["x86_64"]   # the build installs x86_64 wheels

  memory_size                    = var.lambda_memory_mb
  timeout                        = var.lambda_timeout_s
  reserved_concurrent_executions = var.lambda_reserved_concurrency

  kms_key_arn = local.kms_key_arn # encrypts the environment variables at rest

  environment {
    variables = merge(var.extra_environment, local.lambda_environment)
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Asynchronous invocations only (e.g. the function subscribed to an SNS topic directly): an
  # event that still fails after Lambda's retries lands here. API requests and the SQS work
  # queue invoke synchronously and never reach it (the work queue has its own DLQ).
  dead_letter_config {
    target_arn = aws_sqs_queue.lambda_failures.arn
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.function_timeout_s < var.lambda_timeout_s
      error_message = "function_timeout_s (FUNCTION_TIMEOUT) must be below lambda_timeout_s, or the function is cut off before the invocation it waits for times out."
    }
    precondition {
      # LAMBDA_TIMEOUT: the /lambda routes' deadline, core/config.py's 300 s unless set here.
      condition     = tonumber(lookup(var.extra_environment, "LAMBDA_TIMEOUT", "300")) < var.lambda_timeout_s
      error_message = "LAMBDA_TIMEOUT (300 s unless set in extra_environment) must be below lambda_timeout_s, or a /lambda call is cut off by Lambda before fnproxy times it out."
    }
  }

  # The log group (retention, encryption) must exist before Lambda creates a default one, and
  # the role must be able to write to it and to the dead-letter queue.
  depends_on = [
    aws_cloudwatch_log_group.lambda,
    aws_iam_role_policy.lambda,
  ]
}
