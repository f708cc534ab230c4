output "api_url" {
  description = "HTTPS URL of the fnproxy API (the api function's Cloud Run URL): curl $api_url/health."
  value       = google_cloudfunctions2_function.api.service_config[0].uri
}

output "grpc_url" {
  description = "HTTPS URL of the Cloud Run service serving fnproxy's gRPC API (cloud_run_enabled; null otherwise): grpcurl <its host>:443 list."
  value       = one(google_cloud_run_v2_service.grpc[*].uri)
}

output "api_function_name" {
  description = "Name of the API Cloud Function (entry point http)."
  value       = google_cloudfunctions2_function.api.name
}

output "worker_function_name" {
  description = "Name of the async worker Cloud Function (entry point worker)."
  value       = google_cloudfunctions2_function.worker.name
}

output "worker_trigger" {
  description = "Eventarc trigger of the worker (projects/P/locations/L/triggers/T); its transport.pubsub.subscription is the subscription carrying the dead-letter policy."
  value       = local.worker_trigger
}

output "worker_dead_letter_command" {
  description = "Shell commands that set the worker subscription's dead-letter policy, as terraform_data.worker_dead_letter does with var.configure_worker_dead_letter: run them yourself when that is false (or gcloud was missing at apply time)."
  value = join("\n", [
    "export PROJECT='${var.project_id}' TRIGGER='${local.worker_trigger}' PUBSUB_AGENT='${local.pubsub_service_agent}'",
    "export DEAD_LETTER_TOPIC='${google_pubsub_topic.async_dead_letter.id}' MAX_ATTEMPTS='${var.async_max_delivery_attempts}'",
    trimspace(local.worker_dead_letter_script),
  ])
}

output "events_topic" {
  description = "Pub/Sub topic receiving one CloudEvent per invocation outcome (EVENTS_TOPIC), as projects/P/topics/T."
  value       = google_pubsub_topic.events.id
}

output "async_topic" {
  description = "Pub/Sub topic feeding the worker (ASYNC_TOPIC); other systems publish invocation requests here."
  value       = google_pubsub_topic.async.id
}

output "async_dead_letter_topic" {
  description = "Dead-letter topic of the async topic (ASYNC_DEAD_LETTER_TOPIC)."
  value       = google_pubsub_topic.async_dead_letter.id
}

output "async_dead_letter_subscription" {
  description = "Pull subscription keeping the dead letters: gcloud pubsub subscriptions pull <it> --auto-ack."
  value       = google_pubsub_subscription.async_dead_letter.id
}

output "firestore_database" {
  description = "Firestore database id (FIRESTORE_DATABASE)."
  value       = local.firestore_database
}

output "firestore_collection_prefix" {
  description = "Prefix of fnproxy's Firestore collections (FIRESTORE_COLLECTION_PREFIX)."
  value       = var.firestore_collection_prefix
}

output "secret_id" {
  description = "Secret Manager secret holding MODULE_SECRET_KEY (projects/P/secrets/S, MODULE_SECRET_KEY_SECRET): add its first version with gcloud secrets versions add."
  value       = google_secret_manager_secret.module_key.id
}

output "secret_short_id" {
  description = "The signing-key secret's short id, for gcloud secrets versions add/list/disable."
  value       = google_secret_manager_secret.module_key.secret_id
}

output "api_service_account" {
  description = "Email of the API function's service account."
  value       = google_service_account.api.email
}

output "worker_service_account" {
  description = "Email of the worker function's service account."
  value       = google_service_account.worker.email
}

output "build_service_account" {
  description = "Service account Cloud Build builds both functions as (projects/P/serviceAccounts/EMAIL): gcloud functions deploy --build-service-account takes it."
  value       = local.build_service_account
}

output "trigger_service_account" {
  description = "Email of the service account Eventarc pushes to the worker with."
  value       = google_service_account.trigger.email
}

output "source_bucket" {
  description = "Bucket holding the functions' source zips."
  value       = google_storage_bucket.source.name
}

output "source_object" {
  description = "Object name of the deployed source zip (carries its MD5)."
  value       = google_storage_bucket_object.source.name
}

output "blobs_bucket" {
  description = "Name of the archive bucket (BLOBS_BUCKET): payloads, results and logs kept out of the records, under blobs_prefix."
  value       = google_storage_bucket.blobs.name
}
