# Inputs of the dev AWS root; an operator sets them in terraform.tfvars (see terraform.tfvars.example).

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
