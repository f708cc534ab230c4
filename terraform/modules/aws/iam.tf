# The function's role, least privilege: each statement names the actions fnproxy calls (no `*`
# action anywhere) on this module's resources only. The two exceptions with resource "*" are
# actions that take no resource at all: lambda:ListFunctions (GET /v1/providers/aws_lambda/
# functions; only with var.allow_function_listing, since it shows every function of the account
# and region, and without it that route answers 403 forbidden) and X-Ray's
# PutTraceSegments/PutTelemetryRecords (only with tracing on).
#
# lambda:InvokeFunction and lambda:GetFunctionConfiguration are granted on
# var.invocable_function_arns only (and ARN:* for their versions and aliases): fnproxy can
# invoke nothing else. A prefix pattern (function:billing-*) already covers qualifiers.
#
# The archive bucket (blobs.tf): objects under var.blobs_prefix only (get, put, delete: no
# other action on them), and listing only with an s3:prefix inside it.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumesTheRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name}-lambda"
  description        = "fnproxy ${var.name}: the Lambda function's execution role"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
  tags               = var.tags
}

locals {
  invocable_function_arns = distinct(flatten([
    for arn in var.invocable_function_arns : endswith(arn, "*") ? [arn] : [arn, "${arn}:*"]
  ]))
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda.arn}:*"]
  }

  statement {
    sid = "UseTheStoreTable"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:ConditionCheckItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable", # the /health check
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
      # TransactWriteItems has no IAM action of its own: each write in it needs the one above.
    ]
    resources = [
      aws_dynamodb_table.this.arn,
      "${aws_dynamodb_table.this.arn}/index/*",
    ]
  }

  statement {
    sid       = "PublishEvents"
    actions   = ["sns:GetTopicAttributes", "sns:Publish"] # GetTopicAttributes: /health
    resources = [aws_sns_topic.events.arn]
  }

  statement {
    sid = "SendAndConsumeAsyncWork"
    actions = [
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ReceiveMessage",
      "sqs:SendMessage",
    ]
    resources = [aws_sqs_queue.async.arn]
  }

  statement {
    sid     = "SendToDeadLetterQueues"
    actions = ["sqs:SendMessage"]
    resources = [
      aws_sqs_queue.async_dlq.arn,       # malformed messages, copied by the worker
      aws_sqs_queue.lambda_failures.arn, # failed asynchronous invocations, sent by Lambda
    ]
  }

  statement {
    sid       = "ReadTheSigningKey"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.module_key.arn]
  }

  dynamic "statement" {
    for_each = length(var.extra_secret_arns) > 0 ? [var.extra_secret_arns] : []
    content {
      sid       = "ReadReferencedSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  statement {
    sid = "UseTheArchiveUnderItsPrefix"
    actions = [
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = ["${aws_s3_bucket.blobs.arn}/${local.blobs_key_prefix}*"]
  }

  statement {
    # Listing serves the prefix delete (a function's objects) and the /health check.
    sid       = "ListTheArchivePrefixOnly"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.blobs.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.blobs_key_prefix}*"]
    }
  }

  statement {
    sid       = "UseTheModuleKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [local.kms_key_arn]
  }

  dynamic "statement" {
    for_each = length(local.invocable_function_arns) > 0 ? [local.invocable_function_arns] : []
    content {
      sid       = "InvokeConfiguredFunctionsOnly"
      actions   = ["lambda:GetFunctionConfiguration", "lambda:InvokeFunction"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = var.allow_function_listing ? [1] : []
    content {
      sid       = "ListFunctionsTakesNoResource"
      actions   = ["lambda:ListFunctions"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.tracing_mode == "Active" ? [1] : []
    content {
      sid       = "WriteTracesTakesNoResource"
      actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "${var.name}-lambda"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}
