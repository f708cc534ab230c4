output "gcp_api_url" {
  description = "URL of fnproxy's API on GCP (curl \"$(terraform output -raw gcp_api_url)/health\", with an ID token unless gcp_public_api)."
  value       = module.gcp.api_url
}

output "gcp_grpc_url" {
  description = "URL of the Cloud Run service serving fnproxy's gRPC API (gcp_cloud_run_enabled; null otherwise): grpcurl <its host>:443 list."
  value       = module.gcp.grpc_url
}

output "gcp_api_function_name" {
  description = "Name of the API Cloud Function."
  value       = module.gcp.api_function_name
}

output "gcp_worker_function_name" {
  description = "Name of the async worker Cloud Function."
  value       = module.gcp.worker_function_name
}

output "gcp_events_topic" {
  description = "Pub/Sub topic of the outcome CloudEvents (EVENTS_TOPIC)."
  value       = module.gcp.events_topic
}

output "gcp_async_topic" {
  description = "Pub/Sub topic feeding the worker (ASYNC_TOPIC): publish invocation requests here."
  value       = module.gcp.async_topic
}

output "gcp_async_dead_letter_topic" {
  description = "Dead-letter topic of the async work (ASYNC_DEAD_LETTER_TOPIC)."
  value       = module.gcp.async_dead_letter_topic
}

output "gcp_async_dead_letter_subscription" {
  description = "Subscription keeping the dead letters (gcloud pubsub subscriptions pull ... --auto-ack)."
  value       = module.gcp.async_dead_letter_subscription
}

output "gcp_firestore_database" {
  description = "Firestore database of fnproxy's collections (FIRESTORE_DATABASE)."
  value       = module.gcp.firestore_database
}

output "gcp_secret_id" {
  description = "Signing-key secret (MODULE_SECRET_KEY_SECRET): gcloud secrets versions add <it> --data-file=- adds (or rotates) the key."
  value       = module.gcp.secret_id
}

output "gcp_api_service_account" {
  description = "Service account of the API function."
  value       = module.gcp.api_service_account
}

output "gcp_worker_service_account" {
  description = "Service account of the worker function."
  value       = module.gcp.worker_service_account
}

output "gcp_build_service_account" {
  description = "Service account that builds the functions (projects/P/serviceAccounts/EMAIL)."
  value       = module.gcp.build_service_account
}

output "gcp_worker_dead_letter_command" {
  description = "The gcloud commands that set the worker subscription's dead-letter policy (run them when gcp_configure_worker_dead_letter is false)."
  value       = module.gcp.worker_dead_letter_command
}

output "gcp_blobs_bucket" {
  description = "The archive bucket: payloads, results and logs above 64 KiB (or all, with gcp_archive_all_parts), under the fnproxy/ prefix."
  value       = module.gcp.blobs_bucket
}
