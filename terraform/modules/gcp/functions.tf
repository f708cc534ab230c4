# The two Cloud Functions (2nd gen) of handlers/gcp_function.py, built from the same source:
# `http` serves fnproxy's API, `worker` runs the async topic's messages.

locals {
  firestore_database = var.create_firestore_database ? google_firestore_database.this[0].name : var.firestore_database

  # The settings both functions read (core/config.py). The signing key is never here: fnproxy
  # reads it from Secret Manager through the MODULE_SECRET_KEY_SECRET reference (docs/secrets.md).
  # BLOBS_BACKEND is left to the platform column (gcs); BLOBS_RETENTION_DAYS is
  # archive_retention_days only with var.archive_all_parts (0: only large parts are archived).
  environment = {
    FNPROXY_PLATFORM            = "gcp"
    GCP_PROJECT_ID              = var.project_id
    GCP_REGION                  = var.region
    FIRESTORE_DATABASE          = local.firestore_database
    FIRESTORE_COLLECTION_PREFIX = var.firestore_collection_prefix
    EVENTS_TOPIC                = google_pubsub_topic.events.id
    ASYNC_TOPIC                 = google_pubsub_topic.async.id
    ASYNC_DEAD_LETTER_TOPIC     = google_pubsub_topic.async_dead_letter.id
    ASYNC_MAX_RECEIVE_COUNT     = tostring(var.async_max_delivery_attempts)
    MODULE_SECRET_KEY_SECRET    = google_secret_manager_secret.module_key.id
    SECRETS_CACHE_TTL_S         = tostring(var.secrets_cache_ttl_s)
    LOG_LEVEL                   = var.log_level
    FUNCTION_TIMEOUT            = tostring(var.function_timeout)
    MAX_BATCH_SIZE              = tostring(var.max_batch_size)
    MAX_RETRIES                 = tostring(var.max_retries)
    RETRY_DELAY                 = tostring(var.retry_delay)
    TOKEN_TTL_S                 = tostring(var.token_ttl_s)
    JWT_ISSUER                  = var.jwt_issuer
    JWT_AUDIENCE                = var.jwt_audience
    HISTORY_RETENTION_DAYS      = tostring(var.history_retention_days)
    EGRESS_ALLOW                = join(",", var.egress_allow)
    MAX_CONCURRENT_REQUESTS     = tostring(var.max_concurrent_requests)
    GCP_ID_TOKEN_AUDIENCES      = join(",", var.id_token_audiences)
    BLOBS_BUCKET                = google_storage_bucket.blobs.name
    BLOBS_PREFIX                = var.blobs_prefix
    BLOBS_RETENTION_DAYS        = var.archive_all_parts ? tostring(var.archive_retention_days) : "0"
  }

  function_environment = merge(var.extra_environment, local.environment)
  extra_overrides      = setintersection(keys(var.extra_environment), keys(local.environment))
}

resource "google_cloudfunctions2_function" "api" {
  # checkov:skip=CKV_GCP_124:The API is reached from the internet on purpose (callers authenticate with fnproxy's JWTs, and with IAM unless var.public_api); var.api_ingress = ALLOW_INTERNAL_AND_GCLB puts it behind a load balancer instead.
  project     = var.project_id
  location    = var.region
  name        = local.api_function_name
  description = "fnproxy API (handlers/gcp_function.py: http)"
  labels      = local.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "http"
    service_account = local.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.api.email
    ingress_settings                 = var.api_ingress
    available_memory                 = var.api_memory
    available_cpu                    = var.api_cpu
    min_instance_count               = var.api_min_instances
    max_instance_count               = var.api_max_instances
    max_instance_request_concurrency = var.api_concurrency
    timeout_seconds                  = var.api_timeout_seconds
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_environment
  }

  lifecycle {
    precondition {
      condition     = length(local.extra_overrides) == 0
      error_message = "extra_environment may not set what the module sets itself: ${join(", ", tolist(local.extra_overrides))}."
    }
  }

  # The build's IAM, and the IAM the functions need from their first request on.
  depends_on = [
    terraform_data.build_iam_propagation,
    google_project_iam_member.datastore_user,
    google_pubsub_topic_iam_member.publisher,
    google_secret_manager_secret_iam_member.accessor,
    google_secret_manager_secret_iam_member.viewer,
  ]
}

resource "google_cloudfunctions2_function" "worker" {
  project     = var.project_id
  location    = var.region
  name        = local.worker_function_name
  description = "fnproxy async worker (handlers/gcp_function.py: worker)"
  labels      = local.labels

  build_config {
    runtime         = var.runtime
    entry_point     = "worker"
    service_account = local.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.worker.email
    # Pub/Sub's pushes through Eventarc are internal traffic: nothing else may reach the worker.
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    available_memory                 = var.worker_memory
    available_cpu                    = var.worker_cpu
    min_instance_count               = var.worker_min_instances
    max_instance_count               = var.worker_max_instances
    max_instance_request_concurrency = var.worker_concurrency
    timeout_seconds                  = var.worker_timeout_seconds
    all_traffic_on_latest_revision   = true
    environment_variables            = local.function_environment
  }

  # Eventarc creates a push subscription on the async topic that delivers each message as a
  # google.cloud.pubsub.topic.v1.messagePublished CloudEvent; with retries on, a delivery that
  # fails (the worker raises: HTTP 500) is delivered again. Its dead-letter policy is set by
  # terraform_data.worker_dead_letter (pubsub.tf).
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.async.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  lifecycle {
    precondition {
      condition     = length(local.extra_overrides) == 0
      error_message = "extra_environment may not set what the module sets itself: ${join(", ", tolist(local.extra_overrides))}."
    }
  }

  # The build's IAM, and the IAM the functions need from their first request on.
  depends_on = [
    terraform_data.build_iam_propagation,
    google_project_iam_member.datastore_user,
    google_pubsub_topic_iam_member.publisher,
    google_secret_manager_secret_iam_member.accessor,
    google_secret_manager_secret_iam_member.viewer,
    google_service_account_iam_member.pubsub_token_creator,
  ]
}
