# The AWS root of the prod environment: module "aws" (terraform/modules/aws) and
# the aws provider only, so planning it needs no GCP credentials (the GCP root is
# terraform/envs/prod/gcp). Values fixed for prod are set in the module call below; the
# ones an operator changes are variables (see terraform.tfvars.example).

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = "fnproxy"
      Environment = "prod"
      ManagedBy   = "terraform"
    }
  }
}

module "aws" {
  source = "../../../modules/aws"

  name            = var.aws_name
  lambda_zip_path = coalesce(var.aws_lambda_zip_path, "${path.root}/../../../../build/aws/fnproxy-lambda.zip")

  lambda_memory_mb            = 1024
  lambda_timeout_s            = 900 # long sync calls on the function URL (API Gateway: 30 s)
  lambda_reserved_concurrency = var.aws_lambda_reserved_concurrency
  tracing_mode                = "Active"
  log_level                   = var.aws_log_level
  function_timeout_s          = 25

  function_url_enabled = var.aws_function_url_enabled

  api_throttling_burst_limit = 500
  api_throttling_rate_limit  = 200

  async_max_receive_count = 3
  async_batch_size        = 10

  invocable_function_arns = var.aws_invocable_function_arns
  allow_function_listing  = var.aws_allow_function_listing
  extra_environment       = var.aws_extra_environment
  extra_secret_arns       = var.aws_extra_secret_arns

  kms_key_arn                 = var.aws_kms_key_arn
  kms_deletion_window_days    = var.aws_kms_deletion_window_days
  table_deletion_protection   = var.aws_table_deletion_protection
  secret_recovery_window_days = var.aws_secret_recovery_window_days
  log_retention_days          = 365
  alarm_topic_arn             = var.aws_alarm_topic_arn

  archive_retention_days = var.aws_archive_retention_days
  archive_all_parts      = var.aws_archive_all_parts
  blobs_force_destroy    = var.aws_blobs_force_destroy
}
