# fnproxy on GCP, prod environment: module "gcp" (terraform/modules/gcp) alone, so deploying it
# needs Google credentials only. Values fixed for prod are set in the module call below; the ones
# an operator changes are variables (variables.tf, terraform.tfvars.example).
#
# Before the first apply: the project prerequisites of docs/deploy.md section 5, `make build`
# (the source zip), and gcloud authenticated where terraform runs (it sets the worker
# subscription's dead-letter policy). After it: add the signing key, `gcloud secrets versions
# add` (output gcp_secret_id).

provider "google" {
  project = var.gcp_project_id
  region  = var.gcp_region

  default_labels = {
    environment = "prod"
    managed-by  = "terraform"
  }
}

module "gcp" {
  source = "../../../modules/gcp"

  project_id      = var.gcp_project_id
  region          = var.gcp_region
  name_prefix     = var.gcp_name_prefix
  labels          = { environment = "prod" }
  source_zip_path = coalesce(var.gcp_source_zip_path, "${path.root}/../../../../build/gcp/fnproxy-gcp-source.zip")

  build_service_account = var.gcp_build_service_account

  # Sizing is variables (Cloud Build substitutions set them); prod's defaults: warm API instances
  # (no cold start on the first call), room to scale, longer sync calls.
  api_min_instances      = var.gcp_api_min_instances
  api_max_instances      = var.gcp_api_max_instances
  api_memory             = var.gcp_api_memory
  api_timeout_seconds    = var.gcp_api_timeout_seconds
  public_api             = var.gcp_public_api
  worker_min_instances   = 0
  worker_max_instances   = var.gcp_worker_max_instances
  worker_timeout_seconds = var.gcp_worker_timeout_seconds

  async_max_delivery_attempts  = var.gcp_async_max_delivery_attempts
  configure_worker_dead_letter = var.gcp_configure_worker_dead_letter
  dead_letter_retention        = "2678400s" # 31 days, Pub/Sub's maximum
  pubsub_kms_key_name          = var.gcp_pubsub_kms_key_name

  create_firestore_database   = var.gcp_create_firestore_database
  firestore_database          = var.gcp_firestore_database
  firestore_location          = var.gcp_firestore_location
  firestore_collection_prefix = var.gcp_firestore_collection_prefix
  deletion_protection         = var.gcp_deletion_protection

  secret_kms_key_name = var.gcp_secret_kms_key_name

  invocable_functions  = var.gcp_invocable_functions
  allow_list_functions = var.gcp_allow_list_functions

  cloud_run_enabled = var.gcp_cloud_run_enabled
  cloud_run_image   = var.gcp_cloud_run_image

  alert_notification_channels = var.gcp_alert_notification_channels

  log_level              = var.gcp_log_level
  function_timeout       = var.gcp_function_timeout
  history_retention_days = var.gcp_history_retention_days
  archive_retention_days = var.gcp_archive_retention_days
  archive_all_parts      = var.gcp_archive_all_parts
  extra_environment      = var.gcp_extra_environment
}
