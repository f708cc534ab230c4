# fnproxy on AWS: one Lambda function (handlers.aws_lambda.handler) serves the HTTP API and the
# async worker (SQS), with a DynamoDB table, an SNS events topic, an SQS work queue with its
# dead-letter queue, the signing-key secret, the archive bucket (blobs.tf), logs and alarms.
# See terraform/README.md.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # The module's key, or the caller's.
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn

  # Every key of fnproxy's objects starts with it (core/blobs/s3.py).
  blobs_key_prefix = "${var.blobs_prefix}/"

  lambda_log_group_name = "/aws/lambda/${var.name}"
  api_log_group_name    = "/aws/apigateway/${var.name}"

  # AWS guidance for an SQS event source: visibility timeout >= 6 x the function's timeout, so
  # a message is not delivered again while a delivery is still running it.
  async_visibility_timeout_s = 6 * var.lambda_timeout_s
}
