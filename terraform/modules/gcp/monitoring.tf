# Monitoring: log-based metrics read from fnproxy's structured metrics lines, and alert policies
# mirroring the AWS module's alarms (errors, throttles, dead letters, API 5xx).
#
# Each observation of fnproxy's metrics port is one log line on GCP (core/metrics/cloud_logging.py:
# jsonPayload.metric and its labels), cheaper per invocation than writing to the Monitoring API
# (docs/observability.md). The metrics are logging.googleapis.com/user/<name_prefix>/<name>, on
# the cloud_run_revision resource of the function (or service) that wrote the line.

locals {
  # The Cloud Run services whose lines count: both functions, and the gRPC service when enabled.
  monitored_services = concat(
    [local.api_function_name, local.worker_function_name],
    var.cloud_run_enabled ? [local.grpc_service_name] : [],
  )
  quoted_services = formatlist("\"%s\"", local.monitored_services)
  # The same resources in the Logging query language and in a Monitoring filter.
  fnproxy_logs     = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=(${join(" OR ", local.quoted_services)})"
  fnproxy_services = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=one_of(${join(", ", local.quoted_services)})"

  target_labels = {
    function = "the function key (provider:name)"
    provider = "the provider (aws_lambda, gcp_functions, http, local, openwhisk)"
  }

  # The port's names (core/metrics/base.py); `errors` counts the failed outcomes among
  # `invocations`, `duration` reads their duration_ms, `circuit_state` counts state changes.
  log_metrics = {
    invocations = {
      description  = "Invocation outcomes, counted once each (as /v1/stats counts them)."
      filter       = "jsonPayload.metric=\"invocations\""
      labels       = merge(local.target_labels, { status = "the outcome: succeeded, failed, timed_out, ..." })
      distribution = false
    }
    errors = {
      description  = "Invocation outcomes that did not succeed."
      filter       = "jsonPayload.metric=\"invocations\" AND jsonPayload.success=false"
      labels       = local.target_labels
      distribution = false
    }
    duration = {
      description  = "Invocation duration, milliseconds."
      filter       = "jsonPayload.metric=\"invocations\""
      labels       = local.target_labels
      distribution = true
    }
    retries = {
      description  = "Attempts retried after a transient failure of the target."
      filter       = "jsonPayload.metric=\"retries\""
      labels       = local.target_labels
      distribution = false
    }
    circuit_state = {
      description  = "Circuit breaker changes of state, by the state entered."
      filter       = "jsonPayload.metric=\"circuit_state\""
      labels       = { target = "the function key", state = "closed, half_open or open" }
      distribution = false
    }
    store_errors = {
      description  = "Failed attempts of the store writes that record an outcome."
      filter       = "jsonPayload.metric=\"store_errors\""
      labels       = { operation = "the write (save execution, count in stats, ...)" }
      distribution = false
    }
  }

  # Upper bounds in ms, as the Prometheus histogram's (core/metrics/prometheus.py).
  duration_bounds_ms = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000]
}

resource "google_logging_metric" "this" {
  for_each = local.log_metrics

  project     = var.project_id
  name        = "${var.name_prefix}/${each.key}"
  description = "fnproxy ${var.name_prefix}: ${each.value.description}"
  filter      = "${local.fnproxy_logs} AND ${each.value.filter}"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = each.value.distribution ? "DISTRIBUTION" : "INT64"
    unit         = each.value.distribution ? "ms" : "1"
    display_name = "fnproxy ${each.key}"

    dynamic "labels" {
      for_each = each.value.labels
      content {
        key         = labels.key
        value_type  = "STRING"
        description = labels.value
      }
    }
  }

  label_extractors = { for label in keys(each.value.labels) : label => "EXTRACT(jsonPayload.${label})" }
  value_extractor  = each.value.distribution ? "EXTRACT(jsonPayload.duration_ms)" : null

  dynamic "bucket_options" {
    for_each = each.value.distribution ? [1] : []
    content {
      explicit_buckets {
        bounds = local.duration_bounds_ms
      }
    }
  }

  depends_on = [google_project_service.enabled]
}

locals {
  alert_window = "${var.alert_period_s}s"

  # Every policy: "<name_prefix> <key>"; each sums its metric over one period (the
  # dead-letter backlog takes its maximum) and fires at or above its threshold.
  alert_policies = {
    "errors" = {
      description = "fnproxy itself failed: an unexpected error answered 500, or a push the worker could not handle (Error Reporting has each one's stack trace)."
      filter      = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.errors_logged.name}\" AND resource.type=\"cloud_run_revision\""
      aligner     = "ALIGN_SUM"
      threshold   = var.alert_errors_threshold
    }
    "throttles" = {
      description = "requests were refused 429 for want of an instance (max instances reached)."
      filter      = "metric.type=\"run.googleapis.com/request_count\" AND ${local.fnproxy_services} AND metric.labels.response_code=\"429\""
      aligner     = "ALIGN_SUM"
      threshold   = 1
    }
    "async-dead-letters" = {
      description = "work-queue messages are in the dead-letter subscription ${google_pubsub_subscription.async_dead_letter.name} (malformed, or delivered ${var.async_max_delivery_attempts} times); see docs/queue-messages.md."
      filter      = "metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.async_dead_letter.name}\""
      aligner     = "ALIGN_MAX"
      threshold   = 1
    }
    "api-5xx" = {
      description = "the API answered 5xx (unexpected errors, timeouts, a failing backend)."
      filter      = "metric.type=\"run.googleapis.com/request_count\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.api_function_name}\" AND metric.labels.response_code_class=\"5xx\""
      aligner     = "ALIGN_SUM"
      threshold   = var.alert_api_5xx_threshold
    }
  }
}

# fnproxy's own errors: any line at ERROR or above from its services (the Lambda Errors metric's
# counterpart: the AWS function raises where these are logged).
resource "google_logging_metric" "errors_logged" {
  project     = var.project_id
  name        = "${var.name_prefix}/errors_logged"
  description = "fnproxy ${var.name_prefix}: log lines at ERROR or above (unexpected errors, failed pushes, unrecorded outcomes)."
  filter      = "${local.fnproxy_logs} AND severity>=ERROR"

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "fnproxy errors logged"
  }

  depends_on = [google_project_service.enabled]
}

resource "google_monitoring_alert_policy" "this" {
  for_each = local.alert_policies

  project               = var.project_id
  display_name          = "${var.name_prefix} ${each.key}"
  combiner              = "OR"
  notification_channels = var.alert_notification_channels
  user_labels           = local.labels

  documentation {
    content   = "fnproxy ${var.name_prefix}: ${each.value.description}"
    mime_type = "text/markdown"
  }

  conditions {
    display_name = "${var.name_prefix} ${each.key}"

    condition_threshold {
      filter          = each.value.filter
      comparison      = "COMPARISON_GE"
      threshold_value = each.value.threshold
      duration        = "0s"

      aggregations {
        alignment_period     = local.alert_window
        per_series_aligner   = each.value.aligner
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
