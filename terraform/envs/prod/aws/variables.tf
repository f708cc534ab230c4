# Inputs of the prod AWS root; an operator sets them in terraform.tfvars (see terraform.tfvars.example).

variable "aws_region" {
  type        = string
  description = "AWS region of every resource (the Lambda runtime passes it to fnproxy as AWS_REGION)."
  default     = "us-east-1"
}

variable "aws_name" {
  type        = string
  description = "Base name of the AWS resources (function, table, topic, queues, secret, log groups)."
  default     = "fnproxy-prod"
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
  description = "Reserved concurrency of the function (caps its load on the table and the functions it invokes); -1: unreserved, what a new account allows (its quota of 10 is all unreserved). Reserve after a Service Quotas increase (docs/deploy.md section 2)."
  default     = -1
}

variable "aws_allow_function_listing" {
  type        = bool
  description = "Let fnproxy list every Lambda function of the account and region (lambda:ListFunctions) for GET /v1/providers/aws_lambda/functions; false: that route answers 403."
  default     = false
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
  description = "Existing SNS topic the alarms notify; null: the module creates <aws_name>-alarms (output aws_alarm_topic_arn)."
  default     = null
}

variable "aws_archive_retention_days" {
  type        = number
  description = "Days the archive bucket keeps payloads, results and logs (its lifecycle rule); longer than the records' 30 days."
  default     = 90
}

variable "aws_archive_all_parts" {
  type        = bool
  description = "Archive every payload, result and log (kept aws_archive_retention_days), not only those above 64 KiB; one S3 PUT per part."
  default     = false
}

# --- teardown: protective in prod --------------------------------------------------------------

variable "aws_table_deletion_protection" {
  type        = bool
  description = "DynamoDB deletion protection on the table: a destroy fails until it is false and applied."
  default     = true
}

variable "aws_secret_recovery_window_days" {
  type        = number
  description = "Days Secrets Manager keeps the signing-key secret after a destroy (7-30, or 0: deleted at once)."
  default     = 30
}

variable "aws_kms_deletion_window_days" {
  type        = number
  description = "Days (7-30) before the module's KMS key is deleted after a destroy (unusable meanwhile; aws kms cancel-key-deletion brings it back)."
  default     = 30
}

variable "aws_blobs_force_destroy" {
  type        = bool
  description = "Let a destroy delete the archive bucket with its objects; false: a destroy fails while it holds objects."
  default     = false
}
