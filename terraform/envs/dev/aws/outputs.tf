output "aws_api_url" {
  description = "Base URL of fnproxy's HTTP API on AWS (curl \"$(terraform output -raw aws_api_url)health\")."
  value       = module.aws.api_url
}

output "aws_function_url" {
  description = "fnproxy's Lambda function URL, for sync calls longer than API Gateway's 30 s (null when aws_function_url_enabled is false)."
  value       = module.aws.function_url
}

output "aws_function_name" {
  description = "Name of the Lambda function."
  value       = module.aws.function_name
}

output "aws_table_name" {
  description = "Name of the DynamoDB table."
  value       = module.aws.table_name
}

output "aws_events_topic_arn" {
  description = "ARN of the SNS events topic."
  value       = module.aws.events_topic_arn
}

output "aws_async_queue_url" {
  description = "URL of the SQS work queue."
  value       = module.aws.async_queue_url
}

output "aws_dlq_url" {
  description = "URL of the work queue's dead-letter queue."
  value       = module.aws.dlq_url
}

output "aws_secret_arn" {
  description = "ARN of the signing-key secret: put its value with `aws secretsmanager put-secret-value --secret-id <arn> --secret-string ...`."
  value       = module.aws.secret_arn
}

output "aws_lambda_log_group_name" {
  description = "Log group of the Lambda function."
  value       = module.aws.lambda_log_group_name
}

output "aws_api_log_group_name" {
  description = "Log group of the API access logs."
  value       = module.aws.api_log_group_name
}

output "aws_alarm_topic_arn" {
  description = "SNS topic every alarm notifies: aws sns subscribe --topic-arn <it> --protocol email --notification-endpoint you@example.com."
  value       = module.aws.alarm_topic_arn
}

output "aws_blobs_bucket" {
  description = "The archive bucket: payloads, results and logs above 64 KiB (or all, with aws_archive_all_parts), under the fnproxy/ prefix."
  value       = module.aws.blobs_bucket
}
