# Log groups made before the function and the stage write to them, so that their retention and
# encryption are Terraform's (Lambda would otherwise create /aws/lambda/<name> itself, kept
# forever and unencrypted).

resource "aws_cloudwatch_log_group" "lambda" {
  name              = local.lambda_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "api" {
  name              = local.api_log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}
