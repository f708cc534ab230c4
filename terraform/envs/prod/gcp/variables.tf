# The GCP root's variables: what an operator sets (terraform.tfvars.example). Cloud Build's
# Terraform path sets the ones its substitutions name with -var (cloudbuild.yaml's header).

variable "gcp_project_id" {
  type        = string
  nullable    = false
  description = "GCP project to deploy to."
}

variable "gcp_region" {
  type        = string
  description = "Region of the functions, the source bucket and the worker's trigger; also the default region of gcp_functions targets."
  default     = "us-central1"
}

variable "gcp_name_prefix" {
  type        = string
  description = "Prefix of the GCP resource names (functions <prefix>-api / -worker, topics, service accounts, secret)."
  default     = "fnproxy-prod"
}

variable "gcp_source_zip_path" {
  type        = string
  description = "Cloud Functions source zip of `make build`; null means build/gcp/fnproxy-gcp-source.zip at the repository root."
  default     = null
}

variable "gcp_firestore_database" {
  type        = string
  description = "Firestore database of this environment: a named database (so dev and prod may share a project) or \"(default)\"."
  default     = "fnproxy-prod"
}

variable "gcp_create_firestore_database" {
  type        = bool
  description = "Create gcp_firestore_database; false uses an existing one (its indexes and TTL policies are still managed)."
  default     = true
}

variable "gcp_firestore_location" {
  type        = string
  description = "Location of a created Firestore database (a region, or nam5 / eur3); null means gcp_region."
  default     = null
}

variable "gcp_firestore_collection_prefix" {
  type        = string
  description = "FIRESTORE_COLLECTION_PREFIX: fnproxy's collections are <prefix>_<kind>."
  default     = "fnproxy"
}

variable "gcp_public_api" {
  type        = bool
  description = "Let anyone reach the API (allUsers run.invoker; fnproxy still authenticates callers with its JWTs). false: only callers with roles/run.invoker. Organisations enforcing domain-restricted sharing refuse true."
  default     = false
}

variable "gcp_invocable_functions" {
  type = list(object({
    name    = string
    region  = optional(string)
    project = optional(string)
    service = optional(string)
  }))
  description = "The only Cloud Functions (2nd gen) fnproxy may invoke: name, and region / project when not gcp_region / gcp_project_id. Empty: no Cloud Functions target."
  default     = []
}

variable "gcp_allow_list_functions" {
  type        = bool
  description = "Let fnproxy list the project's Cloud Functions (project-level roles/cloudfunctions.viewer, which also shows every function's environment variables); false: only describe gcp_invocable_functions, and listing answers 403."
  default     = false
}

variable "gcp_log_level" {
  type        = string
  description = "LOG_LEVEL of both functions."
  default     = "INFO"
}

variable "gcp_function_timeout" {
  type        = number
  description = "FUNCTION_TIMEOUT: default timeout of one invocation, seconds."
  default     = 60
}

variable "gcp_history_retention_days" {
  type        = number
  description = "HISTORY_RETENTION_DAYS: days an execution record is kept."
  default     = 30
}

variable "gcp_async_max_delivery_attempts" {
  type        = number
  description = "Deliveries of one async message before it is dead-lettered (5-100): the worker subscription's maxDeliveryAttempts and ASYNC_MAX_RECEIVE_COUNT."
  default     = 10
}

variable "gcp_api_memory" {
  type        = string
  description = "Memory of one API instance (256Mi, 512Mi, 1Gi, ...)."
  default     = "1Gi"
}

variable "gcp_api_timeout_seconds" {
  type        = number
  description = "Request timeout of the API function, seconds (above gcp_function_timeout)."
  default     = 300
}

variable "gcp_api_min_instances" {
  type        = number
  description = "API instances kept warm (0 scales to zero)."
  default     = 1
}

variable "gcp_api_max_instances" {
  type        = number
  description = "Most API instances at once."
  default     = 50
}

variable "gcp_worker_timeout_seconds" {
  type        = number
  description = "Timeout of one worker delivery, seconds (at most 540)."
  default     = 540
}

variable "gcp_worker_max_instances" {
  type        = number
  description = "Most worker instances at once."
  default     = 20
}

variable "gcp_deletion_protection" {
  type        = bool
  description = "Firestore delete protection (the database is abandoned, not deleted, by a destroy) and a source bucket that is not force-destroyed; false before tearing the environment down."
  default     = true
}

variable "gcp_extra_environment" {
  type        = map(string)
  description = "Further settings of both functions (core/config.py names), e.g. OPENWHISK_API_HOST or OPENWHISK_AUTH_KEY_SECRET (a secret the functions' service accounts must be granted)."
  default     = {}
}

variable "gcp_configure_worker_dead_letter" {
  type        = bool
  description = "Set the worker subscription's dead-letter policy with gcloud during apply; false: run the output gcp_worker_dead_letter_command yourself."
  default     = true
}

variable "gcp_build_service_account" {
  type        = string
  description = "Service account that builds the functions (projects/P/serviceAccounts/EMAIL), with the roles a build needs; null: fnproxy's own <prefix>-build, created with them."
  default     = null
}

variable "gcp_pubsub_kms_key_name" {
  type        = string
  description = "Cloud KMS key for the topics (CMEK); null: Google-managed encryption."
  default     = null
}

variable "gcp_secret_kms_key_name" {
  type        = string
  description = "Cloud KMS key (global) for the signing-key secret (CMEK); null: Google-managed encryption."
  default     = null
}

variable "gcp_cloud_run_enabled" {
  type        = bool
  description = "Also run the container image as the Cloud Run service <prefix>-grpc (fnproxy's gRPC API, HTTP/2 end to end); needs gcp_cloud_run_image."
  default     = false
}

variable "gcp_cloud_run_image" {
  type        = string
  description = "Image of that service (REGION-docker.pkg.dev/PROJECT/REPOSITORY/fnproxy:TAG, from the Dockerfile); Cloud Build's _CLOUD_RUN=true pushes one and sets it."
  default     = null
}

variable "gcp_archive_retention_days" {
  type        = number
  description = "Days the archive bucket keeps payloads, results and logs (its lifecycle rule); longer than gcp_history_retention_days."
  default     = 90
}

variable "gcp_archive_all_parts" {
  type        = bool
  description = "Archive every payload, result and log (kept gcp_archive_retention_days), not only those above 64 KiB; one object write per part."
  default     = false
}

variable "gcp_alert_notification_channels" {
  type        = list(string)
  description = "Notification channels (projects/P/notificationChannels/N) the alert policies notify; empty: incidents show in Cloud Monitoring only."
  default     = []
}
