# Events: one SNS topic receives a CloudEvent per invocation outcome (EVENTS_TOPIC_ARN), with
# message attributes to filter subscriptions on.
#
# Async work: the SQS work queue (ASYNC_QUEUE_URL) feeds the function through an event source
# mapping with partial batch responses; a message delivered var.async_max_receive_count times
# moves to the dead-letter queue (ASYNC_DLQ_URL), where the worker also copies malformed
# messages itself (docs/queue-messages.md).
#
# Everything is encrypted with the module's KMS key.

resource "aws_sns_topic" "events" {
  name              = "${var.name}-events"
  kms_master_key_id = local.kms_key_arn
  tags              = var.tags
}

resource "aws_sqs_queue" "async_dlq" {
  name                              = "${var.name}-async-dlq"
  message_retention_seconds         = var.dlq_message_retention_s
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = var.tags
}

resource "aws_sqs_queue" "async" {
  name                              = "${var.name}-async"
  visibility_timeout_seconds        = local.async_visibility_timeout_s
  message_retention_seconds         = var.async_message_retention_s
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.async_dlq.arn
    maxReceiveCount     = var.async_max_receive_count # = ASYNC_MAX_RECEIVE_COUNT (lambda.tf)
  })

  tags = var.tags
}

# Only the work queue may use the dead-letter queue as its DLQ.
resource "aws_sqs_queue_redrive_allow_policy" "async_dlq" {
  queue_url = aws_sqs_queue.async_dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.async.arn]
  })
}

# The function's own dead-letter queue for asynchronous invocations that failed (see
# dead_letter_config in lambda.tf); it holds Lambda events, not work-queue messages.
resource "aws_sqs_queue" "lambda_failures" {
  name                              = "${var.name}-lambda-failures"
  message_retention_seconds         = var.dlq_message_retention_s
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 3600
  tags                              = var.tags
}

resource "aws_lambda_event_source_mapping" "async" {
  event_source_arn                   = aws_sqs_queue.async.arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.async_batch_size
  maximum_batching_window_in_seconds = var.async_batching_window_s
  function_response_types            = ["ReportBatchItemFailures"] # the worker answers batchItemFailures

  dynamic "scaling_config" {
    for_each = var.async_max_concurrency == null ? [] : [var.async_max_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  # The role must be able to read the queue before the mapping is created.
  depends_on = [aws_iam_role_policy.lambda]
}
