output "api_url" {
  description = "Base URL of the HTTP API ($default stage), e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/ (curl \"$api_url/health\")."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "function_url" {
  description = "URL of the function URL, e.g. https://abc123.lambda-url.eu-west-1.on.aws/, for sync calls longer than API Gateway's 30 s (up to lambda_timeout_s); null when function_url_enabled is false."
  value       = one(aws_lambda_function_url.this[*].function_url)
}

output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "function_name" {
  description = "Name of the Lambda function (API and async worker)."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.lambda.arn
}

output "table_name" {
  description = "Name of the DynamoDB table (FNPROXY_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB table."
  value       = aws_dynamodb_table.this.arn
}

output "events_topic_arn" {
  description = "ARN of the SNS topic receiving one CloudEvent per invocation outcome (EVENTS_TOPIC_ARN)."
  value       = aws_sns_topic.events.arn
}

output "async_queue_url" {
  description = "URL of the SQS work queue (ASYNC_QUEUE_URL); other systems may send invocation requests to it."
  value       = aws_sqs_queue.async.url
}

output "async_queue_arn" {
  description = "ARN of the SQS work queue."
  value       = aws_sqs_queue.async.arn
}

output "dlq_url" {
  description = "URL of the work queue's dead-letter queue (ASYNC_DLQ_URL)."
  value       = aws_sqs_queue.async_dlq.url
}

output "dlq_arn" {
  description = "ARN of the work queue's dead-letter queue."
  value       = aws_sqs_queue.async_dlq.arn
}

output "lambda_failures_queue_url" {
  description = "URL of the function's own dead-letter queue (failed asynchronous invocations)."
  value       = aws_sqs_queue.lambda_failures.url
}

output "async_max_receive_count" {
  description = "maxReceiveCount of the work queue's redrive policy, also the function's ASYNC_MAX_RECEIVE_COUNT."
  value       = var.async_max_receive_count
}

output "secret_arn" {
  description = "ARN of the Secrets Manager secret holding MODULE_SECRET_KEY (the function gets it as MODULE_SECRET_KEY_SECRET_ARN); put its value with `aws secretsmanager put-secret-value`."
  value       = aws_secretsmanager_secret.module_key.arn
}

output "secret_name" {
  description = "Name of the signing-key secret."
  value       = aws_secretsmanager_secret.module_key.name
}

output "blobs_bucket" {
  description = "Name of the archive bucket (BLOBS_BUCKET): payloads, results and logs kept out of the records, under blobs_prefix."
  value       = aws_s3_bucket.blobs.bucket
}

output "kms_key_arn" {
  description = "ARN of the KMS key encrypting the module's resources (created by the module unless var.kms_key_arn was given)."
  value       = local.kms_key_arn
}

output "lambda_log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "api_log_group_name" {
  description = "CloudWatch log group of the API's access logs."
  value       = aws_cloudwatch_log_group.api.name
}

output "alarm_topic_arn" {
  description = "ARN of the SNS topic every alarm notifies: alarm_topic_arn, or the module's <name>-alarms topic (subscribe e.g. an e-mail address to it)."
  value       = local.alarm_actions[0]
}
