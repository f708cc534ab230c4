# Alarms: function errors and throttles, messages in either dead-letter queue, API 5xx. Each
# notifies the alarm topic on alarm and on recovery: var.alarm_topic_arn, or else the module's
# own <name>-alarms topic (output alarm_topic_arn; subscribe an address to it). One resource
# over a map: the alarms differ only in what they watch and when they fire.

# Encrypted with the module's key, whose policy lets CloudWatch use it for this module's alarms
# (kms.tf); without that CloudWatch cannot publish to an encrypted topic.
resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == null ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = var.tags
}

locals {
  alarm_actions = [var.alarm_topic_arn != null ? var.alarm_topic_arn : aws_sns_topic.alarms[0].arn]

  # Every alarm: "<name>-<key>"; a queue alarm fires on any visible message.
  alarms = {
    "lambda-errors" = {
      description = "the function raised (an error outside fnproxy's own error answers); see ${local.lambda_log_group_name}."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum"
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = var.alarm_lambda_errors_threshold
    }
    "lambda-throttles" = {
      description = "invocations were throttled (reserved concurrency or account limit reached)."
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum"
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = 1
    }
    "async-dlq-not-empty" = {
      description = "work-queue messages are in the dead-letter queue ${aws_sqs_queue.async_dlq.name} (malformed, or delivered ${var.async_max_receive_count} times); see docs/queue-messages.md."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.async_dlq.name }
      statistic   = "Maximum"
      comparison  = "GreaterThanThreshold"
      threshold   = 0
    }
    "lambda-failures-not-empty" = {
      description = "asynchronous invocations of the function failed after Lambda's retries and are in ${aws_sqs_queue.lambda_failures.name}."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.lambda_failures.name }
      statistic   = "Maximum"
      comparison  = "GreaterThanThreshold"
      threshold   = 0
    }
    "api-5xx" = {
      description = "the HTTP API answered 5xx (function errors, timeouts, throttles); see ${local.api_log_group_name}."
      namespace   = "AWS/ApiGateway"
      metric      = "5xx"
      dimensions  = { ApiId = aws_apigatewayv2_api.this.id, Stage = aws_apigatewayv2_stage.default.name }
      statistic   = "Sum"
      comparison  = "GreaterThanOrEqualToThreshold"
      threshold   = var.alarm_api_5xx_threshold
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "fnproxy ${var.name}: ${each.value.description}"
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = var.alarm_period_s
  evaluation_periods  = 1
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
