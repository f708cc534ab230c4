# Inputs of the dev GCP root; an operator sets them in terraform.tfvars (see terraform.tfvars.example).

variable "gcp_project_id" {
  type        = string
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
  default     = "fnproxy-dev"
}

variable "gcp_source_zip_path" {
  type        = string
  description = "Cloud Functions source zip of `make build`; null means build/gcp/fnproxy-gcp-source.zip at the repository root."
  default     = null
}

variable "gcp_firestore_database" {
  type        = string
  description = "Firestore database of this environment: a named database (so dev and prod may share a project) or \"(default)\"."
  default     = "fnproxy-dev"
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

variable "gcp_public_api" {
  type        = bool
  description = "Let anyone reach the API (allUsers run.invoker): fnproxy authenticates callers itself with its JWTs. false: only callers with run.invoker."
  default     = true
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
  description = "Let fnproxy list the project's Cloud Functions (project-level roles/cloudfunctions.viewer); false: only describe gcp_invocable_functions."
  default     = true
}

variable "gcp_log_level" {
  type        = string
  description = "LOG_LEVEL of both functions."
  default     = "INFO"
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
  description = "Cloud Build service account for the functions (projects/P/serviceAccounts/EMAIL); null: the project's default."
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
