# The AWS side of the dev environment: module "aws" (terraform/modules/aws), deployed when
# enable_aws is true. The GCP side is gcp.tf. Values fixed for dev are set in the module call
# below; the ones an operator changes are variables (see terraform.tfvars.example).

variable "enable_aws" {
  type        = bool
  description = "Deploy fnproxy to AWS in this environment."
  default     = true
}

variable "aws_region" {
  type        = string
  description = "AWS region of every resource (the Lambda runtime passes it to fnproxy as AWS_REGION)."
  default     = "us-east-1"
}

variable "aws_name" {
  type        = string
  description = "Base name of the AWS resources (function, table, topic, queues, secret, log groups)."
  default     = "fnproxy-dev"
}

variable "aws_lambda_zip_path" {
  type        = string
  description = "Lambda artifact of `make build`; null means build/aws/fnproxy-lambda.zip at the repository root."
  default     = null
}

variable "aws_invocable_function_arns" {
  type        = list(string)
  description = "Lambda functions fnproxy may invoke: function ARNs or name-prefix patterns (arn:aws:lambda:REGION:ACCOUNT:function:prefix-*). Empty: no Lambda target."
  default     = []
}

variable "aws_lambda_reserved_concurrency" {
  type        = number
  description = "Reserved concurrency of the function; -1: unreserved (a new account's concurrency quota of 10 leaves nothing to reserve)."
  default     = -1
}

variable "aws_function_url_enabled" {
  type        = bool
  description = "Give the function a Lambda function URL for sync calls longer than API Gateway's 30 s (output aws_function_url)."
  default     = true
}

variable "aws_log_level" {
  type        = string
  description = "LOG_LEVEL of the function."
  default     = "INFO"
}

variable "aws_extra_environment" {
  type        = map(string)
  description = "Further settings of the function (core/config.py names), e.g. OPENWHISK_API_HOST or OPENWHISK_AUTH_KEY_SECRET_ARN."
  default     = {}
}

variable "aws_extra_secret_arns" {
  type        = list(string)
  description = "Secrets referenced from aws_extra_environment (NAME_SECRET_ARN) that the function may read."
  default     = []
}

variable "aws_kms_key_arn" {
  type        = string
  description = "Existing KMS key for the AWS resources; null lets the module create one."
  default     = null
}

variable "aws_alarm_topic_arn" {
  type        = string
  description = "SNS topic notified by the alarms; null for none."
  default     = null
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project     = "fnproxy"
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}

module "aws" {
  # checkov:skip=CKV_AWS_338:dev keeps its logs 14 days on purpose; prod keeps them 365 days and is checked
  source = "../../modules/aws"
  count  = var.enable_aws ? 1 : 0

  name            = var.aws_name
  lambda_zip_path = coalesce(var.aws_lambda_zip_path, "${path.root}/../../../build/aws/fnproxy-lambda.zip")

  lambda_memory_mb            = 512
  lambda_timeout_s            = 900 # long sync calls on the function URL (API Gateway: 30 s)
  lambda_reserved_concurrency = var.aws_lambda_reserved_concurrency
  tracing_mode                = "Active"
  log_level                   = var.aws_log_level
  function_timeout_s          = 25

  function_url_enabled = var.aws_function_url_enabled

  api_throttling_burst_limit = 20
  api_throttling_rate_limit  = 10

  async_max_receive_count = 3
  async_batch_size        = 10

  invocable_function_arns = var.aws_invocable_function_arns
  extra_environment       = var.aws_extra_environment
  extra_secret_arns       = var.aws_extra_secret_arns

  kms_key_arn                 = var.aws_kms_key_arn
  kms_deletion_window_days    = 7
  table_deletion_protection   = false
  secret_recovery_window_days = 0
  log_retention_days          = 14
  alarm_topic_arn             = var.aws_alarm_topic_arn
}
